"""Unit admin and bureau console stories: scopes (403 outside one's unit), rules and
prices, quality scores, roster import with row errors, money runs previewed then run,
the dashboard and its Excel downloads."""

from __future__ import annotations

import io
import re
from datetime import datetime

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from onecard.channels.bank import gateway
from onecard.core.clock import FixedClock, from_local, quarter_of
from onecard.core.context import Context
from onecard.funding import notices
from onecard.funding.models import QualityBand, QualityScore
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.pay.models import MealPrice
from onecard.reports import dashboard
from onecard.waste import service as waste_service
from web.pages import Staff, TestClient, sign_in
from world import World, purse

ROSTER_HEAD = [
    "工号",
    "姓名",
    "单位",
    "人员类别",
    "手机号",
    "月就餐标准(元)",
    "季度就餐标准(元)",
    "银行卡号",
]


def roster_xlsx(rows: list[list[str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(ROSTER_HEAD)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def unit_a_roster(extra: list[list[str]]) -> bytes:
    keep = [
        ["Sa1", "张伟", "U001", "在编", "", "", "600", ""],
        ["Sa2", "王芳", "U001", "在编", "", "", "600", ""],
        ["Sua", "职员ua", "U001", "在编", "", "", "600", ""],
        ["Scm", "职员cm", "U001", "在编", "", "", "600", ""],
    ]
    return roster_xlsx(keep + extra)


@pytest.mark.parametrize(
    "path",
    [
        "/unit/{B}",
        "/unit/{B}/info",
        "/unit/{B}/import",
        "/unit/{B}/quality",
        "/unit/{B}/reports",
        "/unit/{B}/reports.xlsx",
        "/unit/{B}/roster.xlsx",
        "/unit/{B}/canteens/{cB}",
        "/bureau",
        "/bureau/runs",
        "/bureau/dashboard/daily.json",
    ],
)
def test_a_unit_admin_cannot_open_another_units_pages(
    ctx: Context, w: World, staff: Staff, client: TestClient, path: str
) -> None:
    sign_in(client, ctx, "Sua")
    url = path.format(B=w.units["B"], cB=w.canteens["B"])
    assert client.get(url, follow_redirects=False).status_code == 403


def test_a_unit_admin_cannot_write_to_another_unit(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sua")
    b, cb = w.units["B"], w.canteens["B"]
    for url, data in (
        (f"/unit/{b}/canteens/{cb}/rules", {"purse_order": "cash_first"}),
        (f"/unit/{b}/quality", {"canteen_id": str(cb), "quarter": "2026Q1", "score": "10"}),
        (f"/unit/{b}/import", {"payload": "eA=="}),
    ):
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403, url


def test_the_unit_admin_pages_render(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _, home = sign_in(client, ctx, "Sua")
    a = w.units["A"]
    assert home == f"/unit/{a}"
    roster = client.get(home).text
    assert "张伟" in roster and "李娜" not in roster
    assert "财政局机关食堂" in client.get(f"/unit/{a}/info").text
    assert "午餐" in client.get(f"/unit/{a}/canteens/{w.canteens['A']}").text
    assert client.get(f"/unit/{a}/quality").status_code == 200
    report = client.get(f"/unit/{a}/reports?quarter=2026Q1")
    assert "本单位职工在本单位食堂消费" in report.text
    xlsx = client.get(f"/unit/{a}/reports.xlsx?quarter=2026Q1")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert load_workbook(io.BytesIO(xlsx.content)).worksheets[0].max_row > 3


def test_a_unit_sets_its_canteen_prices_and_the_next_payment_uses_them(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sua")
    a, ca = w.units["A"], w.canteens["A"]
    r = client.post(
        f"/unit/{a}/canteens/{ca}/periods",
        data={
            "code": "lunch",
            "name": "午餐",
            "starts": "11:30",
            "ends": "13:30",
            "per_person_limit": "1",
            "own": "3.5",
            "visitor": "6",
            "guest": "10",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with ctx.db.read() as conn:
        prices = set(conn.execute(select(MealPrice.price_fen)).scalars())
    assert {350, 600, 1000} <= prices
    bad = client.post(
        f"/unit/{a}/canteens/{ca}/periods",
        data={"code": "x", "name": "夜宵", "starts": "23:00", "ends": "22:00", "csrf_token": token},
    )
    assert bad.status_code == 422
    assert "开始时间须早于结束时间" in bad.text
    before = purse(ctx, w, "a1")
    till = TestClient(client.app)
    ttoken, _ = sign_in(till, ctx, "Scm")
    till.post(
        "/till/pay",
        data={
            "csrf_token": ttoken,
            "canteen_id": str(ca),
            "credential": w.cards["a1"],
            "mode": "meal",
            "meal": "lunch",
        },
    )
    assert sum(purse(ctx, w, "a1")) == sum(before) - 350


def test_a_unit_scores_its_canteen_operator(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sua")
    a = w.units["A"]
    r = client.post(
        f"/unit/{a}/quality",
        data={
            "canteen_id": str(w.canteens["A"]),
            "quarter": "2026Q1",
            "score": "92",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.db.read() as conn:
        assert conn.execute(select(QualityScore.score)).scalar_one() == 92
    assert ">92<" in client.get(f"/unit/{a}/quality?quarter=2026Q1").text


def test_the_unit_page_scores_less_the_waste_deduction(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """The page is no way around waste.score: a waste notice this quarter costs 5 points."""
    quarter = quarter_of(ctx.clock.today())
    waste_service.issue_notice(ctx, Actor.system("test"), w.canteens["A"], "剩余过多")
    token, _ = sign_in(client, ctx, "Sua")
    data = {"canteen_id": str(w.canteens["A"]), "quarter": quarter, "score": "92"}
    r = client.post(
        f"/unit/{w.units['A']}/quality",
        data={**data, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.db.read() as conn:
        assert conn.execute(select(QualityScore.score)).scalar_one() == 87


def test_a_roster_with_an_error_is_refused_whole_then_a_good_one_is_previewed_and_applied(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sua")
    a = w.units["A"]
    bad = unit_a_roster([["Sa9", "", "U001", "在编", "", "", "600", ""]])
    r = client.post(
        f"/unit/{a}/import",
        data={"csrf_token": token},
        files={"file": ("roster.xlsx", bad, "application/vnd.ms-excel")},
    )
    assert r.status_code == 422
    assert "姓名" in r.text and "不能为空" in r.text
    with ctx.db.read() as conn:
        assert conn.execute(select(Person.id).where(Person.staff_no == "Sa9")).first() is None

    good = unit_a_roster([["Sa9", "赵敏", "U001", "合同", "", "200", "", ""]])
    preview = client.post(
        f"/unit/{a}/import",
        data={"csrf_token": token},
        files={"file": ("roster.xlsx", good, "application/vnd.ms-excel")},
    )
    assert preview.status_code == 200, preview.text
    assert 'data-dry-run="1"' in preview.text and "赵敏" in preview.text
    with ctx.db.read() as conn:
        assert conn.execute(select(Person.id).where(Person.staff_no == "Sa9")).first() is None
    import re

    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload
    done = client.post(
        f"/unit/{a}/import",
        data={
            "csrf_token": token,
            "payload": payload.group(1),
            "confirm": "yes",
            "filename": "roster.xlsx",
        },
    )
    assert done.status_code == 200
    assert 'id="import-done"' in done.text
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Person.name, Person.standard_fen).where(Person.staff_no == "Sa9")
        ).one()
    assert tuple(row) == ("赵敏", 60000)


def _fund_unit(ctx: Context, w: World, unit: str, fen: int) -> None:
    """A unit's funds have reached its income sub-account (as the transfer run leaves them)."""
    with ctx.db.begin() as conn:
        post(
            conn,
            region_id=w.region,
            kind="test_fund",
            key=f"unitfund:{unit}:{fen}",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -fen),
                Leg(account_id(conn, "unit", w.units[unit], "unit_income"), fen),
            ],
            actor="test",
            booked_at=ctx.clock.now(),
        )


def test_the_bureau_previews_a_distribution_then_runs_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _fund_unit(ctx, w, "A", 4 * 60000)
    notices.issue_notices(ctx, Actor.system("bureau"), "2026Q1")  # distribution waits for them
    token, home = sign_in(client, ctx, "Sbu")
    assert home == "/bureau"
    before = purse(ctx, w, "a2")
    data = {"csrf_token": token, "quarter": "2026Q1", "unit_id": str(w.units["A"])}
    preview = client.post("/bureau/runs/distribute", data=data)
    assert preview.status_code == 200, preview.text
    assert 'data-dry-run="1"' in preview.text and 'id="confirm-run"' in preview.text
    assert purse(ctx, w, "a2") == before
    run = client.post("/bureau/runs/distribute", data={**data, "confirm": "yes"})
    assert run.status_code == 200
    assert 'data-dry-run="0"' in run.text
    assert purse(ctx, w, "a2")[0] == before[0] + 60000
    again = client.post("/bureau/runs/distribute", data={**data, "confirm": "yes"})
    assert "无变化" in again.text


def test_a_distribution_beyond_the_units_funds_is_refused_on_the_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    data = {"csrf_token": token, "quarter": "2026Q1", "unit_id": str(w.units["B"])}
    preview = client.post("/bureau/runs/distribute", data=data)
    assert preview.status_code == 200
    assert 'class="alert"' in preview.text
    run = client.post("/bureau/runs/distribute", data={**data, "confirm": "yes"})
    assert run.status_code == 409


def test_finance_reads_the_console_but_cannot_run_money(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, home = sign_in(client, ctx, "Sfi")
    assert home == "/bureau"
    assert "只读" in client.get("/bureau/runs").text
    assert client.get(f"/unit/{w.units['A']}").status_code == 200
    r = client.post(
        "/bureau/runs/distribute",
        data={"csrf_token": token, "quarter": "2026Q1", "unit_id": str(w.units["A"])},
    )
    assert r.status_code == 403


def test_the_console_pages_render(ctx: Context, w: World, staff: Staff, client: TestClient) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    for path in (
        "/bureau",
        "/bureau/terminals",
        "/bureau/notices",
        "/bureau/runs",
        "/bureau/reconciliation",
        "/bureau/dashboard",
        "/bureau/settlements",
    ):
        assert client.get(path).status_code == 200, path
        assert client.get(path + "?lang=en").status_code == 200, path
    r = client.post("/bureau/runs/settle", data={"csrf_token": token, "quarter": "2026Q1"})
    assert r.status_code == 200, r.text
    r = client.post("/bureau/runs/year_end", data={"csrf_token": token, "year": "2026"})
    assert r.status_code == 200, r.text
    r = client.post(
        "/bureau/terminals",
        data={"csrf_token": token, "canteen_id": str(w.canteens["B"]), "code": "T-B2"},
    )
    assert 'id="new-key"' in r.text


def test_every_dashboard_chart_has_json_and_excel(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Scm")
    client.post(
        "/till/pay",
        data={
            "csrf_token": token,
            "canteen_id": str(w.canteens["A"]),
            "credential": w.cards["b1"],
            "mode": "meal",
            "meal": "lunch",
        },
    )
    bureau = TestClient(client.app)
    sign_in(bureau, ctx, "Sbu")
    for key in dashboard.CHARTS:
        data = bureau.get(f"/bureau/dashboard/{key}.json?quarter=2026Q1").json()
        assert data["headers"] and isinstance(data["rows"], list), key
        xlsx = bureau.get(f"/bureau/dashboard/{key}.xlsx?quarter=2026Q1")
        sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
        assert [c.value for c in sheet[1]] == data["headers"], key
    matrix = bureau.get("/bureau/dashboard/matrix.json?quarter=2026Q1").json()
    assert matrix["rows"] == [["市人民医院", "财政局机关食堂", 1, 500]]
    daily = bureau.get("/bureau/dashboard/daily.xlsx?quarter=2026Q1")
    sheet = load_workbook(io.BytesIO(daily.content)).worksheets[0]
    row = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "2026-03-10")
    assert row[1:] == (1, 5.0)  # yuan in Excel, from integer fen
    rush = bureau.get("/bureau/dashboard/rush.json?quarter=2026Q1").json()
    assert rush["title"].endswith("2026-03-10")  # the quarter's last day with payments
    assert {r[0]: r[1] for r in rush["rows"]}["12:00"] == 1
    other_day = bureau.get("/bureau/dashboard/rush.json?quarter=2026Q1&day=2026-03-09").json()
    assert sum(r[1] for r in other_day["rows"]) == 0
    assert bureau.get("/bureau/dashboard?day=2026-03-09").status_code == 200
    assert bureau.get("/bureau/dashboard/nope.json").status_code == 404


def test_the_bureau_settles_a_quarter_and_downloads_the_statement(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from sqlalchemy import update

    from onecard.org.models import Unit
    from onecard.pay.service import PaymentRequest, pay

    with ctx.db.begin() as conn:  # a self-operated canteen is paid to its unit's account
        conn.execute(update(Unit).where(Unit.id == w.units["A"]).values(bank_account="4305010001"))
    req = PaymentRequest(txn_id="s-1", credential=w.cards["a1"], amount_fen=1000)
    assert pay(ctx, w.terminals["A"], req).approved
    ua = TestClient(client.app)
    utoken, _ = sign_in(ua, ctx, "Sub")
    ua.post(
        f"/unit/{w.units['B']}/quality",
        data={
            "canteen_id": str(w.canteens["B"]),
            "quarter": "2026Q1",
            "score": "95",
            "csrf_token": utoken,
        },
    )
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 4, 1, 9)))  # the quarter has ended
    token, _ = sign_in(client, ctx, "Sbu")
    data = {"csrf_token": token, "quarter": "2026Q1"}
    preview = client.post("/bureau/runs/settle", data=data)
    assert preview.status_code == 200, preview.text
    assert 'id="confirm-run"' in preview.text and 'id="calendar-objection"' not in preview.text
    assert 'id="run-summary"' in preview.text and "基点" not in preview.text
    assert "尚未结算" in client.get("/bureau/settlements?quarter=2026Q1").text
    done = client.post("/bureau/runs/settle", data={**data, "confirm": "yes"})
    assert done.status_code == 200, done.text
    page = client.get("/bureau/settlements?quarter=2026Q1")
    assert "已关账" in page.text and "10.00" in page.text
    pdf = client.get(f"/bureau/settlements/{w.canteens['A']}.pdf?quarter=2026Q1")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    xlsx = client.get(f"/bureau/settlements/{w.canteens['A']}.xlsx?quarter=2026Q1")
    assert load_workbook(io.BytesIO(xlsx.content)).worksheets[0].max_row > 1
    receipts = client.post("/bureau/runs/receipts", data={**data, "day": "2026-03-10"})
    assert receipts.status_code == 200, receipts.text


def test_a_unit_fills_in_its_information_table(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.funding.models import UnitInfo

    token, _ = sign_in(client, ctx, "Sua")
    a = w.units["A"]
    template = client.get(f"/unit/{a}/info.xlsx")
    wb = load_workbook(io.BytesIO(template.content))
    ws = wb.worksheets[0]
    assert [ws.cell(row=r, column=1).value for r in range(2, ws.max_row + 1)] == ["市财政局"]
    header = [c.value for c in ws[1]]
    ws.cell(row=2, column=header.index("服务人员数") + 1, value=12)
    ws.cell(row=2, column=header.index("午餐标准(元)") + 1, value="15.5")
    buf = io.BytesIO()
    wb.save(buf)
    preview = client.post(
        f"/unit/{a}/import?what=info",
        data={"csrf_token": token},
        files={"file": ("info.xlsx", buf.getvalue(), "application/vnd.ms-excel")},
    )
    assert preview.status_code == 200, preview.text
    import re

    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload, preview.text
    done = client.post(
        f"/unit/{a}/import?what=info",
        data={"csrf_token": token, "payload": payload.group(1), "confirm": "yes"},
    )
    assert 'id="import-done"' in done.text, done.text
    with ctx.db.read() as conn:
        row = conn.execute(
            select(UnitInfo.service_staff, UnitInfo.lunch_fen).where(UnitInfo.unit_id == a)
        ).one()
    assert tuple(row) == (12, 1550)
    assert "15.50" in client.get(f"/unit/{a}/info").text


def test_a_unit_admin_manages_a_persons_cards_and_leaving(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.pay.models import Card

    token, _ = sign_in(client, ctx, "Sua")
    a, a1 = w.units["A"], w.people["a1"]
    page = client.get(f"/unit/{a}/people/{a1}")
    assert page.status_code == 200 and w.cards["a1"] in page.text
    url = f"/unit/{a}/people/{a1}/cards"
    r = client.post(url, data={"csrf_token": token, "action": "lost", "card_no": w.cards["a1"]})
    assert "已挂失" in r.text
    r = client.post(url, data={"csrf_token": token, "action": "replace", "card_no": w.cards["a1"]})
    assert "已补卡" in r.text
    with ctx.db.read() as conn:
        statuses = sorted(conn.execute(select(Card.status).where(Card.person_id == a1)).scalars())
    assert statuses == ["active", "cancelled"]
    # Someone else's card, even of the same unit, is not this person's.
    other = client.post(url, data={"csrf_token": token, "action": "lost", "card_no": w.cards["a2"]})
    assert other.status_code == 404

    _subsidy, cash = purse(ctx, w, "a1")
    r = client.post(f"/unit/{a}/people/{a1}/leave", data={"csrf_token": token})
    assert "已办理离职" in r.text
    assert purse(ctx, w, "a1") == (0, cash)

    ub = TestClient(client.app)
    sign_in(ub, ctx, "Sub")
    assert ub.get(f"/unit/{a}/people/{a1}").status_code == 403
    assert ub.get(f"/unit/{w.units['B']}/people/{a1}").status_code == 404


def test_an_unmatched_receipt_is_assigned_on_the_notices_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.channels.bank import DINING_FUND_ACCOUNT
    from onecard.channels.sandbox import SandboxBank

    bank = gateway(ctx)
    assert isinstance(bank, SandboxBank)
    bank.open_outside_account("99990000", "某不明单位", 50000)
    bank.credit_from_outside("99990000", DINING_FUND_ACCOUNT, 1234, "伙食费")
    token, _ = sign_in(client, ctx, "Sbu")
    data = {"csrf_token": token, "quarter": "2026Q1", "day": "2026-03-10"}
    assert client.post("/bureau/runs/receipts", data=data).status_code == 200
    assert (
        "伙食费" not in client.get("/bureau/notices?quarter=2026Q1").text
    )  # a preview wrote nothing
    run = client.post("/bureau/runs/receipts", data={**data, "confirm": "yes"})
    assert run.status_code == 200, run.text
    page = client.get("/bureau/notices?quarter=2026Q1").text
    serial = re.search(r'action="/bureau/receipts/([^/"]+)/assign"', page)
    assert serial and "伙食费" in page
    r = client.post(
        f"/bureau/receipts/{serial.group(1)}/assign",
        data={"csrf_token": token, "unit_id": str(w.units["C"]), "quarter": "2026Q1"},
    )
    assert r.status_code == 200 and "已认领给 市档案馆" in r.text
    again = client.post(
        f"/bureau/receipts/{serial.group(1)}/assign",
        data={"csrf_token": token, "unit_id": str(w.units["A"]), "quarter": "2026Q1"},
    )
    assert again.status_code == 409
    log = client.get("/bureau/audit").text
    assert "assign_receipt" in log and "import_receipts" in log


def test_a_large_carried_file_reaches_the_importer(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """A confirmed import sends its file back as a form field larger than Starlette's
    default 1 MB field limit; it must reach the importer (here: not a readable file)."""
    import base64

    token, _ = sign_in(client, ctx, "Sua")
    payload = base64.b64encode(b"PK" + b"\0" * 1_200_000).decode()
    r = client.post(
        f"/unit/{w.units['A']}/import",
        data={"csrf_token": token, "payload": payload, "confirm": "yes", "filename": "r.xlsx"},
        files={"nofile": ("", b"", "application/octet-stream")},
    )
    assert r.status_code == 422
    assert "Excel" in r.text


def test_a_unit_sets_the_quality_bands_of_its_canteen(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sub")
    b, cb = w.units["B"], w.canteens["B"]
    r = client.post(
        f"/unit/{b}/quality/bands",
        data={"csrf_token": token, "canteen_id": str(cb), "bands": "90:100, 80:98.5，0:95"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with ctx.db.read() as conn:
        bands = conn.execute(
            select(QualityBand.min_score, QualityBand.share_bp).order_by(QualityBand.min_score)
        ).all()
    assert [tuple(x) for x in bands] == [(0, 9500), (80, 9850), (90, 10000)]
    bad = client.post(
        f"/unit/{b}/quality/bands",
        data={"csrf_token": token, "canteen_id": str(cb), "bands": "90:100"},
    )
    assert bad.status_code == 422 and "0 分" in bad.text
    assert "80:98.5" in client.get(f"/unit/{b}/quality").text
