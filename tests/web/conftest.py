"""Fixtures for the page tests (helpers live in ``web/pages.py``) and the browser tests
(the harness lives in ``web/browser.py``).

``live`` serves the small city (``w``, with ``staff``) on SQLite and the real clock (the
phone makes its codes and the authenticator its sign-in codes from real time); a test
module that needs history written first overrides ``seed`` with a function of
``(ctx, w)``, called after the clock is set and before the server starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from onecard.core.clock import Clock
from onecard.core.context import Context
from onecard.web.app import create_app
from web.browser import LiveServer, launch
from web.pages import Staff, TestClient, add_staff
from world import World, build_world, fund


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=60000, cash=1000)
    fund(ctx, world, "b1", subsidy=5000)
    return world


@pytest.fixture
def staff(ctx: Context, w: World) -> Staff:
    return add_staff(ctx, w)


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=True) as c:
        yield c


Seed = Callable[[Context, World], None]


@pytest.fixture
def seed() -> Seed | None:
    """What ``live`` writes before serving: nothing, unless a test module says."""
    return None


@pytest.fixture
def live(ctx: Context, w: World, staff: Staff, seed: Seed | None) -> Iterator[LiveServer]:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = Clock()
    if seed is not None:
        seed(ctx, w)
    server = LiveServer(ctx).start()
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with launch() as b:
        yield b
