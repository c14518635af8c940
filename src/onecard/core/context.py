"""The context every service function receives: database, clock, settings, gateways.

Contract: a ``Context`` is cheap to pass and holds no per-request state; tests build one
with a ``FixedClock`` and a sandbox bank; the web app and CLI build one from settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from onecard.core.clock import Clock
from onecard.core.config import Settings, get_settings
from onecard.core.db import make_engine

if TYPE_CHECKING:
    from onecard.channels.bank import BankGateway


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
    bank: BankGateway | None = None
    # The lunch-rush path (``onecard.pay.batcher.PaymentBatcher``) when the web app runs
    # with batching on; ``None`` means one transaction per payment.
    payment_batcher: object | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, clock: Clock | None = None) -> Context:
        s = settings or get_settings()
        from onecard.channels.bank import SandboxBank

        return cls(
            db=Database(make_engine(s.database_url)),
            clock=clock or Clock(),
            settings=s,
            bank=SandboxBank(secret=s.secret_key.encode()),
        )

    def bank_gateway(self) -> BankGateway:
        if self.bank is None:
            from onecard.channels.bank import SandboxBank

            self.bank = SandboxBank(secret=self.settings.secret_key.encode())
        return self.bank
