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
- ``create_schema(engine)`` brings a database to the newest schema through Alembic.
- Service functions own their transaction (``with ctx.db.begin() as conn``); nothing else
  commits.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, MetaData, create_engine, event
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
DEFAULT_CONNECT_TIMEOUT = 5


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
    if "connect_timeout" not in make_url(url).query:
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def create_schema(engine: Engine) -> None:
    """Upgrade the database to the newest Alembic revision."""
    from onecard.migrations.runner import upgrade

    upgrade(engine)
