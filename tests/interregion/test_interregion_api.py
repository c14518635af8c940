"""The cross-region API and page as the bureau sees them (issue 17 §2)."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook
from test_interregion_dining import (
    HOST_ACCOUNT,
    bank_with_money,
    county_world,
    ledger_ok,
    lunch,
)

from onecard.core.context import Context
from onecard.web.app import create_app
from web.pages import TestClient, add_staff, sign_in

API = "/api/v1/interregion"


def client(app: Any, ctx: Context, staff_no: str) -> TestClient:
    c = TestClient(app)
    c.__enter__()
    sign_in(c, ctx, staff_no)
    return c


def test_the_bureaus_agree_compute_confirm_and_book_through_the_api(ctx: Context) -> None:
    w, c = county_world(ctx)
    add_staff(ctx, w)
    app = create_app(ctx)
    bu, ua = client(app, ctx, "Sbu"), client(app, ctx, "Sua")
    body = {
        "side": "home",
        "home_region_id": c.region,
        "host_region_id": w.region,
        "unit_ids": [c.units["K"]],
        "price_class": "visitor",
        "purse": "subsidy_first",
        "valid_from": "2026-01-01",
        "host_account_no": HOST_ACCOUNT,
        "host_account_name": "郴州市机关事务管理局",
    }
    assert ua.post(f"{API}/agreements", json=body).status_code == 403
    r = bu.post(f"{API}/agreements", json={**body, "unit_ids": [w.units["A"]]})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "unknown_reference")
    r = bu.post(f"{API}/agreements", json=body)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert bu.post(f"{API}/agreements/{aid}/accept", json={"side": "home"}).status_code == 403
    r = bu.post(f"{API}/agreements/{aid}/accept", json={"side": "host"})
    assert r.json() == {"status": "accepted"}
    listed = bu.get(f"{API}/agreements").json()
    assert [(a["id"], a["status"], a["unit_ids"]) for a in listed] == [
        (aid, "accepted", [c.units["K"]])
    ]

    assert lunch(ctx, w, c, "k1", "A", "api-1")["amount_fen"] == 500
    assert lunch(ctx, w, c, "l1", "A", "api-2")["code"] == "foreign_region"
    q = {"home_region_id": c.region, "host_region_id": w.region, "quarter": "2026Q1"}
    s = bu.post(f"{API}/statements", json=q).json()
    assert (s["gross_fen"], s["payments"], s["status"]) == (500, 1, "open")
    sid = s["id"]
    x = bu.get(f"{API}/statements/{sid}.xlsx")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd")
    ws = load_workbook(io.BytesIO(x.content)).active
    assert ws is not None and list(ws.iter_rows(values_only=True))[-1][3] == 5
    for side, status in (("home", "open"), ("host", "confirmed")):
        r = bu.post(f"{API}/statements/{sid}/confirm", json={"side": side})
        assert r.json() == {"status": status}
    r = bu.post(f"{API}/statements/{sid}/confirm", json={"side": "host"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "state_conflict")
    bank_with_money(ctx).open_outside_account(HOST_ACCOUNT, "郴州市机关事务管理局")
    booked = bu.post(f"{API}/statements/{sid}/book").json()
    assert (booked["status"], booked["order_id"], booked["problem"]) == (
        "booked",
        f"IR{sid}-1",
        None,
    )
    assert bu.post(f"{API}/statements/{sid}/book").json()["entry_id"] == booked["entry_id"]
    ledger_ok(ctx)

    page = bu.get("/bureau/interregion")
    assert page.status_code == 200 and "桂阳县" in page.text and "待双方确认" not in page.text
    assert ua.get("/bureau/interregion").status_code == 403
    for cl in (bu, ua):
        cl.__exit__(None, None, None)
