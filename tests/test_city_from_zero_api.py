"""A city from zero to its first lunch through the JSON API and the command line only —
the same journey as ``web/test_browser_city_from_zero.py``, on SQLite and PostgreSQL.

``onecard init``'s functions start the city on the fresh database; people sign in at
``/login`` (the sign-in is a form for every client; the session then opens the API) and
everything else is ``/api/v1`` or ``onecard …``: the information table (3 units, 2
canteens, one outsourced with its operator's account), unit admins and their activation
codes, a roster and its codes, a card, a diner's activation, the terminal from planned to
live, a passed inspection, the canteen live, the quarter's notices, the unit's payment
read from the bank's statement file, the transfer and the distribution, a payment at the
live terminal, the public directory — and each bad input (a duplicate unit code, an
unknown owner unit, a bank account failing its check digit, a terminal paying before it
is live, a go-live before the inspection, retiring a unit with money) answered in the
documented error shape with nothing changed. ``onecard ledger verify`` closes the
journey (conftest verifies the ledger again after the test).

The clock is the suite's FixedClock (Tuesday 10 March 2026, 12:00 Beijing): quarter
2026Q1, and authenticator codes computed at that clock.
"""

from __future__ import annotations

import re
import warnings
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from cityfiles import OPERATOR_BANK, UNIT_BANK, info_table, roster
from onecard.channels.bank import DINING_FUND_ACCOUNT, gateway
from onecard.channels.sandbox import SandboxBank
from onecard.core.context import Context
from onecard.ledger.models import JournalEntry
from onecard.org.actors import Actor
from onecard.org.start import start_city
from onecard.web.accounts import issue_enrolment_code
from onecard.web.app import create_app
from org.orgtools import bad_card_number, everything
from pay.test_card_cli import run
from web.pages import csrf_of, totp_now

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ORG = "/api/v1/org"
RAW = {"Content-Type": "application/octet-stream"}
QUARTER = "2026Q1"


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def refused(resp: Any, status: int, code: str) -> str:
    """The documented error shape: ``{"error": {"code", "message", …}}``."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


def entries(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one())


def sign_in(client: Any, staff_no: str, password: str) -> str:
    """The /login form (as every client signs in); returns where it sends the session."""
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        data={"staff_no": staff_no, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_a_city_from_zero_to_its_first_lunch_through_the_api_and_cli(
    ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1. onecard init: the same functions the command calls.
    s = ctx.settings
    system = Actor.system("cli:test")
    started = start_city(
        ctx,
        system,
        city="郴州市",
        code=s.region_code,
        network_no=s.region_no,
        bureau_name="郴州市机关事务管理局",
        bureau_code="BUREAU",
        admin_staff_no="A0001",
        admin_name="张建国",
    )
    enrolment = issue_enrolment_code(ctx, system, started.admin_id)
    app = create_app(ctx)
    with (
        TestClient(app) as bureau,
        TestClient(app) as unit_admin,
        TestClient(app) as diner,
        TestClient(app) as terminal,
        TestClient(app) as public,
    ):
        journey(ctx, capsys, bureau, unit_admin, diner, terminal, public, started, enrolment)

    # The books balance (conftest checks again).
    code, out = run(ctx, capsys, "ledger", "verify")
    assert code == 0 and "OK" in out, out


def journey(
    ctx: Context,
    capsys: pytest.CaptureFixture[str],
    bureau: Any,
    unit_admin: Any,
    diner: Any,
    terminal: Any,
    public: Any,
    started: Any,
    enrolment: str,
) -> None:
    # The bureau admin: the one-time password, the forced change, the authenticator.
    assert sign_in(bureau, "A0001", started.password) == "/login/password"
    refused(bureau.get(f"{ORG}/units"), 403, "password_change_required")
    token = csrf_of(bureau.get("/login/password").text)
    r = bureau.post(
        "/login/password",
        data={"current": started.password, "new": "Chenzhou2026", "confirm": "Chenzhou2026",
              "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert r.headers["location"] == "/login/totp"
    secret = re.search(r"[A-Z2-7]{32}", bureau.get("/login/totp").text)
    assert secret
    r = bureau.post(
        "/login/totp",
        data={"code": totp_now(ctx, secret.group(0)), "enrolment_code": enrolment,
              "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert r.headers["location"] == "/bureau"
    assert ok(bureau.get(f"{ORG}/units"))[0]["code"] == "BUREAU"

    # 2. The information table: three broken files refused whole, a dry run, the file.
    url = f"{ORG}/info-table/import"
    before = everything(ctx)
    for bad, reason in (
        (info_table(duplicate=True), "重复"),
        (info_table(unknown_owner=True), "U999"),
        (info_table(bad_bank=True), "校验位"),
    ):
        resp = bureau.post(url, params={"filename": "信息统计表.xlsx"}, content=bad, headers=RAW)
        assert reason in refused(resp, 422, "import_rejected")
        assert everything(ctx) == before
    dry = bureau.post(
        url, params={"dry_run": "true", "filename": "信息统计表.xlsx"}, content=info_table(),
        headers=RAW,
    )  # fmt: skip
    assert ok(dry) and everything(ctx) == before
    ok(bureau.post(url, params={"filename": "信息统计表.xlsx"}, content=info_table(), headers=RAW))
    units = {u["code"]: u for u in ok(bureau.get(f"{ORG}/units"))}
    assert {"U101", "U102", "U103"} <= set(units)
    canteens = {c["code"]: c for c in ok(bureau.get(f"{ORG}/canteens"))}
    assert {"C101", "C102"} <= set(canteens)
    u101, c101 = units["U101"]["id"], canteens["C101"]["id"]
    c102 = ok(bureau.get(f"{ORG}/canteens/{canteens['C102']['id']}"))
    assert c102["operation"] == "outsourced" and c102["operator_bank_account"] == OPERATOR_BANK

    # The same bad inputs one record at a time, by the API and the command line.
    before = everything(ctx)
    msg = refused(bureau.post(f"{ORG}/units", json={"code": "U101", "name": "重复",
                                                  "region_id": started.region_id}), 409, "duplicate_code")  # fmt: skip
    assert "U101" in msg
    code, out = run(ctx, capsys, "org", "unit", "add", "U101", "重复单位")
    assert code in (2, 5) and "U101" in out, out
    resp = bureau.post(
        f"{ORG}/canteens", json={"code": "C900", "name": "无主食堂", "unit_id": 999999}
    )
    assert "999999" in refused(resp, 422, "unknown_reference")
    resp = bureau.post(
        f"{ORG}/canteens",
        json={"code": "C901", "name": "坏账户食堂", "unit_id": u101, "operation": "outsourced",
              "operator_name": "某公司", "operator_bank_account": bad_card_number("621700003030300")},
    )  # fmt: skip
    assert "校验位" in refused(resp, 422, "invalid_bank_account")
    assert everything(ctx) == before

    # 3. Unit admins, and the first one's activation code.
    grants = {}
    for staff_no, code_, name in (("UA101", "U101", "钱进"), ("UA102", "U102", "孙丽")):
        grants[staff_no] = ok(
            bureau.post(f"{ORG}/admins", json={"staff_no": staff_no, "role": "unit_admin",
                                               "unit_id": units[code_]["id"], "name": name}),
            201,
        )  # fmt: skip
    issued = ok(bureau.post(f"/api/v1/admin/people/{grants['UA101']['person_id']}/activation-code"))
    assert issued["staff_no"] == "UA101"

    # 4. The unit admin activates, imports the roster, gets the codes, issues a card.
    wrong = {"login": "UA101", "code": "WRONG-CODE2", "password": "Qianjin2026"}
    refused(unit_admin.post("/api/v1/accounts/activate", json=wrong), 401, "bad_activation_code")
    ok(
        unit_admin.post(
            "/api/v1/accounts/activate",
            json={"login": "UA101", "code": issued["code"], "password": "Qianjin2026"},
        )
    )
    assert sign_in(unit_admin, "UA101", "Qianjin2026") == f"/unit/{u101}"
    imported = ok(
        unit_admin.post(
            "/api/v1/funding/roster/import",
            params={"filename": "花名册.xlsx"},
            content=roster(),
            headers=RAW,
        )
    )
    assert [p["staff_no"] for p in imported["new"]] == ["P1001", "P1002"]
    assert imported["leaving"] == [] and imported["applied"]
    codes = ok(unit_admin.post(f"/api/v1/admin/units/{u101}/activation-codes", json={}))
    by_staff = {c["staff_no"]: c for c in codes["codes"]}
    assert set(by_staff) == {"P1001", "P1002"}
    lina = by_staff["P1001"]["person_id"]
    card_no = ok(unit_admin.post(f"/api/v1/admin/people/{lina}/cards", json={}))["card_no"]

    # 5. A diner activates and signs in.
    ok(
        diner.post(
            "/api/v1/accounts/activate",
            json={"login": "P1001", "code": by_staff["P1001"]["code"], "password": "Lina2026ok"},
        )
    )
    assert sign_in(diner, "P1001", "Lina2026ok") == "/me"

    # 6. Rollout. Not yet in the public directory.
    assert "教育局机关食堂" not in public.get("/canteens").text
    created = ok(bureau.post(f"/api/v1/rollout/canteens/{c101}/plan"), 201)["created"]
    assert created == ["C101-T01"]
    tid = ok(bureau.get("/api/v1/rollout/terminals", params={"canteen_id": c101}))[0]["id"]
    key = ok(bureau.post(f"/api/v1/rollout/terminals/{tid}/install"))["device_key"]
    auth = {"Authorization": f"Terminal C101-T01:{key}"}
    spent = entries(ctx)
    lunch = {"txn_id": "lunch-1", "credential": card_no, "amount_fen": 1200}
    refused(terminal.post("/api/v1/terminal/payments", json=lunch, headers=auth), 403,
            "terminal_not_live")  # fmt: skip
    refused(bureau.post(f"/api/v1/rollout/terminals/{tid}/live"), 409, "illegal_transition")
    ok(bureau.post(f"/api/v1/rollout/terminals/{tid}/accept", json={"note": "现场试刷"}))
    refused(terminal.post("/api/v1/terminal/payments", json=lunch, headers=auth), 403,
            "terminal_not_live")  # fmt: skip
    assert entries(ctx) == spent
    code, out = run(ctx, capsys, "rollout", "canteen-live", "C101")
    assert code == 5 and "尚无通过的验收检查" in out, out
    refused(bureau.post(f"/api/v1/rollout/canteens/{c101}/live"), 409, "go_live_refused")
    ok(
        bureau.post(
            f"/api/v1/rollout/canteens/{c101}/inspections",
            json={"inspected_on": "2026-03-10",
                  "items": [{"item": "刷卡与付款码支付成功", "passed": True},
                            {"item": "价目与就餐时段已设置", "passed": True}],
                  "note": "验收通过"},
        ),
        201,
    )  # fmt: skip
    ok(bureau.post(f"/api/v1/rollout/terminals/{tid}/live"))
    code, out = run(ctx, capsys, "rollout", "canteen-live", "C101")
    assert code == 0, out
    assert "教育局机关食堂" in public.get("/canteens").text
    assert "财政局职工食堂" not in public.get("/canteens").text

    # 7. Money: notices, the unit pays at its bank, the statement file, transfer,
    #    distribution.
    ok(bureau.post("/api/v1/funding/notices", json={"quarter": QUARTER}))
    notices = ok(bureau.get(f"/api/v1/funding/notices/{QUARTER}"))
    mine = next(n for n in notices if n["unit_id"] == u101)
    due = int(mine["amount_due_fen"])
    assert (mine["reference"], due, mine["status"]) == ("JF-U101-2026Q1", 3 * 60000, "unpaid")
    bank = gateway(ctx)
    assert isinstance(bank, SandboxBank)
    bank.open_outside_account(UNIT_BANK, "市教育局", 10_000_000)  # the unit, at its bank
    bank.credit_from_outside(UNIT_BANK, DINING_FUND_ACCOUNT, due, mine["reference"])
    statement = bank.statement_file(date(2026, 3, 10))
    read = ok(
        bureau.post(
            "/api/v1/funding/bank/statements/import",
            params={"filename": "statement.csv"},
            content=statement,
            headers={"Content-Type": "text/csv"},
        )
    )
    assert read["new_lines"] >= 1
    again = ok(
        bureau.post(
            "/api/v1/funding/bank/statements/import",
            params={"filename": "statement.csv"},
            content=statement,
            headers={"Content-Type": "text/csv"},
        )
    )
    assert again["new_lines"] == 0  # the same file twice changes nothing
    ok(bureau.post("/api/v1/funding/transfers", json={}))
    ok(bureau.post("/api/v1/funding/distributions", json={"quarter": QUARTER, "unit_id": u101}))
    paid_in = ok(bureau.get(f"/api/v1/funding/notices/{QUARTER}"))
    assert next(n for n in paid_in if n["unit_id"] == u101)["status"] == "paid"
    subsidy = ok(diner.get("/api/v1/me/balances"))["subsidy_fen"]
    assert subsidy > 0

    # Retiring a unit that holds money: refused by the API and the CLI, nothing changed.
    before = everything(ctx)
    assert "本单位人员账户尚有" in refused(
        bureau.post(f"{ORG}/units/{u101}/retire"), 409, "retire_refused"
    )
    code, out = run(ctx, capsys, "org", "unit", "retire", "U101")
    assert code == 5 and "本单位人员账户尚有" in out, out
    assert everything(ctx) == before

    # 8. The first lunch at the live terminal; the same txn again is the same answer.
    paid = ok(terminal.post("/api/v1/terminal/payments", json=lunch, headers=auth))
    assert paid["result"] == "approved", paid
    assert ok(terminal.post("/api/v1/terminal/payments", json=lunch, headers=auth)) == paid
    assert paid["subsidy_fen"] == 1200 and paid["payer"]["name"] == "李娜"
    assert ok(diner.get("/api/v1/me/balances"))["subsidy_fen"] == subsidy - 1200
    (tx,) = ok(diner.get("/api/v1/me/transactions"))
    assert (tx["amount_fen"], tx["canteen"]) == (1200, "教育局机关食堂")
