"""Every change a person makes leaves an audit event — who, when, from where, what, before
and after (issue 11, item 5: only 1 of 9 admin actions tried left a record before).

Each action is done the way people do it (the JSON API or the pages, signed in), so the
origin is the client's address ("testclient" under the test client).
"""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select

from onecard.audit import records as funding_audit
from onecard.audit.models import AuditEvent
from onecard.audit.verify import verify_database
from onecard.core.context import Context
from onecard.org.actors import Actor
from web.pages import Staff, TestClient, sign_in
from world import World

PAY = "/api/v1/terminal/payments"


def events(ctx: Context, kind: str | None = None) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        q = select(AuditEvent.__table__).order_by(AuditEvent.seq)
        if kind:
            q = q.where(AuditEvent.kind == kind)
        out = []
        for r in conn.execute(q):
            row = dict(r._mapping)
            for k in ("before", "after", "data"):
                row[k] = json.loads(row[k]) if row[k] else None
            out.append(row)
    return out


def by(ctx: Context, action: str) -> dict[str, Any]:
    found = [e for e in events(ctx) if e["action"] == action]
    assert len(found) == 1, (action, [e["action"] for e in events(ctx)])
    return found[0]


def test_card_lost_unfreeze_and_replace(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["ua"])
    card = w.cards["a1"]
    assert client.post(f"/api/v1/admin/cards/{card}/lost").status_code == 200
    assert client.post(f"/api/v1/admin/cards/{card}/unfreeze").status_code == 200
    new = client.post(f"/api/v1/admin/cards/{card}/replace", json={}).json()["card_no"]
    lost, unfrozen, replaced = (
        by(ctx, "card_lost"),
        by(ctx, "card_unfrozen"),
        by(ctx, "card_replaced"),
    )
    for e in (lost, unfrozen, replaced):
        assert e["kind"] == "card" and e["target"] == card
        assert e["actor_person_id"] == w.people["ua"] and e["origin"] == "testclient"
        assert (e["person_id"], e["unit_id"]) == (w.people["a1"], w.units["A"])
    assert (lost["before"], lost["after"]) == ({"status": "active"}, {"status": "lost"})
    assert unfrozen["after"] == {"status": "active"}
    assert replaced["after"] == {"status": "cancelled", "new_card_no": new}


def test_canteen_rules_and_a_one_fen_lunch(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["ua"])
    cid = w.canteens["A"]
    rules = {"serves_visitors": False, "serves_guests": True, "purse_order": "cash_first"}
    assert client.put(f"/api/v1/admin/canteens/{cid}/rules", json=rules).status_code == 204
    period = {
        "name": "午餐",
        "starts": "11:30",
        "ends": "13:30",
        "per_person_limit": 1,
        "prices": {"own": 1, "visitor": 500, "guest": 800},
    }
    assert client.put(f"/api/v1/admin/canteens/{cid}/meal-periods/lunch", json=period).is_success
    r = by(ctx, "canteen_rules")
    assert r["before"] == {"serves_visitors": True, "purse_order": "subsidy_first"}
    assert r["after"] == {"serves_visitors": False, "purse_order": "cash_first"}
    price = by(ctx, "meal_period")
    assert price["before"] == {"prices": {"guest": 800, "own": 300, "visitor": 500}}
    assert price["after"] == {"prices": {"guest": 800, "own": 1, "visitor": 500}}
    assert price["unit_id"] == w.units["A"] and price["origin"] == "testclient"
    # Saving the same again changes nothing and records nothing.
    client.put(f"/api/v1/admin/canteens/{cid}/meal-periods/lunch", json=period)
    assert len(events(ctx, "rules")) == 2


def test_terminal_registration_and_revocation(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["bu"])
    body = {"canteen_id": w.canteens["B"], "code": "T-B9", "name": "二号窗口"}
    key = client.post("/api/v1/admin/terminals", json=body).json()["device_key"]
    assert client.post("/api/v1/admin/terminals/T-B9/revoke").status_code == 200
    reg, rev = by(ctx, "terminal_registered"), by(ctx, "terminal_revoked")
    assert reg["after"]["canteen"] == "人民医院职工食堂" and reg["unit_id"] == w.units["B"]
    assert key not in json.dumps(reg, default=str)  # never a secret in the trail
    # Registered = installed (it pays once accepted and live: rollout/states.py).
    assert (rev["before"], rev["after"]) == ({"status": "installed"}, {"status": "revoked"})
    assert rev["actor_person_id"] == w.people["bu"]


def test_refunds_and_till_reversals_made_by_a_person(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    auth = {"Authorization": f"Terminal T-A1:{w.keys['A']}"}
    paid = client.post(
        PAY, json={"txn_id": "r1", "credential": w.cards["a1"], "amount_fen": 800}, headers=auth
    ).json()
    assert paid["result"] == "approved" and events(ctx) == []  # a payment is no audit record
    token, _ = sign_in(client, ctx, staff["cm"])
    refund = {"request_id": "rf-1", "amount_fen": 300, "reason": "菜凉了"}
    assert client.post(f"/api/v1/payments/{paid['payment_id']}/refunds", json=refund).is_success
    e = by(ctx, "refund")
    assert e["kind"] == "refund" and e["actor_person_id"] == w.people["cm"]
    assert e["before"]["refunded_fen"] == 0 and e["after"]["refunded_fen"] == 300
    assert e["data"] == {"amount_fen": 300, "reason": "菜凉了"}
    data = {"csrf_token": token, "canteen_id": str(w.canteens["A"]), "credential": w.cards["a1"]}
    client.post("/till/pay", data={**data, "mode": "amount", "amount": "2"})
    client.post("/till/reverse", data={"csrf_token": token, "canteen_id": str(w.canteens["A"])})
    rev = by(ctx, "reversal")
    assert (rev["before"]["status"], rev["after"]["status"]) == ("approved", "reversed")
    assert rev["person_id"] == w.people["a1"] and rev["origin"] == "testclient"


def _roster(rows: list[list[str]]) -> bytes:
    from onecard.org.imports import ROSTER_COLUMNS

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(ROSTER_COLUMNS))
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_roster_import_records_each_person_and_a_re_pointed_bank_card(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["ua"])
    data = _roster(
        [
            ["Sa1", "张伟", "U001", "在编", "", "", "600", "6228480000000009"],  # card re-pointed
            ["Sua", "职员ua", "U001", "在编", "", "", "600", ""],
            ["Scm", "职员cm", "U001", "在编", "", "", "600", ""],
            ["S200", "新同事", "U001", "合同", "", "", "600", ""],
        ]
    )
    r = client.post(
        "/api/v1/funding/roster/import?filename=r.xlsx",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    roster = events(ctx, "roster")
    assert [e["action"] for e in roster] == [
        "person_changed",
        "person_added",
        "person_left",
        "import_roster",
    ]
    changed = roster[0]
    assert changed["person_id"] == w.people["a1"] and changed["target"] == "Sa1 张伟"
    assert changed["before"] == {"bank_card_no": "62170000a1"}
    assert changed["after"] == {"bank_card_no": "6228480000000009"}
    assert roster[1]["after"]["name"] == "新同事"
    assert roster[2]["person_id"] == w.people["a2"] and roster[2]["after"]["status"] == "left"
    assert roster[3]["data"] == {"rows": 4, "new": 1, "changed": 1, "leaving": 1}
    assert all(e["origin"] == "testclient" and e["unit_id"] == w.units["A"] for e in roster)


def test_money_runs_and_sign_ins_through_the_funding_wrapper(ctx: Context, w: World) -> None:
    """``audit.records.record`` keeps its signature: money runs call it, and so will the
    sign-in code (web/accounts.py) — a sign-in concerns the person signing in."""
    from onecard.audit.service import origin
    from onecard.funding import notices

    notices.issue_notices(ctx, Actor.system("cli"), "2026Q2", dry_run=True)
    assert events(ctx) == []  # a dry run writes nothing, not even an audit event
    notices.issue_notices(ctx, Actor.system("cli"), "2026Q2")
    (run,) = events(ctx, "money_run")
    assert (run["action"], run["actor"], run["target"]) == ("issue_notices", "cli", "2026Q2")
    assert run["data"]["new_notices"] == 3
    person = Actor("person:1:张伟", person_id=w.people["a1"], unit_id=w.units["A"])
    with origin("203.0.113.7"), ctx.db.begin() as conn:
        funding_audit.record(conn, ctx, person, "sign_in_failed", "Sa1", {"failures": 3})
        funding_audit.record(conn, ctx, person, "sign_in", "Sa1", {})
    failed, ok = events(ctx, "sign_in")
    assert (failed["action"], failed["origin"], failed["data"]) == (
        "sign_in_failed",
        "203.0.113.7",
        {"failures": 3},
    )
    assert (ok["person_id"], ok["unit_id"]) == (w.people["a1"], w.units["A"])
    assert [r["action"] for r in funding_audit.records(ctx, "sign_in")] == ["sign_in"]
    assert verify_database(ctx).ok


def test_a_rotated_payment_code_secret_from_the_person_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, staff["ua"])
    r = client.post(
        f"/unit/{w.units['A']}/people/{w.people['a1']}/paycode",
        data={"csrf_token": token, "action": "phone_lost"},
    )
    assert r.status_code == 200 and "已挂失手机" in r.text
    e = by(ctx, "phone_lost")
    assert e["kind"] == "paycode" and e["actor_person_id"] == w.people["ua"]
    assert e["before"]["token"] != e["after"]["token"]


def test_the_catalogue_records_who_changed_goods_prices_stock_and_the_shop_rule(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["bu"])
    api = "/api/v1/catalogue"
    water = {"barcode": "6901234567892", "name": "矿泉水", "price_fen": 200}
    body = {"valid_from": "2026-03-01", "prices": [water]}
    assert client.post(f"{api}/reference-prices", json=body).status_code == 200
    rule = {"goods_from_subsidy": True}
    assert client.put(f"{api}/units/{w.units['A']}/shop-rule", json=rule).status_code == 204
    client.post("/logout")
    sign_in(client, ctx, staff["cm"])
    cid = w.canteens["A"]
    good = {"name": "矿泉水", "price_fen": 190, "barcode": "6901234567892"}
    item = client.put(f"{api}/canteens/{cid}/goods/G1", json=good).json()["id"]
    client.put(f"{api}/canteens/{cid}/goods/G1", json={**good, "price_fen": 180})
    client.post(f"{api}/goods/{item}/stock", json={"kind": "count", "qty": 7})
    published = by(ctx, "reference_prices_published")
    assert published["kind"] == "catalogue" and published["actor_person_id"] == w.people["bu"]
    shop_rule = by(ctx, "shop_rule")
    assert shop_rule["kind"] == "rules" and shop_rule["unit_id"] == w.units["A"]
    assert (shop_rule["before"], shop_rule["after"]) == (
        {"goods_from_subsidy": False},
        {"goods_from_subsidy": True},
    )
    saved = [e for e in events(ctx, "catalogue") if e["action"] == "goods_saved"]
    assert [e["actor_person_id"] for e in saved] == [w.people["cm"]] * 2
    assert (saved[1]["before"], saved[1]["after"]) == ({"price_fen": 190}, {"price_fen": 180})
    take = by(ctx, "stock_count")
    assert (take["before"], take["after"]) == ({"stock_qty": 0}, {"stock_qty": 7})
    assert take["origin"] == "testclient" and take["unit_id"] == w.units["A"]


def test_the_chain_holds_after_all_of_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    test_card_lost_unfreeze_and_replace(ctx, w, staff, client)
    test_canteen_rules_and_a_one_fen_lunch(ctx, w, staff, client)
    rep = verify_database(ctx)
    assert rep.ok and rep.events == len(events(ctx)) == rep.head_seq
