"""Database plumbing: one declarative ``Base``, engines for SQLite and PostgreSQL, schema.

Contract:
- ``make_engine(url)`` gives an engine with the right per-dialect behaviour: SQLite runs
  in WAL mode with foreign keys on, and every transaction starts ``BEGIN IMMEDIATE`` so
  writers serialise instead of failing half-way; PostgreSQL uses psycopg 3, pings a
  pooled connection before lending it (a connection to a server that died or was failed
  over is dropped and a new one made), and gives up connecting to a host after
  ``connect_timeout`` seconds (default 5) so a dead machine costs seconds, not minutes.
- ``normalise_url`` also takes libpq's multi-host form
  (``postgresql://u@h1:5432,h2:5432/db?target_session_attrs=read-write``): libpq tries
  the hosts in order and keeps the first that matches ``target_session_attrs``, which is
  how the server finds the primary again after a standby is promoted (docs/operations.md).
  ``libpq_params`` turns any PostgreSQL URL into libpq's connection string and password,
  for the PostgreSQL tools (``pg_dump``, ``pg_restore``, ``psql``).
- ``is_unavailable(exc)``: did this fail because the database could not do it *now*
  (unreachable, restarting, connection lost, pool exhausted, a transient conflict)? The
  web edge answers those 503 "retry", not 500.
- ``create_schema(engine)`` brings a database to the newest schema through Alembic.
- Service functions own their transaction (``with ctx.db.begin() as conn``); nothing else
  commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    MetaData,
    create_engine,
    event,
    exc,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# libpq's multi-host URI: postgresql://[auth@]host1[:port1],host2[:port2]…[/db][?query]
_MULTI_HOST = re.compile(
    r"^postgres(?:ql)?(?:\+psycopg)?://(?P<auth>[^@/?]*@)?(?P<hosts>[^/?@]*,[^/?@]*)"
    r"(?:/(?P<db>[^?]*))?(?:\?(?P<query>.*))?$"
)


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them.

    A multi-host URL in libpq's form (``h1:p1,h2:p2``), which SQLAlchemy cannot parse,
    becomes SQLAlchemy's spelling of the same thing (``?host=h1:p1&host=h2:p2``)."""
    m = _MULTI_HOST.match(url)
    if m:
        hosts = [h.strip() for h in m["hosts"].split(",")]
        if any(not h or h.startswith("[") for h in hosts):
            raise ValueError(
                f"a multi-host database URL lists IPv4 addresses or host names: {m['hosts']!r}"
            )
        query = "&".join([f"host={h}" for h in hosts] + ([m["query"]] if m["query"] else []))
        return f"postgresql+psycopg://{m['auth'] or ''}/{m['db'] or ''}?{query}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def libpq_params(url: str) -> tuple[str, str | None]:
    """``(conninfo, password)`` for libpq tools from a PostgreSQL URL (single or
    multi-host). The password is returned apart so callers can pass it as
    ``PGPASSWORD`` rather than on a command line anyone on the machine can read."""
    from psycopg.conninfo import make_conninfo

    u = make_url(normalise_url(url))
    if u.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {u.render_as_string()}")
    _args, params = u.get_dialect()().create_connect_args(u)
    password = params.pop("password", None)
    plain = {k: v for k, v in params.items() if isinstance(v, str | int)}
    return make_conninfo("", **plain), None if password is None else str(password)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    # A pooled connection whose server died (restart, crash, failover) fails its ping and
    # is replaced; a disconnect seen mid-statement invalidates the whole pool.
    kwargs.setdefault("pool_pre_ping", True)
    # Bounded waits when PostgreSQL is down or silent (a reconnect, a readiness probe):
    # a connect gives up after CONNECT_TIMEOUT_S, and TCP keepalives notice a peer that
    # vanished without closing the socket. A value in the URL wins.
    connect_args = dict(kwargs.pop("connect_args", {}))
    for key, value in PG_CONNECT_ARGS.items():
        if f"{key}=" not in url:
            connect_args.setdefault(key, value)
    return create_engine(url, connect_args=connect_args, **kwargs)


CONNECT_TIMEOUT_S = 5
PG_CONNECT_ARGS = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}

# SQLSTATE classes and codes that mean "not now": connection exceptions (08), too many
# connections and other insufficient resources (53), operator intervention (57: admin or
# crash shutdown, cannot connect now, statement cancelled), transaction rollback (40:
# serialization failure, deadlock), lock not available (55P03) and a read-only
# transaction (25006).
TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")
# 25006: a write reached a read-only server (a standby, or a primary being demoted
# during a failover); the next connection finds the new primary.
TRANSIENT_SQLSTATES = frozenset({"55P03", "25006"})
SQLITE_TRANSIENT = ("database is locked", "database is busy", "unable to open", "disk i/o")


def brief(err: BaseException) -> str:
    """One line for a log: the driver's own first line, without SQLAlchemy's SQL echo."""
    inner = err.orig if isinstance(err, exc.DBAPIError) and err.orig is not None else err
    lines = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {lines[0] if lines else ''}"


def is_unavailable(err: BaseException) -> bool:
    """True when ``err`` says the database cannot do it now (retrying later may work)."""
    if isinstance(err, exc.TimeoutError):  # the connection pool stayed exhausted
        return True
    if isinstance(err, exc.DBAPIError):
        if err.connection_invalidated:
            return True
        err = err.orig if err.orig is not None else err
    state = getattr(err, "sqlstate", None)
    if isinstance(state, str):
        return state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES
    module = type(err).__module__
    if module.startswith("psycopg"):
        # Without a SQLSTATE the client itself failed: refused, reset, closed, timed out.
        import psycopg

        return isinstance(err, psycopg.OperationalError | psycopg.InterfaceError)
    if module == "sqlite3":
        text = str(err).lower()
        return any(part in text for part in SQLITE_TRANSIENT)
    return False


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def without_nested_loops(conn: Connection) -> Iterator[None]:
    """PostgreSQL plans the statements inside without nested-loop joins, then as before
    (``SET LOCAL``: this transaction only). For a grouped scan of a few heavy accounts'
    postings: the planner estimates a canteen payable's postings from the average account
    (≈ 90 of 15.7 M), 60 times too few, and probes ``journal_entries`` once per posting —
    measured on the bench city at 7.5 M payments: 26–35 s, against 3.7–3.8 s with hash
    joins. A no-op on SQLite."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
    try:
        yield
    finally:
        conn.exec_driver_sql("SET LOCAL enable_nestloop = on")


def create_schema(engine: Engine) -> None:
    """Upgrade the database to the newest Alembic revision."""
    from onecard.migrations.runner import upgrade

    upgrade(engine)
