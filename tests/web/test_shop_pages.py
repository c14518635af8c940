"""The canteen's shop page and the bureau's reference prices, in both languages: the
manager adds a dish and a good (a price above the reference is refused on the page, with
the reference shown, nothing saved), moves stock; the bureau previews and publishes a
file, sees the goods over a fallen reference and downloads them; others get 403."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook

from onecard.catalogue import service
from onecard.core.context import Context
from onecard.org.actors import Actor
from web.pages import Staff, TestClient, csrf_of, sign_in
from world import World

WATER = "6901234567892"


def publish(ctx: Context, w: World, fen: int, since: date) -> None:
    row = service.ReferenceRow(name="矿泉水 550ml", price_fen=fen, barcode=WATER)
    service.publish_references(ctx, Actor.system("t"), w.region, since, [row])


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_canteen_manager_keeps_dishes_goods_and_stock(
    ctx: Context, w: World, staff: Staff, client: TestClient, lang: str
) -> None:
    publish(ctx, w, 200, date(2026, 3, 1))
    token, _ = sign_in(client, ctx, staff["cm"])
    cid = w.canteens["A"]
    page = f"/shop/canteens/{cid}?lang={lang}"
    text = client.get(page).text
    assert ("Shop goods" in text) == (lang == "en") and ("超市商品" in text) == (lang == "zh-CN")
    good = {"csrf_token": token, "sku": "G1", "barcode": WATER, "name": "矿泉水 550ml"}
    r = client.post(f"/shop/canteens/{cid}/goods", data={**good, "price": "2.50"})
    assert r.status_code == 422 and "2.00" in r.text and 'id="shop-error"' in r.text
    assert "矿泉水 550ml</td>" not in r.text  # nothing saved
    r = client.post(
        f"/shop/canteens/{cid}/goods",
        data={**good, "price": "1.90", "unit": "瓶"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    dish = {"csrf_token": token, "sku": "D1", "name": "番茄炒蛋", "price": "6", "protein_g": "12.5"}
    assert (
        client.post(f"/shop/canteens/{cid}/dishes", data=dish, follow_redirects=False).status_code
        == 303
    )
    text = client.get(page).text
    assert "番茄炒蛋" in text and "12.5 g" in text and "1.90" in text
    item = service_item(client, cid)
    r = client.post(
        f"/shop/goods/{item}/stock", data={"csrf_token": token, "kind": "out", "qty": "1"}
    )
    assert r.status_code == 422 and 'id="shop-error"' in r.text
    r = client.post(
        f"/shop/goods/{item}/stock",
        data={"csrf_token": token, "kind": "in", "qty": "12"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    book = load_workbook(io.BytesIO(client.get(f"/shop/canteens/{cid}/goods.xlsx").content))
    ws = book.active
    assert ws is not None
    assert [c.value for c in ws[2]][:4] == ["G1", WATER, "矿泉水 550ml", "瓶"]
    assert ws[2][6].value == 12
    # The till offers the barcode scan for it.
    assert f'data-barcode="{WATER}"' in client.get(f"/till?canteen_id={cid}").text


def service_item(client: TestClient, cid: int) -> int:
    got = client.get(f"/api/v1/catalogue/canteens/{cid}").json()
    return int(got["goods"][0]["id"])


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_bureau_publishes_references_and_sees_goods_over_them(
    ctx: Context, w: World, staff: Staff, client: TestClient, lang: str
) -> None:
    publish(ctx, w, 200, date(2026, 3, 1))
    service.save_good(
        ctx,
        Actor.system("t"),
        w.canteens["A"],
        service.GoodSpec("G1", "矿泉水 550ml", 190, barcode=WATER),
    )
    token, _ = sign_in(client, ctx, staff["bu"])
    text = client.get(f"/bureau/shop?lang={lang}").text
    assert ("No good is priced above its reference" in text) == (lang == "en")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["条码", "商品名称", "参考价（元）"])
    ws.append([WATER, "矿泉水 550ml", 1.8])
    out = io.BytesIO()
    wb.save(out)
    files = {"file": ("ref.xlsx", out.getvalue())}
    form = {"csrf_token": token, "valid_from": "2026-03-10"}
    r = client.post("/bureau/shop/import", data=form, files=files)
    assert r.status_code == 200 and 'id="preview"' in r.text
    payload = csrf_of(r.text) and r.text.split('name="payload" value="')[1].split('"')[0]
    r = client.post(
        "/bureau/shop/import", data={**form, "payload": payload, "confirm": "yes", "filename": "r"}
    )
    assert r.status_code == 200
    assert "1.80" in r.text and "1.90" in r.text  # the good over its fallen reference
    book = load_workbook(io.BytesIO(client.get("/bureau/shop/over.xlsx").content))
    sheet = book.active
    assert sheet is not None
    assert [c.value for c in sheet[2]][:2] == ["财政局机关食堂", "G1"]
    # A bad file: the rows' errors, nothing published.
    bad = io.BytesIO()
    wb2 = Workbook()
    ws2 = wb2.active
    assert ws2 is not None
    ws2.append(["商品名称", "参考价（元）"])
    ws2.append(["牛奶", "abc"])
    wb2.save(bad)
    r = client.post("/bureau/shop/import", data=form, files={"file": ("b.xlsx", bad.getvalue())})
    assert r.status_code == 422 and 'id="row-errors"' in r.text


def test_others_may_not_open_the_shop_pages(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["ub"])
    assert client.get(f"/shop/canteens/{w.canteens['A']}").status_code == 403
    assert client.get("/bureau/shop").status_code == 403


def test_the_reference_template_holds_todays_prices_and_imports_back_unchanged(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    publish(ctx, w, 200, date(2026, 3, 1))
    token, _ = sign_in(client, ctx, staff["bu"])
    assert "/bureau/shop/references-template.xlsx" in client.get("/bureau/shop").text
    r = client.get("/bureau/shop/references-template.xlsx")
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    sheet = book["商超参考价"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["条码", "商品名称", "参考价（元）", "商超"]
    assert rows[1][:3] == [WATER, "矿泉水 550ml", 2]  # money as a number, not text
    assert len(book.sheetnames) == 2  # the prices, then the notes
    # Filled in as it came, it previews without a row error.
    form = {"csrf_token": token, "valid_from": "2026-03-10"}
    files = {"file": ("template.xlsx", r.content)}
    preview = client.post("/bureau/shop/import", data=form, files=files)
    assert preview.status_code == 200 and 'id="preview"' in preview.text


def test_the_shop_page_shows_the_on_hand_after_sales_and_a_goods_history(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.pay.service import PaymentRequest, pay
    from world import fund

    publish(ctx, w, 200, date(2026, 3, 1))
    cm = Actor(
        "cm",
        person_id=w.people["cm"],
        unit_id=w.units["A"],
        grants=frozenset({("canteen_manager", None, w.canteens["A"])}),
    )
    cid = w.canteens["A"]
    spec = service.GoodSpec(sku="G1", name="矿泉水 550ml", price_fen=190, barcode=WATER)
    item = service.save_good(ctx, cm, cid, spec)
    service.move_stock(ctx, cm, item, "in", 2, "到货")
    fund(ctx, w, "a2", cash=5000)
    ctx.clock.advance(seconds=1)  # type: ignore[attr-defined]
    out = pay(ctx, w.terminals["A"], PaymentRequest("s1", w.cards["a2"], items=(("G1", 3),)))
    assert out.approved
    sign_in(client, ctx, staff["cm"])
    text = client.get(f"/shop/canteens/{cid}").text
    assert "请盘点" in text and 'id="stock-history"' not in text
    text = client.get(f"/shop/canteens/{cid}?good={item}").text
    assert 'id="stock-history"' in text and "s1" in text and "到货" in text
    hist = client.get(f"/api/v1/catalogue/goods/{item}/stock?limit=10").json()
    assert [(h["kind"], h["qty"]) for h in hist] == [("sale", -3), ("in", 2)]
    got = client.get(f"/api/v1/catalogue/canteens/{cid}").json()["goods"][0]
    assert (got["stock_qty"], got["needs_count"], got["sold_since"]) == (-1, True, 3)
    book = load_workbook(io.BytesIO(client.get(f"/shop/canteens/{cid}/goods.xlsx").content))
    ws = book.active
    assert ws is not None and ws[2][6].value == -1 and ws[2][8].value == "是"
