"""Issue 14 §4, phone and till: the diner's statement read from the ledger (every kind of
movement, signed, paged, by Beijing year), ratings that start unchosen, and the till's
day list, reversal of any payment inside the window (and not after), shift report.

Entries of the money runs' kinds are booked here straight through ``ledger.post`` (as
``world.fund`` does): the statement is a read model of postings, and the runs' own
calendars are not what is tested."""

from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import load_workbook
from sqlalchemy import func, select

from onecard.audit.models import AuditEvent
from onecard.core.clock import FixedClock, from_local, to_local
from onecard.core.context import Context
from onecard.feedback.models import Rating
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.pay.models import Payment
from onecard.pay.service import PaymentRequest, pay
from onecard.pay.statement import statement, statement_years
from onecard.pay.till_queries import shift_report
from web.pages import Staff, TestClient, sign_in
from world import World, purse


def _clock(ctx: Context) -> FixedClock:
    assert isinstance(ctx.clock, FixedClock)
    return ctx.clock


def book(
    ctx: Context,
    w: World,
    who: str,
    kind: str,
    at: datetime,
    subsidy: int = 0,
    cash: int = 0,
    reference: str = "",
    memo: str = "",
) -> None:
    """One entry of ``kind`` moving ``subsidy``/``cash`` fen into (+) or out of (−) the
    person's purses, against the bank clearing account, at Beijing time ``at``."""
    _clock(ctx).set(from_local(at))
    with ctx.db.begin() as conn:
        pid = w.people[who]
        legs = []
        if subsidy:
            legs.append(Leg(account_id(conn, "person", pid, "subsidy"), subsidy))
        if cash:
            legs.append(Leg(account_id(conn, "person", pid, "cash"), cash))
        legs.append(Leg(system_account(conn, "bank_clearing"), -(subsidy + cash)))
        post(
            conn,
            region_id=w.region,
            kind=kind,
            key=f"t:{kind}:{who}:{at.isoformat()}",
            legs=legs,
            actor="test",
            booked_at=ctx.clock.now(),
            business_day=at.date(),
            reference=reference,
            memo=memo,
        )


def a_year_of_c1(ctx: Context, w: World) -> str:
    """c1 (unit C, no money at first): allocations, a year-end clearing, a top-up, then a
    lunch at canteen A (a visitor: 5.00) that is reversed, and another that stays.
    Returns the kept lunch's txn id."""
    book(ctx, w, "c1", "distribution", datetime(2025, 4, 2, 9), subsidy=18000, memo="3/3 个月")
    book(ctx, w, "c1", "distribution", datetime(2025, 10, 2, 9), subsidy=18000)
    # 20:00 Beijing on 31 December: 2025 (12:00 UTC).
    book(
        ctx,
        w,
        "c1",
        "year_end",
        datetime(2025, 12, 31, 20),
        subsidy=-30000,
        reference="2025 年末清零",
    )
    # 00:30 Beijing on 1 January is 2026, though it is still 31 December in UTC.
    book(ctx, w, "c1", "distribution", datetime(2026, 1, 1, 0, 30), subsidy=18000)
    book(ctx, w, "c1", "topup", datetime(2026, 3, 9, 20), cash=5000, reference="充值 T-1")
    _clock(ctx).set(from_local(datetime(2026, 3, 10, 12)))
    assert pay(ctx, w.terminals["A"], PaymentRequest("c1-a", w.cards["c1"], meal="lunch")).approved
    from onecard.pay.reversal import reverse

    reverse(ctx, w.terminals["A"], "c1-a")
    _clock(ctx).advance(minutes=1)
    assert pay(ctx, w.terminals["A"], PaymentRequest("c1-b", w.cards["c1"], meal="lunch")).approved
    return "c1-b"


def test_the_statement_shows_where_the_balance_came_from(ctx: Context, w: World) -> None:
    a_year_of_c1(ctx, w)
    pid = w.people["c1"]
    now = statement(ctx, pid, 2026)
    kinds = [r["kind"] for r in now.rows]
    assert kinds == ["payment", "reversal", "payment", "topup", "distribution"]
    changes = [r["change_fen"] for r in now.rows]
    assert changes == [-500, 500, -500, 5000, 18000]
    # Each purse's part, with its sign: the top-up is cash, the allocation subsidy.
    top = now.rows[3]
    assert (top["subsidy_fen"], top["cash_fen"]) == (0, 5000)
    assert now.rows[0]["canteen"] == "财政局机关食堂" and now.rows[0]["meal"] == "午餐"
    assert now.rows[1]["canteen"] == "财政局机关食堂"  # the reversal names the canteen too
    assert now.rows[2]["payment_status"] == "reversed" and not now.rows[2]["rateable"]
    assert now.rows[0]["rateable"]
    # The running balance: the newest equals the purses now; each row is the next plus
    # its own change; the oldest of 2026 starts from what 2025 left (6000).
    assert now.rows[0]["balance_after_fen"] == sum(purse(ctx, w, "c1"))
    for newer, older in zip(now.rows, now.rows[1:], strict=False):
        assert newer["balance_after_fen"] == older["balance_after_fen"] + newer["change_fen"]
    assert now.rows[-1]["balance_after_fen"] == 6000 + 18000
    # The Beijing year: 00:30 on 1 January 2026 is in 2026, 20:00 on 31 December in 2025.
    assert now.rows[-1]["at"] == datetime(2026, 1, 1, 0, 30)
    last = statement(ctx, pid, 2025)
    assert [(r["kind"], r["change_fen"]) for r in last.rows] == [
        ("year_end", -30000),
        ("distribution", 18000),
        ("distribution", 18000),
    ]
    assert last.rows[0]["balance_after_fen"] == 6000
    # The allocation's months from its memo ("3/3 个月"); one without a memo says nothing.
    assert [r["months"] for r in last.rows] == [None, None, 3]
    assert len(statement(ctx, pid, None).rows) == 8
    assert statement_years(ctx, pid) == [2026, 2025]
    assert statement(ctx, pid, 2024).rows == []


def test_the_statement_pages(ctx: Context, w: World) -> None:
    for i in range(45):
        book(ctx, w, "c1", "topup", datetime(2026, 2, 1, 8, i), cash=100 + i)
    pid = w.people["c1"]
    pages = [statement(ctx, pid, 2026, n, 20) for n in (1, 2, 3)]
    assert [len(p.rows) for p in pages] == [20, 20, 5]
    assert [p.has_next for p in pages] == [True, True, False]
    assert [p.has_prev for p in pages] == [False, True, True]
    seen = [r["change_fen"] for p in pages for r in p.rows]
    assert seen == [100 + i for i in reversed(range(45))]  # newest first, none twice
    assert statement(ctx, pid, 2026, 4, 20).rows == []


def test_the_statement_page_on_a_phone(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    a_year_of_c1(ctx, w)
    sign_in(client, ctx, "Sc1")
    page = client.get("/me/transactions").text  # this year (2026) by default
    assert '<option value="2026" selected>' in page and '<option value="2025"' in page
    for words in ("经费拨付", "自费充值", "消费", "冲正退回", "+50.00", "-5.00", "+180.00"):
        assert words in page, words
    assert 'data-kind="year_end"' not in page
    old = client.get("/me/transactions?year=2025").text
    assert 'data-kind="year_end"' in old and "-300.00" in old and "2025-12-31 20:00" in old
    en = client.get("/me/transactions?year=2025&lang=en").text
    assert "Year-end clearing" in en and "Quarterly allocation" in en
    assert "3/3 个月" in old and "3 of 3 months" in en and "个月" not in en
    assert client.get("/me/transactions?year=1999").status_code == 422
    assert client.get("/me/transactions?page=0").status_code == 422
    home = client.get("/me?lang=zh-CN").text
    assert "冲正退回" in home and 'href="/me/rate/' in home


def test_paging_links(ctx: Context, w: World, staff: Staff, client: TestClient) -> None:
    for i in range(25):
        book(ctx, w, "c1", "topup", datetime(2026, 2, 1, 8, i), cash=100)
    sign_in(client, ctx, "Sc1")
    first = client.get("/me/transactions?year=2026").text
    assert first.count('class="tx ') == 20
    assert 'href="/me/transactions?year=2026&amp;page=2"' in first
    second = client.get("/me/transactions?year=2026&page=2").text
    assert second.count('class="tx ') == 5 and 'rel="next"' not in second


def test_ratings_start_unchosen_and_a_missing_star_is_named(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    paid = pay(ctx, w.terminals["A"], PaymentRequest("r-1", w.cards["a1"], meal="lunch"))
    pid = paid.data["payment_id"]
    token, _ = sign_in(client, ctx, "Sa1")
    form = client.get(f"/me/rate/{pid}").text
    assert form.count('type="radio"') == 20 and "checked" not in form
    r = client.post(f"/me/rate/{pid}", data={"taste": "4", "comment": "好吃", "csrf_token": token})
    assert r.status_code == 422
    assert "尚未选择：卫生、服务、性价比" in r.text
    assert 'name="taste" value="4" required checked' in r.text and "好吃" in r.text
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Rating)).scalar_one() == 0
    stars = {"taste": "4", "hygiene": "5", "service": "3", "value": "4"}
    ok = client.post(f"/me/rate/{pid}", data={**stars, "csrf_token": token})
    assert ok.status_code == 200 and "谢谢您的评价" in ok.text


# --- the till -----------------------------------------------------------------------------------
def _till_pay(client: TestClient, token: str, w: World, who: str, **how: str) -> str:
    data = {"csrf_token": token, "canteen_id": str(w.canteens["A"]), "credential": w.cards[who]}
    data.update(how or {"mode": "meal", "meal": "lunch"})
    r = client.post("/till/pay", data=data, headers={"HX-Request": "true"})
    assert r.status_code == 200
    return r.text


def _txn(ctx: Context, who_id: int, nth: int = 0) -> str:
    with ctx.db.read() as conn:
        return str(
            conn.execute(
                select(Payment.txn_id)
                .where(Payment.person_id == who_id, Payment.status != "refused")
                .order_by(Payment.id)
            ).all()[nth][0]
        )


def _reverse(client: TestClient, token: str, w: World, txn: str) -> str:
    r = client.post(
        "/till/reverse",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"]), "txn_id": txn},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    return r.text


def test_the_till_lists_todays_payments_of_its_own_canteen(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Scm")
    out = _till_pay(client, token, w, "a1")
    # Canteen B's terminal takes b1's lunch: not on canteen A's till.
    assert pay(ctx, w.terminals["B"], PaymentRequest("b-1", w.cards["b1"], meal="lunch")).approved
    assert 'id="till-today" hx-swap-oob="true"' in out and "张伟" in out
    page = client.get("/till").text
    rows = re.findall(r'<li class="till-row [a-z]+" data-txn="([^"]+)"', page)
    assert rows == [_txn(ctx, w.people["a1"])]
    assert 'data-txn="b-1"' not in page and "李娜" not in page
    # Yesterday's payments are not today's.
    _clock(ctx).advance(days=1)
    assert 'data-txn="' not in client.get("/till").text


def test_the_till_reverses_an_older_payment_within_the_window_and_not_after(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Scm")
    start = sum(purse(ctx, w, "a1"))
    _till_pay(client, token, w, "a1", mode="amount", amount="12.50")
    _clock(ctx).advance(minutes=2)
    _till_pay(client, token, w, "a1", mode="amount", amount="3.00")
    first = _txn(ctx, w.people["a1"], 0)
    page = client.get("/till").text
    assert page.count('name="txn_id"') == 2  # both may still be reversed
    # The older one, not the last: its money comes back, the other stays taken.
    out = _reverse(client, token, w, first)
    assert 'data-result="reversed"' in out and "12.50" in out
    assert sum(purse(ctx, w, "a1")) == start - 300
    with ctx.db.read() as conn:
        event = conn.execute(
            select(AuditEvent.kind, AuditEvent.action, AuditEvent.target).where(
                AuditEvent.action == "reversal"
            )
        ).one()
    assert event.kind == "refund" and first in event.target
    # Past the window (10 minutes): no button, and the server refuses a forged form.
    _clock(ctx).advance(seconds=ctx.settings.reversal_window_seconds + 1)
    second = _txn(ctx, w.people["a1"], 1)
    page = client.get("/till").text
    assert 'name="txn_id"' not in page and f'data-txn="{second}"' in page
    refused = _reverse(client, token, w, second)
    assert 'data-result="refused"' in refused and "冲正时限" in refused
    assert sum(purse(ctx, w, "a1")) == start - 300
    # Another terminal's payment is not this till's to reverse.
    pay(ctx, w.terminals["B"], PaymentRequest("b-2", w.cards["b1"], meal="lunch"))
    assert 'data-result="refused"' in _reverse(client, token, w, "b-2")
    with ctx.db.read() as conn:
        assert conn.execute(select(Payment.status).where(Payment.txn_id == "b-2")).scalar_one() == (
            "approved"
        )


def test_the_shift_report_adds_up_the_payments(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Scm")
    _till_pay(client, token, w, "a1")  # lunch, own: 3.00
    _till_pay(client, token, w, "b1")  # lunch, visitor: 5.00
    _till_pay(client, token, w, "a1", mode="amount", amount="12.34")
    _till_pay(client, token, w, "a2", mode="amount", amount="1.00")  # a2 has no money: refused
    _till_pay(client, token, w, "a1", mode="amount", amount="2.00")
    _reverse(client, token, w, _txn(ctx, w.people["a1"], 2))  # the 2.00 is reversed
    with ctx.db.read() as conn:
        approved = conn.execute(
            select(func.count(), func.sum(Payment.amount_fen), func.sum(Payment.subsidy_fen)).where(
                Payment.terminal_id == w.terminals["A"].id, Payment.status == "approved"
            )
        ).one()
    report = shift_report(ctx, w.terminals["A"], to_local(ctx.clock.now()).date())
    assert (report.count, report.total_fen, report.subsidy_fen) == tuple(approved)
    assert (report.count, report.total_fen) == (3, 300 + 500 + 1234)
    assert report.subsidy_fen + report.cash_fen == report.total_fen
    assert [(m["meal"], m["count"], m["total_fen"]) for m in report.by_meal] == [
        ("午餐", 2, 800),
        (None, 1, 1234),
    ]
    assert (report.reversed_count, report.reversed_fen) == (1, 200)
    page = client.get(f"/till/report?canteen_id={w.canteens['A']}")
    assert page.status_code == 200
    assert 'id="shift-count">3<' in page.text and 'id="shift-total">20.34<' in page.text
    assert "data-print" in page.text and "午餐" in page.text
    sheet = client.get(f"/till/report?canteen_id={w.canteens['A']}&fmt=xlsx")
    assert sheet.status_code == 200
    ws = load_workbook(io.BytesIO(sheet.content)).active
    assert ws is not None
    rows = {r[2]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["合计"][3:6] == (3, 20.34, report.subsidy_fen / 100)  # yuan as numbers
    assert rows["午餐"][3:5] == (2, 8.0) and rows["已冲正"][3:5] == (1, 2.0)
    assert client.get("/till/report?fmt=pdf").status_code == 422
    assert client.get("/till/report?day=2099-01-01").status_code == 422
    assert client.get("/till/report?day=yesterday").status_code == 422
    earlier = client.get("/till/report?day=2026-03-09").text
    assert 'id="shift-count">0<' in earlier
