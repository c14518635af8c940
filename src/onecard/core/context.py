"""The context every service function receives: database, clock, settings, gateways.

Contract: a ``Context`` is cheap to pass and holds no per-request state. Outside systems
are injected, never built here: the edges (``cli_kit.context``, ``web.asgi``, the demo,
the tests) give it a bank (``channels.factory.bank_for``) — so every process of a city
talks to the same bank. Core knows no bank: ``ctx.bank`` is any object, and
``channels.bank.gateway(ctx)`` gives it its type and refuses to invent one.
``ctx.reports_db`` is where read-only reports read: the database of
``ONECARD_REPORTS_DATABASE_URL`` (typically a standby) when that is set, else ``ctx.db``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from onecard.core.clock import Clock
from onecard.core.config import Settings, get_settings
from onecard.core.db import make_engine


@dataclass
class Database:
    engine: Engine

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: commits on success, rolls back on any exception."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only unit of work (rolled back at the end, never commits)."""
        with self.engine.connect() as conn:
            yield conn
            conn.rollback()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"


@dataclass
class Context:
    db: Database
    clock: Clock = field(default_factory=Clock)
    settings: Settings = field(default_factory=get_settings)
    # The bank gateway (a ``channels.bank.BankGateway``), read through
    # ``channels.bank.gateway(ctx)``.
    bank: object | None = None
    # The e-CNY acquirer (a ``channels.ecny.EcnyGateway``), read through
    # ``channels.ecny.gateway(ctx)``, which builds the configured one when none was given.
    ecny: object | None = None
    # The lunch-rush path (``onecard.pay.batcher.PaymentBatcher``) when the web app runs
    # with batching on; ``None`` means one transaction per payment.
    payment_batcher: object | None = None
    # Read-only reports' database (a standby); built on first use from
    # ``settings.reports_database_url``.
    reports: Database | None = None

    @property
    def reports_db(self) -> Database:
        """Where read-only reports read: the reports database if one is configured."""
        if self.reports is None:
            url = self.settings.reports_database_url
            if not url or url == self.settings.database_url:
                return self.db
            self.reports = Database(make_engine(url))
        return self.reports

    def dispose(self) -> None:
        """Close every pooled connection this context opened."""
        self.db.engine.dispose()
        if self.reports is not None and self.reports is not self.db:
            self.reports.engine.dispose()

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        clock: Clock | None = None,
        bank: Callable[[Context], object] | None = None,
    ) -> Context:
        """A context on the configured database; ``bank`` builds its bank gateway
        (e.g. ``channels.factory.bank_for``) once the context exists."""
        s = settings or get_settings()
        ctx = cls(db=Database(make_engine(s.database_url)), clock=clock or Clock(), settings=s)
        if bank is not None:
            ctx.bank = bank(ctx)
        return ctx
