"""The administration API, driven as a signed-in unit admin or bureau admin would.

Cards: issue, lost (refused at the till at once), unfreeze, replace (balance intact),
cancel. Terminals: register (key shown once), revoke (refused at the next request).
Rules: the owning unit's admin sets prices and who is served; another unit's admin gets
403 and nothing changes.
"""

from __future__ import annotations

from typing import Any

import pytest

from onecard.core.context import Context
from web.pages import Staff, TestClient, add_staff, sign_in
from world import World, build_world, fund, purse

PAY = "/api/v1/terminal/payments"


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=5000)
    return world


@pytest.fixture
def staff(ctx: Context, w: World) -> Staff:
    return add_staff(ctx, w)


def as_(ctx: Context, who: str, staff: Staff) -> TestClient:
    from onecard.web.app import create_app

    client = TestClient(create_app(ctx))
    sign_in(client, ctx, staff[who])
    return client


def pay(client: TestClient, w: World, txn: str, cred: str, terminal: str = "A") -> Any:
    auth = {"Authorization": f"Terminal T-{terminal}1:{w.keys[terminal]}"}
    return client.post(PAY, json={"txn_id": txn, "credential": cred, "meal": "lunch"}, headers=auth)


def test_card_life_cycle_through_the_api(ctx: Context, w: World, staff: Staff) -> None:
    with as_(ctx, "ua", staff) as ua:
        card = w.cards["a1"]
        assert ua.post(f"/api/v1/admin/cards/{card}/lost").json()["status"] == "lost"
        refused = pay(ua, w, "t1", card).json()
        assert (refused["result"], refused["code"]) == ("refused", "card_lost")
        assert ua.post(f"/api/v1/admin/cards/{card}/unfreeze").json()["status"] == "active"
        assert pay(ua, w, "t2", card).json()["result"] == "approved"
        new = ua.post(f"/api/v1/admin/cards/{card}/replace", json={}).json()["card_no"]
        assert new != card and len(new) == 16
        assert pay(ua, w, "t3", card).json()["code"] == "card_cancelled"
        assert purse(ctx, w, "a1") == (4700, 0)  # the lunch at 300; the balance stayed
        # Another unit's person: 403, nothing changes.
        r = ua.post(f"/api/v1/admin/cards/{w.cards['b1']}/lost")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert ua.post(f"/api/v1/admin/people/{w.people['b1']}/cards", json={}).status_code == 403
        # A second active card for the same person is a conflict.
        r = ua.post(f"/api/v1/admin/people/{w.people['a1']}/cards", json={})
        assert r.status_code == 409
        r = ua.post(f"/api/v1/admin/people/{w.people['a1']}/cards", json={"card_no": "12ab"})
        assert r.status_code == 422
        assert ua.post("/api/v1/admin/cards/9999999999/lost").status_code == 404


def test_a_form_post_to_the_api_is_refused(ctx: Context, w: World, staff: Staff) -> None:
    with as_(ctx, "ua", staff) as ua:
        r = ua.post(
            f"/api/v1/admin/cards/{w.cards['a1']}/lost",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 415
        assert pay(ua, w, "t1", w.cards["a1"]).json()["result"] == "approved"


def test_terminals_are_registered_by_the_bureau_and_revoked(
    ctx: Context, w: World, staff: Staff
) -> None:
    with as_(ctx, "ua", staff) as ua:
        body = {"canteen_id": w.canteens["A"], "code": "T-A9"}
        assert ua.post("/api/v1/admin/terminals", json=body).status_code == 403
    with as_(ctx, "bu", staff) as bu:
        got = bu.post("/api/v1/admin/terminals", json=body).json()
        assert got["code"] == "T-A9" and len(got["device_key"]) >= 32
        assert bu.post("/api/v1/admin/terminals", json=body).status_code == 409
        bad = bu.post("/api/v1/admin/terminals", json={**body, "code": "坏 编号"})
        assert bad.status_code == 422
        auth = {"Authorization": f"Terminal T-A9:{got['device_key']}"}
        lunch = {"txn_id": "n1", "credential": w.cards["a1"], "meal": "lunch"}
        # Registered = installed: it pays once accepted and made live (rollout/states.py).
        assert got["status"] == "installed"
        r = bu.post(PAY, json={**lunch, "txn_id": "n0"}, headers=auth)
        assert r.status_code == 403 and r.json()["error"]["code"] == "terminal_not_live"
        tid = next(
            t["id"] for t in bu.get("/api/v1/rollout/terminals").json() if t["code"] == "T-A9"
        )
        for move in ("accept", "live"):
            assert bu.post(f"/api/v1/rollout/terminals/{tid}/{move}").status_code == 200
        assert bu.post(PAY, json=lunch, headers=auth).json()["result"] == "approved"
        assert bu.post("/api/v1/admin/terminals/T-A9/revoke").json()["status"] == "revoked"
        r = bu.post(PAY, json={**lunch, "txn_id": "n2"}, headers=auth)
        assert r.status_code == 403


def test_the_owning_unit_sets_prices_and_rules(ctx: Context, w: World, staff: Staff) -> None:
    cid = w.canteens["A"]
    period = {
        "name": "午餐",
        "starts": "11:00",
        "ends": "13:30",
        "per_person_limit": 1,
        "prices": {"own": 350, "visitor": 550, "guest": 900},
    }
    with as_(ctx, "ub", staff) as ub:
        assert (
            ub.put(f"/api/v1/admin/canteens/{cid}/meal-periods/lunch", json=period).status_code
            == 403
        )
        assert ub.get(f"/api/v1/admin/canteens/{cid}/rules").status_code == 403
    with as_(ctx, "ua", staff) as ua:
        r = ua.put(f"/api/v1/admin/canteens/{cid}/meal-periods/lunch", json=period)
        assert r.status_code == 200, r.text
        overlap = {**period, "name": "加餐", "starts": "13:00", "ends": "14:00"}
        r = ua.put(f"/api/v1/admin/canteens/{cid}/meal-periods/extra", json=overlap)
        assert r.status_code == 422 and "重叠" in r.json()["error"]["message"]
        negative = {**period, "prices": {"own": -1}}
        r = ua.put(f"/api/v1/admin/canteens/{cid}/meal-periods/lunch", json=negative)
        assert r.status_code == 422
        rules = {"serves_visitors": False, "serves_guests": False, "purse_order": "cash_first"}
        assert ua.put(f"/api/v1/admin/canteens/{cid}/rules", json=rules).status_code == 204
        got = ua.get(f"/api/v1/admin/canteens/{cid}/rules").json()
        assert got["purse_order"] == "cash_first" and not got["serves_visitors"]
        lunch = next(p for p in got["meal_periods"] if p["code"] == "lunch")
        assert lunch["prices"] == {"own": 350, "visitor": 550, "guest": 900}
        assert pay(ua, w, "p1", w.cards["a1"]).json()["amount_fen"] == 350
        assert pay(ua, w, "p2", w.cards["b1"]).json()["code"] == "visitors_not_served"
