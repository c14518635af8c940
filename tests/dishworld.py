"""A canteen's dishes for the dish-rating tests (R-S1): canteen A of ``world.py`` gets
three dishes (two with nutrition, one without) and a good."""

from __future__ import annotations

from datetime import date

from onecard.catalogue import service as catalogue
from onecard.core.context import Context
from onecard.org.actors import Actor
from world import World

SYSTEM = Actor.system("test")


def menu(ctx: Context, w: World) -> dict[str, int]:
    """Canteen A's dishes (with nutrition, one without) and a good."""
    a = w.canteens["A"]
    ids = {
        "D1": catalogue.save_dish(
            ctx,
            SYSTEM,
            a,
            catalogue.DishSpec(
                "D1",
                "红烧肉",
                800,
                energy_kj=2000,
                protein_mg=15_000,
                fat_mg=30_000,
                carbohydrate_mg=5_000,
                salt_mg=1_500,
            ),
        ),
        "D2": catalogue.save_dish(
            ctx,
            SYSTEM,
            a,
            catalogue.DishSpec(
                "D2",
                "米饭",
                50,
                energy_kcal=200,
                protein_mg=4_000,
                fat_mg=500,
                carbohydrate_mg=45_000,
                salt_mg=0,
            ),
        ),
        "D3": catalogue.save_dish(ctx, SYSTEM, a, catalogue.DishSpec("D3", "青菜", 300)),
    }
    catalogue.publish_references(
        ctx, SYSTEM, w.region, date(2026, 3, 1), [catalogue.ReferenceRow("矿泉水", 200, "690")]
    )
    ids["G1"] = catalogue.save_good(
        ctx, SYSTEM, a, catalogue.GoodSpec("G1", "矿泉水", 150, barcode="690")
    )
    return ids


def diner(ctx: Context, w: World, key: str) -> Actor:
    with ctx.db.read() as conn:
        return Actor.load(conn, w.people[key], f"S{key}", w.units[key[0].upper()])
