"""Fixtures for the menus' stories: the small city, dishes on canteen A's menu, a client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from onecard.catalogue import service as catalogue
from onecard.core.context import Context
from onecard.menus import service as menus
from onecard.org.actors import Actor
from onecard.web.app import create_app
from web.pages import Staff, TestClient, add_staff
from world import World, build_world, fund

SYSTEM = Actor.system("test")
TOMORROW = date(2026, 3, 11)  # the clock stands at 12:00 on Tuesday 10 March 2026


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=1000, cash=500)
    fund(ctx, world, "a2", subsidy=5000, cash=5000)
    cid = world.canteens["A"]
    for sku, name, fen, kcal in (
        ("D1", "红烧肉", 1200, 520),
        ("D2", "清炒时蔬", 400, 90),
        ("D3", "米饭", 50, 230),
    ):
        catalogue.save_dish(
            ctx,
            SYSTEM,
            cid,
            catalogue.DishSpec(
                sku=sku,
                name=name,
                price_fen=fen,
                category="热菜",
                portion_g=250,
                energy_kcal=kcal,
                protein_mg=12000,
                fat_mg=9000,
                salt_mg=800,
            ),
        )
    menus.set_menu(ctx, SYSTEM, cid, TOMORROW, "lunch", ["D1", "D2", "D3"])
    menus.set_menu(ctx, SYSTEM, cid, TOMORROW, "dinner", ["D2", "D3"])
    return world


@pytest.fixture
def staff(ctx: Context, w: World) -> Staff:
    return add_staff(ctx, w)


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=True) as c:
        yield c
