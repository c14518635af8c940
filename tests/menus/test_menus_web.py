"""Menus and pre-orders through the API and the pages, signed in as people are: a diner
sees the week with nutrition, pre-orders (a retry recognised; after the cut-off, off
the menu or short of money: a clear error and nothing changed), cancels; the canteen
manager sees tomorrow's counts (page and Excel) and a terminal / the till hands out the
meal — paid once however often it is asked."""

from __future__ import annotations

import io
from datetime import date, datetime, time
from typing import Any

from openpyxl import load_workbook

from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from web.pages import Staff, TestClient, csrf_of, sign_in
from world import World, purse

API = "/api/v1"
TOMORROW = "2026-03-11"


def body(w: World, rid: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "request_id": rid,
        "canteen_id": w.canteens["A"],
        "day": TOMORROW,
        "meal": "lunch",
        "pay_mode": "prepaid",
        "lines": [{"sku": "D1", "qty": 1}, {"sku": "D3", "qty": 2}],
    }
    out.update(kw)
    return out


def at(ctx: Context, day: date, hh: int) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime.combine(day, time(hh))))


def test_the_week_shows_each_dish_with_its_nutrition(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["a1"])
    r = client.get(f"{API}/menus/canteens/{w.canteens['A']}?week={TOMORROW}")
    assert r.status_code == 200, r.text
    days = {d["day"]: d for d in r.json()["days"]}
    lunch = next(m for m in days[TOMORROW]["meals"] if m["meal"] == "lunch")
    assert lunch["open"] is True
    d1 = lunch["dishes"][0]
    assert (d1["sku"], d1["price_fen"], d1["energy_kcal"], d1["rating"]) == ("D1", 1200, 520, None)
    page = client.get(f"/me/menu?canteen_id={w.canteens['A']}&week={TOMORROW}")
    assert page.status_code == 200
    assert "红烧肉" in page.text and "520" in page.text and "12.0" in page.text


def test_preorder_errors_are_clear_and_change_nothing(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["a1"])
    r = client.post(f"{API}/me/preorders", json=body(w, "x1", lines=[{"sku": "D1", "qty": 3}]))
    assert (r.status_code, r.json()["error"]["code"]) == (402, "insufficient_funds")
    r = client.post(f"{API}/me/preorders", json=body(w, "x2", meal="dinner"))
    assert (r.status_code, r.json()["error"]["code"]) == (422, "not_on_menu")
    at(ctx, date(2026, 3, 10), 19)
    client.cookies.clear()
    sign_in(client, ctx, staff["a1"])  # hours later: a fresh session
    r = client.post(f"{API}/me/preorders", json=body(w, "x3"))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "preorder_closed")
    assert "18:00" in r.json()["error"]["message"]
    assert purse(ctx, w, "a1") == (1000, 500)
    assert client.get(f"{API}/me/preorders").json() == {"held_fen": 0, "preorders": []}


def test_a_preorder_through_the_api_held_retried_and_cancelled(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["a1"])
    r = client.post(f"{API}/me/preorders", json=body(w, "p1"))
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["amount_fen"], got["held_fen"], got["status"]) == (1300, 1300, "placed")
    assert client.post(f"{API}/me/preorders", json=body(w, "p1")).json() == got
    r = client.post(f"{API}/me/preorders", json=body(w, "p1", pay_mode="at_pickup"))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "idempotency_conflict")
    assert client.get(f"{API}/me/preorders").json()["held_fen"] == 1300
    assert purse(ctx, w, "a1") == (0, 200)
    r = client.post(f"{API}/me/preorders/{got['id']}/cancel")
    assert r.json()["status"] == "cancelled"
    assert purse(ctx, w, "a1") == (1000, 500)


def test_another_persons_preorder_is_not_found(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["a1"])
    pid = client.post(f"{API}/me/preorders", json=body(w, "p1")).json()["id"]
    client.cookies.clear()
    sign_in(client, ctx, staff["a2"])
    r = client.post(f"{API}/me/preorders/{pid}/cancel")
    assert r.status_code == 404
    assert purse(ctx, w, "a1") == (0, 200)


def test_the_canteen_counts_and_the_terminal_pickup(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["a2"])
    client.post(f"{API}/me/preorders", json=body(w, "p1"))
    client.cookies.clear()
    sign_in(client, ctx, staff["cm"])
    r = client.get(f"{API}/menus/canteens/{w.canteens['A']}/counts")
    rows = {c["sku"]: c["portions"] for c in r.json()}
    assert rows == {"D1": 1, "D3": 2}
    x = client.get(f"{API}/menus/canteens/{w.canteens['A']}/counts.xlsx")
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert any(row[:4] == ["午餐", "D1", "红烧肉", 1] for row in values), values
    page = client.get(f"/till/preorders?canteen_id={w.canteens['A']}")
    assert page.status_code == 200 and "红烧肉" in page.text
    assert client.get("/till").text.count("/till/preorders") >= 1
    at(ctx, date(2026, 3, 11), 12)
    auth = {"Authorization": f"Terminal T-A1:{w.keys['A']}"}
    pick = {"txn_id": "t-1", "credential": w.cards["a2"]}
    r = client.post(f"{API}/terminal/preorders/pickup", json=pick, headers=auth)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["payment"]["result"] == "approved" and first["payment"]["amount_fen"] == 1300
    assert first["preorder"]["status"] == "picked_up" and first["replayed"] is False
    again = client.post(
        f"{API}/terminal/preorders/pickup", json={**pick, "txn_id": "t-2"}, headers=auth
    ).json()
    assert again["replayed"] is True
    assert again["payment"]["payment_id"] == first["payment"]["payment_id"]
    # The till's pick-up button: picked up already, nothing charged again.
    client.cookies.clear()
    sign_in(client, ctx, staff["cm"])
    page = client.get(f"/till/preorders?canteen_id={w.canteens['A']}")
    r = client.post(
        "/till/pickup",
        data={
            "csrf_token": csrf_of(page.text),
            "canteen_id": w.canteens["A"],
            "credential": w.cards["a2"],
        },
    )
    assert r.status_code == 200 and "未重复扣款" in r.text
    assert purse(ctx, w, "a2") == (3700, 5000)


def test_the_diner_page_preorders_and_cancels(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["a2"])
    page = client.get(f"/me/menu?canteen_id={w.canteens['A']}&week={TOMORROW}")
    form = {
        "csrf_token": csrf_of(page.text),
        "canteen_id": w.canteens["A"],
        "day": TOMORROW,
        "meal": "lunch",
        "request_id": "page-1",
        "pay_mode": "prepaid",
        "sku": ["D1", "D2", "D3"],
        "qty": ["1", "0", "1"],
    }
    r = client.post("/me/menu/preorder", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert purse(ctx, w, "a2") == (3750, 5000)
    r = client.post("/me/menu/preorder", data=form, follow_redirects=False)  # resent
    assert r.status_code == 303 and purse(ctx, w, "a2") == (3750, 5000)
    mine = client.get(r.headers["location"])
    assert "¥12.50" in mine.text and "预订冻结中" in mine.text
    pid = client.get(f"{API}/me/preorders").json()["preorders"][0]["id"]
    r = client.post(
        f"/me/menu/preorders/{pid}/cancel",
        data={"csrf_token": csrf_of(mine.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert purse(ctx, w, "a2") == (5000, 5000)
    at(ctx, date(2026, 3, 10), 18)
    client.cookies.clear()
    sign_in(client, ctx, staff["a2"])
    form["csrf_token"] = csrf_of(client.get("/me/menu").text)
    form["request_id"] = "page-2"
    r = client.post("/me/menu/preorder", data=form)
    assert r.status_code == 200 and "已过预订截止时间" in r.text


def test_the_manager_keeps_the_week_on_the_till_menu_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["cm"])
    cid = w.canteens["A"]
    page = client.get(f"/till/menu?canteen_id={cid}&week=2026-03-12")
    assert page.status_code == 200 and "红烧肉" in page.text
    token = csrf_of(page.text)
    r = client.post(
        "/till/menu",
        data={
            "csrf_token": token,
            "canteen_id": cid,
            "day": "2026-03-12",
            "meal": "lunch",
            "sku": ["D2", "D3"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    week = client.get(f"{API}/menus/canteens/{cid}?week=2026-03-12").json()
    day = next(d for d in week["days"] if d["day"] == "2026-03-12")
    lunch = next(m for m in day["meals"] if m["meal"] == "lunch")
    assert [x["sku"] for x in lunch["dishes"]] == ["D2", "D3"]
    r = client.post(
        "/till/menu/rule",
        data={"csrf_token": token, "canteen_id": cid, "cutoff": "20:30", "no_show": "charge"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    rule = client.get(f"{API}/menus/canteens/{cid}").json()
    assert (rule["cutoff"], rule["no_show"]) == ("20:30", "charge")
    # A dish someone pre-ordered stays on the menu: the page says why, nothing changed.
    client.cookies.clear()
    sign_in(client, ctx, staff["a2"])
    client.post(f"{API}/me/preorders", json=body(w, "p1"))
    client.cookies.clear()
    sign_in(client, ctx, staff["cm"])
    page = client.get(f"/till/menu?canteen_id={cid}&week={TOMORROW}")
    r = client.post(
        "/till/menu",
        data={
            "csrf_token": csrf_of(page.text),
            "canteen_id": cid,
            "day": TOMORROW,
            "meal": "lunch",
            "sku": ["D2"],
        },
    )
    assert r.status_code == 200 and "已有人预订" in r.text
    # Someone else's diner may not open it.
    client.cookies.clear()
    sign_in(client, ctx, staff["a1"])
    assert client.get(f"/till/menu?canteen_id={cid}").status_code == 403
