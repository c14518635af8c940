"""The unit's own funding page (issue 14 §1): its notices with what to pay and where,
what arrived and when, late or short, who was paid how much (a late joiner prorated,
a leaver's subsidy back), what came back at year end — and the same as Excel with money
as numbers and totals rows. Only the unit's own admin (and the bureau's readers) see it."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from onecard.channels.bank import DINING_FUND_ACCOUNT
from onecard.channels.sandbox import SandboxBank
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.funding import distribution, notices, settlement, unit_view, year_end
from onecard.org import builders as b
from onecard.org.actors import Actor
from web.pages import Staff, TestClient, sign_in
from world import World

BUREAU = Actor.system("bureau")
UNIT_A_ACCOUNT = "43050100000000000101"


def at(ctx: Context, day: date, hour: int = 9) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(day.year, day.month, day.day, hour)))


@pytest.fixture
def year(ctx: Context, w: World, staff: Staff) -> dict[str, Any]:
    return unit_year(ctx, w)


def unit_year(ctx: Context, w: World) -> dict[str, Any]:
    """Unit A's 2026: notice for Q1 (4 people × 600.00 = 2,400.00 due by 10 January),
    paid 2,000.00 on 8 January and 1,000.00 late on 20 January (600.00 over);
    distributed on 25 January; a joiner on 10 February paid 2/3 of a quarter in March;
    a leaver on 5 March (subsidy back); Q1–Q4 settled; year-end clearing in January."""
    bank = ctx.bank
    assert isinstance(bank, SandboxBank)
    bank.open_outside_account(UNIT_A_ACCOUNT, "市财政局", 10_000_000)
    at(ctx, date(2026, 1, 2))
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    ref = notices.notice_reference("U001", "2026Q1")
    at(ctx, date(2026, 1, 8))
    bank.credit_from_outside(UNIT_A_ACCOUNT, DINING_FUND_ACCOUNT, 200000, f"就餐经费 {ref}")
    notices.import_receipts(ctx, BUREAU, date(2026, 1, 8))
    at(ctx, date(2026, 1, 20))
    bank.credit_from_outside(UNIT_A_ACCOUNT, DINING_FUND_ACCOUNT, 100000, f"补缴 {ref}")
    notices.import_receipts(ctx, BUREAU, date(2026, 1, 20))
    notices.transfer_to_income(ctx, BUREAU)
    at(ctx, date(2026, 1, 25))
    distribution.distribute(ctx, BUREAU, w.units["A"], "2026Q1")
    at(ctx, date(2026, 2, 20))
    with ctx.db.begin() as conn:
        joiner = b.create_person(
            conn,
            w.region,
            w.units["A"],
            "SJ1",
            "新同事",
            standard_fen=60000,
            joined_on=date(2026, 2, 10),
        )
    at(ctx, date(2026, 3, 5))
    distribution.leave(ctx, BUREAU, w.people["a2"], date(2026, 3, 5))
    at(ctx, date(2026, 3, 6))
    distribution.distribute(ctx, BUREAU, w.units["A"], "2026Q1")
    at(ctx, date(2027, 1, 2))
    for q in ("2026Q1", "2026Q2", "2026Q3", "2026Q4"):
        settlement.settle_quarter(ctx, BUREAU, q)
    year_end.clear_year(ctx, BUREAU, 2026)
    return {"joiner": joiner}


def test_the_unit_admin_reads_the_units_year(
    ctx: Context, w: World, staff: Staff, client: TestClient, year: dict[str, Any]
) -> None:
    view = unit_view.unit_funding(
        ctx, Actor("ua", grants=frozenset({("unit_admin", w.units["A"], None)})), w.units["A"], 2026
    )
    [n] = view.notices
    assert (n["reference"], n["headcount"], n["amount_due_fen"]) == ("JF-U001-2026Q1", 4, 240000)
    assert (n["paid_fen"], n["difference_fen"], n["status"], n["late"]) == (
        300000,
        60000,
        "over",
        True,
    )
    assert [(r["day"], r["amount_fen"], r["late"]) for r in n["receipts"]] == [
        (date(2026, 1, 8), 200000, False),
        (date(2026, 1, 20), 100000, True),
    ]
    joiner = next(d for d in view.distributed if d["staff_no"] == "SJ1")
    assert (joiner["months"], joiner["amount_fen"], joiner["paid_on"]) == (
        2,
        40000,
        date(2026, 3, 6),
    )
    assert len(view.distributed) == 5 and view.totals["distributed_fen"] == 4 * 60000 + 40000
    [back] = view.returned
    assert (back["staff_no"], back["amount_fen"], back["left_on"]) == (
        "Sa2",
        60000,
        date(2026, 3, 5),
    )
    cleared = {r["staff_no"]: r["amount_fen"] for r in view.year_end}
    # The leaver's purse was emptied when she left; the joiner's 2/3 is cleared; a1 also
    # had the world's opening subsidy.
    assert "Sa2" not in cleared and cleared["SJ1"] == 40000 and cleared["Sua"] == 60000
    assert view.totals["year_end_fen"] == sum(cleared.values())
    assert {r["to"] for r in view.year_end} == {"退回单位"}

    sign_in(client, ctx, "Sua")
    page = client.get(f"/unit/{w.units['A']}/funding?year=2026")
    assert page.status_code == 200
    text = page.text
    for shown in (
        "JF-U001-2026Q1",
        DINING_FUND_ACCOUNT,
        "市机关事务管理局就餐资金专户",
        "2,400.00",  # due
        "3,000.00",  # paid
        "+600.00",  # over
        "多缴",
        "逾期",
        "2026-01-20",
        "新同事",
        "2/3",
        "400.00",
        "2026-03-05",
        "年末清零退回",
    ):
        assert shown in text, shown
    assert 'href="/unit/{}/funding"'.format(w.units["A"]) in text  # the unit's nav links it
    assert client.get(f"/unit/{w.units['A']}/funding?year=1999").status_code == 422


def test_the_excel_has_numbers_and_totals(
    ctx: Context, w: World, staff: Staff, client: TestClient, year: dict[str, Any]
) -> None:
    sign_in(client, ctx, "Sua")
    resp = client.get(f"/unit/{w.units['A']}/funding.xlsx?year=2026")
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(resp.content))
    ws = wb["缴款通知"]
    head = [c.value for c in ws[2]]
    row = {h: c for h, c in zip(head, ws[3], strict=True)}
    assert row["通知编号"].value == "JF-U001-2026Q1"
    due = row["应缴(元)"]
    assert isinstance(due.value, (int, float, Decimal)) and due.value == 2400
    assert due.number_format == "0.00"
    assert row["差额(元)"].value == 600
    total = {h: c.value for h, c in zip(head, ws[ws.max_row], strict=True)}
    assert total["季度"] == "合计" and total["应缴(元)"] == 2400 and total["已缴(元)"] == 3000
    dist = wb["拨付明细"]
    dh = [c.value for c in dist[2]]
    amounts = [r[dh.index("金额(元)")].value for r in dist.iter_rows(min_row=3)]
    assert amounts[:-1].count(600) == 4 and 400 in amounts[:-1]
    assert amounts[-1] == 4 * 600 + 400 and dist.cell(dist.max_row, 1).value == "合计"
    assert all(isinstance(v, (int, float, Decimal)) for v in amounts), (
        "money in Excel is numbers, never text"
    )
    ye = wb["年末清零"]
    cleared = [r[2].value for r in ye.iter_rows(min_row=3, max_row=ye.max_row - 1)]
    assert ye.cell(ye.max_row, 3).value == sum(cleared) and 400 in cleared


@pytest.mark.parametrize("path", ["/unit/{B}/funding", "/unit/{B}/funding.xlsx"])
def test_another_units_admin_is_refused(
    ctx: Context, w: World, staff: Staff, client: TestClient, path: str
) -> None:
    sign_in(client, ctx, "Sua")
    assert client.get(path.format(B=w.units["B"])).status_code == 403
    assert client.get(path.format(B=999999)).status_code == 403  # nothing learnt either


def test_the_service_checks_the_actor_too(ctx: Context, w: World) -> None:
    from onecard.core.errors import Forbidden

    other = Actor("ub", grants=frozenset({("unit_admin", w.units["B"], None)}))
    with pytest.raises(Forbidden):
        unit_view.unit_funding(ctx, other, w.units["A"], 2026)


def test_finance_reads_any_units_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, "Sfi")
    page = client.get(f"/unit/{w.units['B']}/funding")
    assert page.status_code == 200 and "本年度尚未收到缴款通知" in page.text
    assert client.get(f"/unit/{w.units['B']}/funding?lang=en").status_code == 200
