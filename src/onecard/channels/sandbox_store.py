"""The store a sandbox keeps its state in (the bank's, the e-CNY acquirer's).

Contract: ``SandboxStore(url, schema=…, lock_key=…, meta=…, seed=…)`` opens its engine
on first use — ``"sqlite://"`` is a private in-memory store shared by every connection of
this process (tests, benches), another SQLite URL a file every process sees, PostgreSQL
a schema of its own (``schema``) on the city's server — creates the sandbox's tables
(``meta``) and calls ``seed`` once per open so the rows it needs exist. ``tx()`` is one
serialised write transaction: the in-process lock, ``BEGIN IMMEDIATE`` on SQLite (the
engine's), and on PostgreSQL the transaction-level advisory lock ``lock_key`` that every
process writing this sandbox takes. So the server, the CLI and the sandbox's own
command all see one outside system, and it outlives any one process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, MetaData, text
from sqlalchemy.pool import StaticPool

from onecard.core.db import is_postgres, make_engine


class SandboxStore:
    """The engine and the in-process lock all views of one sandbox store share."""

    def __init__(
        self,
        url: str,
        *,
        schema: str,
        lock_key: int,
        meta: MetaData,
        seed: Callable[[Connection], None],
        max_overflow: int = 2,
    ) -> None:
        self.url = url
        self.lock = threading.RLock()
        self._schema = schema
        self._lock_key = lock_key
        self._meta = meta
        self._seed = seed
        self._max_overflow = max_overflow
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._open()
        return self._engine

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.lock, self.engine().begin() as conn:
            self._serialise(conn)
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _serialise(self, conn: Connection) -> None:
        if is_postgres(conn.engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})

    def _open(self) -> Engine:
        url = self.url
        if url in ("sqlite://", "sqlite:///:memory:"):
            engine = make_engine("sqlite://", poolclass=StaticPool)
        elif url.startswith("sqlite"):
            engine = make_engine(url)
        else:
            engine = make_engine(url, pool_size=2, max_overflow=self._max_overflow)
        if is_postgres(engine):
            with engine.begin() as conn:
                self._serialise(conn)
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self._schema}"))
            engine = engine.execution_options(schema_translate_map={None: self._schema})
        with engine.begin() as conn:
            self._serialise(conn)
            self._meta.create_all(conn)
            self._seed(conn)
        return engine
