"""Purchasing and traceability's pages and API: the canteen manager keeps ingredients,
recipes, suppliers, batches and uses (errors shown, nothing changed), builds the
purchase list (print, Excel); the bureau traces a batch and a meal, in both languages."""

from __future__ import annotations

import io
import re
from datetime import date

from openpyxl import load_workbook
from sqlalchemy import func, select

from onecard.catalogue import service as catalogue
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.sourcing import queries
from onecard.sourcing.models import BatchUse, IngredientBatch, Supplier
from web.pages import Staff, TestClient, sign_in
from world import World

TODAY = "2026-03-10"
SYSTEM = Actor.system("test")


def alert(html: str) -> str:
    m = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return m.group(1).strip() if m else ""


def count(ctx: Context, table: type) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_manager_keeps_the_kitchen_and_the_bureau_traces(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    cid = w.canteens["A"]
    dish = catalogue.save_dish(ctx, SYSTEM, cid, catalogue.DishSpec("D1", "红烧肉", 1200))
    token, _ = sign_in(client, ctx, "Scm")
    base = f"/sourcing/canteens/{cid}"
    page = client.get(base).text
    assert "采购与溯源" in page and 'id="ingredient-form"' in page

    def post(what: str, **data: str) -> object:
        return client.post(
            f"{base}/{what}", data={"csrf_token": token, **data}, follow_redirects=False
        )

    assert post("ingredients", name="猪五花肉", unit="kg", grams_per_unit="1000").status_code == 303
    [ing] = queries.canteen_sourcing(ctx, cid)["ingredients"]
    r = post("recipes", dish_id=str(dish), ingredient_id=str(ing["id"]), grams="150")
    assert r.status_code == 303
    r = post("suppliers", name="无证商户", licence_no="")
    assert r.status_code == 422 and "许可证号" in alert(r.text)
    assert count(ctx, Supplier) == 0
    assert post("suppliers", name="郴州肉联厂", licence_no="JY14310020001234").status_code == 303
    [sup] = queries.canteen_sourcing(ctx, cid)["suppliers"]
    batch = {
        "ingredient_id": str(ing["id"]),
        "supplier_id": str(sup["id"]),
        "received_on": TODAY,
        "unit_cost": "28.00",
        "inspection": "pass",
    }
    r = post("batches", batch_no="P-1", quantity="-5", **batch)
    assert r.status_code == 422 and "大于 0" in alert(r.text)
    assert count(ctx, IngredientBatch) == 0
    assert post("batches", batch_no="P-1", quantity="20", **batch).status_code == 303
    failed = {**batch, "inspection": "fail", "inspection_note": "温度超标"}
    assert post("batches", batch_no="P-2", quantity="10", **failed).status_code == 303
    s = queries.canteen_sourcing(ctx, cid)
    good, bad = sorted(s["batches"], key=lambda b: b["batch_no"])
    use = {"day": TODAY, "meal": "lunch", "dish_id": str(dish)}
    r = post("uses", batch_id=str(bad["id"]), quantity="1", **use)
    assert r.status_code == 409 and "不合格" in alert(r.text)
    r = post("uses", batch_id=str(good["id"]), quantity="25", **use)
    assert r.status_code == 409 and "只剩 20" in alert(r.text)
    assert count(ctx, BatchUse) == 0
    assert post("uses", batch_id=str(good["id"]), quantity="12.5", **use).status_code == 303
    page = client.get(base).text
    assert "红烧肉" in page and "猪五花肉 150 克" in page and "12.5" in page

    # The purchase list: 100 portions of 红烧肉 at tomorrow's lunch, 7.5 kg on hand.
    q = f"day=2026-03-11&pick={dish}:lunch&n_{dish}_lunch=100"
    page = client.get(f"{base}/purchase?{q}").text
    assert 'id="need-table"' in page and "data-print" in page
    row = re.search(r"<td>猪五花肉</td><td>kg</td>(.*?)</tr>", page, re.S)
    assert row and re.findall(r'class="num">(?:<strong>)?([\d.]+)', row.group(1)) == [
        "15",
        "7.5",
        "7.5",
    ]
    x = client.get(f"{base}/purchase.xlsx?{q}")
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet["A2"].value == "猪五花肉" and sheet["E2"].value == "7.5"
    # A day out of range is tomorrow; a day at the calendar's edge is no error.
    for odd in ("0001-01-03", "9999-12-31", "2026-02-30"):
        r = client.get(f"{base}/purchase?day={odd}")
        assert r.status_code == 200 and "2026-03-11" in r.text
    # Without history a meal has no forecast: the portions must be typed.

    r = client.get(f"{base}/purchase?day=2026-03-11&pick={dish}:lunch")
    assert r.status_code == 422 and "预测" in alert(r.text)

    # The meal back to its batches, the batch to its meals.
    page = client.get(f"{base}/meal?day={TODAY}&meal=lunch").text
    assert "P-1" in page and "JY14310020001234" in page
    page = client.get(f"/sourcing/batches/{good['id']}").text
    assert "财政局机关食堂" in page and "12.5" in page

    # The bureau: the search, the trace, the cost, in both languages.
    sign_in(client, ctx, "Sbu")
    page = client.get("/bureau/sourcing?q=P-").text
    assert "P-1" in page and "P-2" in page and "350.00" in page  # 12.5 kg × 28 元
    r = client.get(
        f"/bureau/sourcing/meal?canteen_id={cid}&day={TODAY}&meal=lunch", follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].endswith(f"day={TODAY}&meal=lunch")
    en = client.get(f"/sourcing/batches/{good['id']}?lang=en").text
    assert "Where the batch went" in en
    x = client.get(f"/sourcing/batches/{good['id']}.xlsx")
    assert x.status_code == 200 and x.content[:2] == b"PK"
    client.get("/bureau/sourcing?lang=zh-CN")


def test_the_api_keeps_and_traces(ctx: Context, w: World, staff: Staff, client: TestClient) -> None:
    cid = w.canteens["A"]
    dish = catalogue.save_dish(ctx, SYSTEM, cid, catalogue.DishSpec("D1", "番茄炒蛋", 600))
    token, _ = sign_in(client, ctx, "Scm")
    h = {"X-CSRF-Token": token}
    api = f"/api/v1/sourcing/canteens/{cid}"
    egg = client.post(
        f"{api}/ingredients", json={"name": "鸡蛋", "unit": "个", "grams_per_unit": 50}, headers=h
    )
    assert egg.status_code == 201
    r = client.put(
        f"{api}/recipes/{dish}",
        json={"lines": [{"ingredient_id": egg.json()["id"], "grams": 100}]},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["dishes"][0]["lines"][0]["grams"] == 100
    r = client.put(f"{api}/recipes/999999", json={"lines": []}, headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post(f"{api}/suppliers", json={"name": "蛋鸡场", "licence_no": ""}, headers=h)
    assert r.status_code == 422
    sup = client.post(
        f"{api}/suppliers", json={"name": "蛋鸡场", "licence_no": "JY1431002"}, headers=h
    )
    assert sup.status_code == 201
    body = {
        "ingredient_id": egg.json()["id"],
        "supplier_id": sup.json()["id"],
        "batch_no": "E-1",
        "received_on": TODAY,
        "quantity": "300",
        "unit_cost_fen": 60,
        "inspection": "pass",
    }
    batch = client.post(f"{api}/batches", json=body, headers=h)
    assert batch.status_code == 201 and batch.json()["left_milli"] == 300_000
    use = {"day": TODAY, "meal": "dinner", "dish_id": dish, "batch_id": batch.json()["id"]}
    r = client.post(f"{api}/uses", json={**use, "quantity": 1e12}, headers=h)
    assert r.status_code == 422
    r = client.post(f"{api}/uses", json={**use, "quantity": "40"}, headers=h)
    assert r.status_code == 201 and r.json()["batch_no"] == "E-1"
    r = client.post(
        f"{api}/purchase-list",
        json={"day": "2026-03-11", "plan": [{"dish_id": dish, "meal": "lunch", "portions": 10}]},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["lines"][0]["need_milli"] == 20_000
    r = client.get(f"/api/v1/sourcing/batches/{batch.json()['id']}/trace")
    assert r.status_code == 200 and [u["meal"] for u in r.json()["uses"]] == ["dinner"]
    r = client.get(f"{api}/meal-trace?day={TODAY}&meal=dinner")
    assert r.status_code == 200 and r.json()[0]["quantity"] == "40"
    assert client.get("/api/v1/sourcing/cost").status_code == 403  # a manager: not the city's
    sign_in(client, ctx, "Sbu")
    r = client.get(f"/api/v1/sourcing/cost?start={TODAY}&end={TODAY}")
    assert r.json() == [
        {
            "canteen_id": cid,
            "canteen": "财政局机关食堂",
            "unit_id": w.units["A"],
            "unit": "市财政局",
            "meal": "dinner",
            "days": 1,
            "fen": 2400,
        }
    ]
    assert date.fromisoformat(TODAY)
