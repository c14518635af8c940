"""Purchasing and traceability's services: recipes, suppliers, batches and uses with
their refusals (nothing written), the purchase list from the plan and the forecast, the
traces both ways and the ingredient cost per canteen and meal."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from onecard.audit.records import records
from onecard.catalogue import service as catalogue
from onecard.core.context import Context
from onecard.core.errors import (
    BatchFailedInspection,
    BatchShort,
    DuplicateCode,
    Forbidden,
    InvalidInput,
    NotFound,
)
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.sourcing import queries, service
from onecard.sourcing.models import BatchUse, IngredientBatch, RecipeLine, Supplier
from onecard.sourcing.service import BatchSpec, PlanLine
from world import World, build_world

TODAY = date(2026, 3, 10)  # the fixture's clock
SYSTEM = Actor.system("test")


def manager(ctx: Context, w: World) -> Actor:
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a2"], "canteen_manager", canteen_id=w.canteens["A"])
    with ctx.db.read() as conn:
        return Actor.load(conn, w.people["a2"], "Sa2", w.units["A"])


def count(ctx: Context, table: type) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def kitchen(ctx: Context) -> tuple[World, Actor, dict[str, int]]:
    """Canteen A with two dishes, their recipes, a supplier, a passed and a failed batch."""
    w = build_world(ctx)
    m = manager(ctx, w)
    cid = w.canteens["A"]
    ids: dict[str, int] = {}
    ids["pork_dish"] = catalogue.save_dish(ctx, m, cid, catalogue.DishSpec("D1", "红烧肉", 1200))
    ids["egg_dish"] = catalogue.save_dish(ctx, m, cid, catalogue.DishSpec("D2", "番茄炒蛋", 600))
    ids["pork"] = service.add_ingredient(ctx, m, cid, "猪五花肉", "kg", 1000)
    ids["egg"] = service.add_ingredient(ctx, m, cid, "鸡蛋", "个", 50)
    ids["tomato"] = service.add_ingredient(ctx, m, cid, "番茄", "斤", 500)
    service.save_recipe(ctx, m, cid, ids["pork_dish"], [(ids["pork"], 150)])
    service.save_recipe(ctx, m, cid, ids["egg_dish"], [(ids["egg"], 100), (ids["tomato"], 150)])
    ids["sup"] = service.add_supplier(ctx, m, cid, "郴州肉联厂", "JY14310020001234", "0735-1")
    ids["batch"] = service.receive_batch(
        ctx,
        m,
        cid,
        BatchSpec(ids["pork"], ids["sup"], "P-0301", TODAY - timedelta(days=1), "20", 2800, "pass"),
    )
    ids["bad"] = service.receive_batch(
        ctx,
        m,
        cid,
        BatchSpec(ids["egg"], ids["sup"], "E-0301", TODAY, "300", 60, "fail", "蛋壳破损"),
    )
    return w, m, ids


def test_a_batch_is_traced_to_its_meals_and_a_meal_to_its_batches(ctx: Context) -> None:
    w, m, ids = kitchen(ctx)
    cid = w.canteens["A"]
    service.record_use(
        ctx, m, cid, TODAY - timedelta(days=1), "lunch", ids["pork_dish"], ids["batch"], "6.5"
    )
    service.record_use(ctx, m, cid, TODAY, "lunch", ids["pork_dish"], ids["batch"], 7)
    trace = queries.batch_trace(ctx, ids["batch"])
    assert trace is not None
    assert trace["batch"]["left"] == "6.5" and trace["batch"]["used"] == "13.5"
    assert [(u["day"], u["meal"], u["dish"]) for u in trace["uses"]] == [
        (TODAY, "lunch", "红烧肉"),
        (TODAY - timedelta(days=1), "lunch", "红烧肉"),
    ]
    assert trace["canteens"] == ["财政局机关食堂"]
    meal = queries.meal_trace(ctx, cid, TODAY, "lunch")
    assert [(u["batch_no"], u["licence_no"], u["quantity"]) for u in meal] == [
        ("P-0301", "JY14310020001234", "7")
    ]
    # Cost: 13.5 kg × 28.00 = 378.00 yuan, in the lunch of canteen A.
    [row] = queries.ingredient_cost(ctx, TODAY - timedelta(days=7), TODAY)
    assert (row.canteen_id, row.meal, row.fen, row.days) == (cid, "lunch", 37800, 2)
    assert queries.ingredient_cost(ctx, TODAY + timedelta(days=1), TODAY + timedelta(days=2)) == []
    x = queries.xlsx(queries.batch_trace_table(trace))
    assert x[:2] == b"PK"
    assert [r["action"] for r in records(ctx)][-2:] == ["sourcing_use", "sourcing_use"]


def test_refusals_change_nothing(ctx: Context) -> None:
    w, m, ids = kitchen(ctx)
    cid = w.canteens["A"]
    uses, batches, suppliers = (
        count(ctx, BatchUse),
        count(ctx, IngredientBatch),
        count(ctx, Supplier),
    )
    audits = len(records(ctx))
    use = (cid, TODAY, "lunch", ids["pork_dish"])
    with pytest.raises(BatchFailedInspection) as failed:
        service.record_use(ctx, m, cid, TODAY, "lunch", ids["egg_dish"], ids["bad"], 1)
    assert "E-0301" in failed.value.message()
    with pytest.raises(BatchShort):
        service.record_use(ctx, m, *use, ids["batch"], "20.001")
    for qty in (-1, 0, "abc", "1e9", "0.0001", None, True, "nan"):
        with pytest.raises(InvalidInput):
            service.record_use(ctx, m, *use, ids["batch"], qty)
    with pytest.raises(NotFound):  # not a dish of canteen A
        service.record_use(ctx, m, cid, TODAY, "lunch", 999_999, ids["batch"], 1)
    with pytest.raises(InvalidInput):  # the batch arrived after that day
        service.record_use(
            ctx, m, cid, TODAY - timedelta(days=5), "lunch", ids["pork_dish"], ids["batch"], 1
        )
    with pytest.raises(InvalidInput):
        service.record_use(ctx, m, cid, TODAY, "supper", ids["pork_dish"], ids["batch"], 1)
    with pytest.raises(InvalidInput):  # licence missing
        service.add_supplier(ctx, m, cid, "无证摊贩", "  ")
    with pytest.raises(InvalidInput):
        service.add_supplier(ctx, m, cid, "怪证", "许可证123456")
    with pytest.raises(DuplicateCode):
        service.add_supplier(ctx, m, cid, "重复", "JY14310020001234")
    bad_batches = [
        BatchSpec(ids["pork"], ids["sup"], "X1", TODAY, "-3", 100, "pass"),
        BatchSpec(ids["pork"], ids["sup"], "X1", TODAY, "5", -1, "pass"),
        BatchSpec(ids["pork"], ids["sup"], "X1", TODAY, "5", 100, "maybe"),
        BatchSpec(ids["pork"], ids["sup"], "X1", TODAY, "5", 100, "fail"),  # no note
        BatchSpec(ids["pork"], ids["sup"], "X1", TODAY + timedelta(days=1), "5", 100, "pass"),
        BatchSpec(ids["pork"], ids["sup"], "", TODAY, "5", 100, "pass"),
    ]
    for spec in bad_batches:
        with pytest.raises(InvalidInput):
            service.receive_batch(ctx, m, cid, spec)
    with pytest.raises(DuplicateCode):
        service.receive_batch(
            ctx, m, cid, BatchSpec(ids["pork"], ids["sup"], "P-0301", TODAY, "1", 1, "pass")
        )
    with pytest.raises(InvalidInput):
        service.save_recipe(ctx, m, cid, ids["pork_dish"], [(ids["pork"], 0)])
    with pytest.raises(InvalidInput):
        service.save_recipe(ctx, m, cid, ids["pork_dish"], [(ids["pork"], 10), (ids["pork"], 20)])
    with pytest.raises(NotFound):
        service.save_recipe(ctx, m, cid, ids["pork_dish"], [(999_999, 10)])
    with pytest.raises(InvalidInput):
        service.add_ingredient(ctx, m, cid, "盐", "kg", 0)
    with pytest.raises(DuplicateCode):
        service.add_ingredient(ctx, m, cid, "鸡蛋", "个", 50)
    assert (count(ctx, BatchUse), count(ctx, IngredientBatch), count(ctx, Supplier)) == (
        uses,
        batches,
        suppliers,
    )
    assert count(ctx, RecipeLine) == 3
    assert len(records(ctx)) == audits


def test_only_who_runs_the_canteen_writes(ctx: Context) -> None:
    w, m, ids = kitchen(ctx)
    with ctx.db.read() as conn:
        other = Actor.load(conn, w.people["b1"], "Sb1", w.units["B"])
    with pytest.raises(Forbidden):
        service.add_ingredient(ctx, other, w.canteens["A"], "盐", "kg", 1000)
    with pytest.raises(Forbidden):
        service.record_use(
            ctx, other, w.canteens["A"], TODAY, "lunch", ids["pork_dish"], ids["batch"], 1
        )
    with pytest.raises(Forbidden):
        service.purchase_list(ctx, other, w.canteens["A"], TODAY, [])
    # A manager of canteen A cannot reach canteen B's rows through A's ids.
    with pytest.raises(Forbidden):
        service.add_supplier(ctx, m, w.canteens["B"], "某", "JY1431002000")


def test_the_purchase_list_is_the_plan_times_the_recipes(ctx: Context) -> None:
    w, m, ids = kitchen(ctx)
    cid = w.canteens["A"]
    plan = [PlanLine(ids["pork_dish"], "lunch", 100), PlanLine(ids["egg_dish"], "dinner", 30)]
    pl = service.purchase_list(ctx, m, cid, TODAY + timedelta(days=1), plan)
    got = {n.name: (n.grams, n.need_milli, n.on_hand_milli, n.to_buy_milli) for n in pl.lines}
    assert got == {
        "猪五花肉": (15_000, 15_000, 20_000, 0),  # 15 kg needed, 20 kg passed on hand
        "鸡蛋": (3_000, 60_000, 0, 60_000),  # 60 eggs; the failed batch is not stock
        "番茄": (4_500, 9_000, 0, 9_000),  # 9 斤
    }
    assert [d.portions for d in pl.dishes] == [100, 30]
    assert queries.xlsx(queries.purchase_table(pl))[:2] == b"PK"
    with pytest.raises(NotFound):
        service.purchase_list(ctx, m, cid, TODAY, [PlanLine(999_999, "lunch", 1)])
    with pytest.raises(InvalidInput):
        service.purchase_list(ctx, m, cid, TODAY, [PlanLine(ids["pork_dish"], "lunch", -1)])
    # No history: no forecast, so the portions must be given.
    with pytest.raises(InvalidInput):
        service.purchase_list(ctx, m, cid, TODAY, [PlanLine(ids["pork_dish"], "lunch")])


def test_the_forecast_fills_the_portions(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    w, m, ids = kitchen(ctx)
    monkeypatch.setattr(service, "forecast_portions", lambda ctx, c, d: {"lunch": 240})
    pl = service.purchase_list(
        ctx, m, w.canteens["A"], TODAY + timedelta(days=1), [PlanLine(ids["pork_dish"], "lunch")]
    )
    assert pl.dishes[0].portions == 240
    assert pl.lines[0].need_milli == 36_000  # 240 × 150 g = 36 kg


@pytest.mark.parametrize(("text", "milli"), [("25.5", 25500), (3, 3000), ("0.001", 1)])
def test_quantities_are_exact_thousandths(text: object, milli: int) -> None:
    assert service.milli_of(text) == milli
    assert service.show_milli(milli) == str(text)


def test_the_commands_trace_and_cost(ctx: Context, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from onecard.cli import app

    w, m, ids = kitchen(ctx)
    service.record_use(ctx, m, w.canteens["A"], TODAY, "lunch", ids["pork_dish"], ids["batch"], 2)
    url = ctx.settings.database_url
    runner = CliRunner()
    res = runner.invoke(app, ["sourcing", "trace", "P-0301", "--database-url", url])
    assert res.exit_code == 0, res.output
    assert "红烧肉" in res.output and "JY14310020001234" in res.output
    res = runner.invoke(app, ["sourcing", "trace", "NO-SUCH", "--database-url", url])
    assert res.exit_code != 0
    out = tmp_path / "cost.xlsx"
    period = ["--start", str(TODAY), "--end", str(TODAY), "--database-url", url]
    res = runner.invoke(app, ["sourcing", "cost", *period, "--xlsx", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:2] == b"PK"
    res = runner.invoke(app, ["sourcing", "cost", *period])
    assert res.exit_code == 0 and "56.00" in res.output  # 2 kg × 28.00


def test_tomorrows_menu_is_the_purchase_lists_plan(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing ticked: the dishes on that day's menu, the forecast's portions (量入下米)."""
    from onecard.catalogue.models import Item
    from onecard.menus import service as menus

    w, m, ids = kitchen(ctx)
    cid, tomorrow = w.canteens["A"], TODAY + timedelta(days=1)
    with ctx.db.read() as conn:
        sku = conn.execute(select(Item.sku).where(Item.id == ids["pork_dish"])).scalar_one()
    menus.set_menu(ctx, m, cid, tomorrow, "lunch", [sku])
    plan = service.menu_plan(ctx, cid, tomorrow)
    assert plan == [PlanLine(ids["pork_dish"], "lunch")]
    assert service.menu_plan(ctx, cid, TODAY) == []  # no menu that day
    monkeypatch.setattr(service, "forecast_portions", lambda ctx, c, d: {"lunch": 200})
    pl = service.purchase_list(ctx, m, cid, tomorrow, plan)
    assert [n.need_milli for n in pl.lines] == [30_000]  # 200 × 150 g
