"""The catalogue through the API, signed in as people are: the bureau imports reference
prices (previewed, row errors with nothing written, then published), the canteen manager
keeps goods and dishes (a price above the reference is 422 with the reference shown),
and a terminal sells a good by item lines — the till's barcode scan — paid from cash,
the ledger verified after it."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select

from onecard.catalogue.models import ReferencePrice
from onecard.core.context import Context
from onecard.ledger.verify import verify
from web.pages import Staff, TestClient, sign_in
from world import World, purse

API = "/api/v1/catalogue"
WATER = "6901234567892"


def sheet(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["条码", "商品名称", "参考价（元）", "商超"])
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def references(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(ReferencePrice)).scalar_one())


def test_the_reference_file_is_previewed_then_published_and_bad_rows_write_nothing(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["bu"])
    bad = sheet([[WATER, "矿泉水 550ml", "2.001", ""], ["12-3", "", "", ""], [WATER, "水", 2, ""]])
    r = client.post(f"{API}/reference-prices/import?valid_from=2026-03-01", content=bad)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "import_rejected"
    where = {(e["row"], e["column"]) for e in err["rows"]}
    assert {
        (2, "参考价（元）"),
        (3, "条码"),
        (3, "商品名称"),
        (3, "参考价（元）"),
        (4, "条码"),
    } <= where
    assert references(ctx) == 0
    good = sheet([[WATER, "矿泉水 550ml", 2, "步步高"], ["", "袋装牛奶 250ml", "3.5", ""]])
    r = client.post(f"{API}/reference-prices/import?valid_from=2026-03-01", content=good)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and len(r.json()["rows"]) == 2
    assert references(ctx) == 0
    r = client.post(
        f"{API}/reference-prices/import?valid_from=2026-03-01&dry_run=false", content=good
    )
    assert r.status_code == 200 and references(ctx) == 2
    listed = client.get(f"{API}/reference-prices").json()
    assert {(x["name"], x["price_fen"], x["in_force"]) for x in listed} == {
        ("矿泉水 550ml", 200, True),
        ("袋装牛奶 250ml", 350, True),
    }


def test_a_good_sold_by_barcode_line_through_the_api(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["bu"])
    r = client.post(
        f"{API}/reference-prices",
        json={
            "valid_from": "2026-03-01",
            "prices": [{"barcode": WATER, "name": "矿泉水 550ml", "price_fen": 200}],
        },
    )
    assert r.status_code == 200 and r.json() == []
    client.post("/logout")
    sign_in(client, ctx, staff["cm"])
    cid = w.canteens["A"]
    over = {"name": "矿泉水 550ml", "price_fen": 250, "barcode": WATER, "unit": "瓶"}
    r = client.put(f"{API}/canteens/{cid}/goods/G1", json=over, headers={"Accept-Language": "en"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "above_reference_price"
    assert "2.00" in r.json()["error"]["message"]
    r = client.put(f"{API}/canteens/{cid}/goods/G1", json={**over, "price_fen": 190})
    assert r.status_code == 200, r.text
    item = r.json()["id"]
    assert client.post(f"{API}/goods/{item}/stock", json={"kind": "in", "qty": 10}).json() == {
        "item_id": item,
        "stock_qty": 10,
    }
    r = client.post(f"{API}/goods/{item}/stock", json={"kind": "out", "qty": 11})
    assert r.status_code == 409 and r.json()["error"]["code"] == "stock_short"
    dish = {"name": "红烧肉", "price_fen": 800, "category": "热菜", "portion_g": 250}
    dish |= {"energy_kj": 2100, "energy_kcal": 502, "protein_mg": 21500, "salt_mg": 2400}
    assert client.put(f"{API}/canteens/{cid}/dishes/D1", json=dish).status_code == 200
    got = client.get(f"{API}/canteens/{cid}").json()
    assert [(g["barcode"], g["reference_fen"], g["stock_qty"]) for g in got["goods"]] == [
        (WATER, 200, 10)
    ]
    assert got["dishes"][0]["protein_mg"] == 21500
    # The till's scan adds the good's line; the terminal's payment carries it.
    before = purse(ctx, w, "a2")
    auth = {"Authorization": f"Terminal {w.terminals['A'].code}:{w.keys['A']}"}
    body = {"txn_id": "scan-1", "credential": w.cards["a2"], "items": [{"sku": "G1", "qty": 2}]}
    r = client.post("/api/v1/terminal/payments", json=body, headers=auth)
    assert r.status_code == 200 and r.json()["result"] == "approved", r.text
    assert (r.json()["subsidy_fen"], r.json()["cash_fen"]) == (0, 380)
    assert purse(ctx, w, "a2") == (before[0], before[1] - 380)
    with ctx.db.read() as conn:
        assert verify(conn).ok
