"""Fixtures for purchasing and traceability: the small city, its role holders, a browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onecard.core.context import Context
from onecard.web.app import create_app
from web.pages import Staff, TestClient, add_staff
from world import World, build_world


@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


@pytest.fixture
def staff(ctx: Context, w: World) -> Staff:
    return add_staff(ctx, w)


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=True) as c:
        yield c
