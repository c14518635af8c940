"""Test fixtures: every story runs on SQLite and, when ONECARD_TEST_DATABASE_URL is set,
on PostgreSQL too. Each test gets an empty, migrated database; after every test the
ledger is verified, so no scenario may leave it inconsistent.

PostgreSQL: one throw-away database per test session (``onecard_t_<pid>``) is created on
the given server and dropped at the end, so parallel runs never meet; tables are
truncated between tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from onecard.core.clock import FixedClock, from_local
from onecard.core.config import Settings
from onecard.core.context import Context, Database
from onecard.core.db import create_schema, make_engine, normalise_url
from onecard.ledger.verify import verify
from onecard.models import metadata

PG_URL = os.environ.get("ONECARD_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine | None]:
    if not PG_URL:
        yield None
        return
    base = make_url(normalise_url(PG_URL))
    name = f"onecard_t_{os.getpid()}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    create_schema(engine)
    yield engine
    engine.dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


LUNCH = datetime(2026, 3, 10, 12, 0)  # a Tuesday, local time


def make_settings(url: str) -> Settings:
    return Settings(env="test", database_url=url, secret_key="test-secret")


@pytest.fixture(params=BACKENDS)
def ctx(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_engine: Engine | None
) -> Iterator[Context]:
    """A fresh database (SQLite or PostgreSQL) with the clock at 12:00 on 10 March 2026."""
    clock = FixedClock(from_local(LUNCH))
    if request.param == "sqlite":
        path = tmp_path / "t.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
    else:
        assert pg_engine is not None
        _truncate(pg_engine)
        engine = pg_engine
        url = engine.url.render_as_string(hide_password=False)
    from onecard.channels.sandbox import SandboxBank

    c = Context(db=Database(engine), clock=clock, settings=make_settings(url))
    c.bank = SandboxBank(secret=b"test-secret", clock=clock)
    from onecard.channels.ecny_sandbox import SandboxEcny

    c.ecny = SandboxEcny(secret=b"test-secret", clock=clock)  # private, in memory
    yield c
    with engine.connect() as conn:
        report = verify(conn)
    assert report.ok, f"ledger verify failed after test: {report.problems[:5]}"
    if request.param == "sqlite":
        engine.dispose()


@pytest.fixture(autouse=True)
def _forget_each_tests_app() -> Iterator[None]:
    """After each test, empty FastAPI's caches of which callables are coroutines or
    generators. They are module-level ``lru_cache``s of 4,096 entries keyed by the
    callable itself, so the route functions ``create_app`` defines for each test's app
    (closures over that app and its ``Context``) kept about 1,500 apps, their engines and
    pages alive: the suite's heap grew to 8 GB, and each full garbage collection of it
    held the interpreter for long (CI once saw a browser test's in-process server miss
    its 30 s timeout). A served deployment makes one
    app, so this is the tests' own concern; the names are FastAPI's private ones, hence
    ``getattr`` (a FastAPI without them has nothing to empty)."""
    yield
    from fastapi.dependencies import models

    for name in (
        "_is_gen_callable_cached",
        "_is_async_gen_callable_cached",
        "_is_coroutine_callable_cached",
    ):
        cached = getattr(models, name, None)
        if cached is not None:
            cached.cache_clear()


@pytest.fixture
def pg_ctx(ctx: Context) -> Context:
    if not ctx.db.is_postgres:
        pytest.skip("PostgreSQL only")
    return ctx


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without the interpreter's final garbage collections.

    After the last report the whole suite's heap (several GB of objects from ~1,500
    apps, engines and pages) is collected again and again while the interpreter shuts
    down — minutes of ``gc_collect_main`` with no Python frame (seen with py-spy), after
    every fixture, database and browser was already closed. Nothing is left to run, so
    the process ends here with pytest's own exit status, its output flushed.
    """
    import sys

    status = getattr(config, "_onecard_exitstatus", None)
    if status is None or os.environ.get("ONECARD_TEST_FULL_SHUTDOWN") == "1":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._onecard_exitstatus = exitstatus  # type: ignore[attr-defined]
