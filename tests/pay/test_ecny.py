"""e-CNY payments, top-ups, refunds and the day's reconciliation against the sandbox.

Every story ends with ``ledger verify`` (the ``ctx`` fixture) and checks the money on
both sides: the canteen's payable / the person's cash purse in our ledger, the wallet
and the merchant account at the acquirer.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.context import Context
from onecard.core.errors import (
    BadSignature,
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
    RefundExceedsLeft,
)
from onecard.ledger.models import JournalEntry
from onecard.ledger.service import account_id, derived_balance, system_account
from onecard.ledger.verify import verify
from onecard.org.actors import Actor
from onecard.pay import ecny, ecny_recon
from onecard.pay.models import EcnyOrder, EcnyRefund
from onecard.pay.service import PaymentRequest
from world import World, build_world, purse

WALLET = "W-zhang"
GUEST_LUNCH_A = 800  # canteen A's lunch for a guest (tests/world.py)


@pytest.fixture
def sbx(ctx: Context) -> SandboxEcny:
    s = SandboxEcny(b"test-secret", ctx.clock)
    s.open_wallet(WALLET, "张三", 10_000)
    ctx.ecny = s
    return s


@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


def lunch(sbx: SandboxEcny, txn: str = "e1") -> PaymentRequest:
    return PaymentRequest(txn_id=txn, credential=sbx.pay_code(WALLET), meal="lunch")


def payable(ctx: Context, w: World, canteen: str = "A") -> int:
    with ctx.db.read() as conn:
        return derived_balance(
            conn, account_id(conn, "canteen", w.canteens[canteen], "canteen_payable")
        )


def clearing(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return derived_balance(conn, system_account(conn, "ecny_clearing"))


def ecny_entries(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(
            conn.execute(select(func.count()).where(JournalEntry.kind.like("ecny%"))).scalar_one()
        )


def verified(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        report = verify(conn)
    assert report.ok, report.problems[:5]


def test_happy_path_credits_the_canteen_and_never_a_purse(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    before = purse(ctx, w, "a1")
    req = lunch(sbx)
    got = ecny.pay(ctx, w.terminals["A"], req)
    body = json.loads(got.body)
    assert got.status == "succeeded" and body["result"] == "approved"
    assert body["amount_fen"] == GUEST_LUNCH_A and body["diner_class"] == "guest"
    assert payable(ctx, w) == GUEST_LUNCH_A and clearing(ctx) == -GUEST_LUNCH_A
    assert purse(ctx, w, "a1") == before
    assert sbx.wallet_balance(WALLET) == 10_000 - GUEST_LUNCH_A
    assert sbx.merchant_balance() == GUEST_LUNCH_A
    # The notice that follows books nothing more; a retry gets the same bytes.
    assert ecny.deliver_sandbox_notices(ctx) == 1
    again = ecny.pay(ctx, w.terminals["A"], req)
    assert again.body == got.body and ecny_entries(ctx) == 1
    verified(ctx)


def test_a_wallet_short_of_money_is_refused_and_books_nothing(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    sbx.open_wallet("W-poor", "穷", 100)
    req = PaymentRequest("e2", sbx.pay_code("W-poor"), meal="lunch")
    got = ecny.pay(ctx, w.terminals["A"], req)
    body = json.loads(got.body)
    assert got.status == "failed" and body["code"] == "ecny_declined"
    assert ecny_entries(ctx) == 0 and payable(ctx, w) == 0
    verified(ctx)


def test_bad_input_writes_nothing_and_asks_no_one(ctx: Context, w: World, sbx: SandboxEcny) -> None:
    for bad in (
        PaymentRequest("e3", "0100", meal="lunch"),
        PaymentRequest("e3", "８" * 19, meal="lunch"),
        PaymentRequest("e3", sbx.pay_code(WALLET), amount_fen=0),
        PaymentRequest("", sbx.pay_code(WALLET), amount_fen=100),
    ):
        with pytest.raises((InvalidInput, InvalidAmount)):
            ecny.pay(ctx, w.terminals["A"], bad)
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(EcnyOrder)).scalar_one() == 0
    assert sbx.merchant_balance() == 0


def test_outside_meal_hours_is_refused_before_the_acquirer_is_asked(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    req = PaymentRequest("e4", sbx.pay_code(WALLET), meal="breakfast")
    got = ecny.pay(ctx, w.terminals["A"], req)
    assert got.status == "refused" and json.loads(got.body)["code"] == "outside_meal_period"
    assert sbx.merchant_balance() == 0 and sbx.wallet_balance(WALLET) == 10_000


def test_duplicated_late_and_out_of_order_notices_book_once(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    sbx.behave(late=True, duplicate=True, reverse=True, timeouts=2)
    first = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "n1"))
    # the reply was lost, then the query found it: booked from the query
    assert first.status == "succeeded"
    second = ecny.pay(
        ctx, w.terminals["B"], PaymentRequest("n2", sbx.pay_code(WALLET), amount_fen=250)
    )
    assert second.status == "succeeded"
    assert ecny.deliver_sandbox_notices(ctx) == 0  # all held back (late)
    assert sbx.release_late() == 4  # two orders, each twice
    assert ecny.deliver_sandbox_notices(ctx) == 4  # newest first, each twice
    assert ecny_entries(ctx) == 2
    assert payable(ctx, w, "A") == GUEST_LUNCH_A and payable(ctx, w, "B") == 250
    assert clearing(ctx) == -(GUEST_LUNCH_A + 250)
    verified(ctx)


def test_a_notice_before_our_own_booking_is_the_one_that_books(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    """Out of order: the acquirer's notice arrives while we are still between its answer
    and our commit — the notice books, our own booking finds it done."""
    real_settle = ecny.settle
    calls: list[str] = []

    def notice_first(c: Context, trade: ecny.EcnyTrade) -> str:
        if not calls:
            calls.append("notice")
            ecny.deliver_sandbox_notices(c)
        return real_settle(c, trade)

    ecny.settle = notice_first  # type: ignore[assignment]
    try:
        got = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "o1"))
    finally:
        ecny.settle = real_settle  # type: ignore[assignment]
    assert got.status == "succeeded" and ecny_entries(ctx) == 1
    verified(ctx)


def test_a_timeout_after_taking_the_money_is_resolved_by_query(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    sbx.behave(timeouts=1, down=1)  # the reply is lost, and so is our one query
    got = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "t1"))
    assert got.status == "pending" and json.loads(got.body)["result"] == "pending"
    assert sbx.merchant_balance() == GUEST_LUNCH_A and payable(ctx, w) == 0
    verified(ctx)
    done = ecny.resolve(ctx, older_than_s=0)
    assert (done.asked, done.succeeded) == (1, 1)
    assert payable(ctx, w) == GUEST_LUNCH_A
    again = ecny.stored_answer(ctx, w.terminals["A"], "t1")
    assert json.loads(again.body)["result"] == "approved"
    assert ecny.resolve(ctx, older_than_s=0).asked == 0 and ecny_entries(ctx) == 1
    verified(ctx)


def test_a_crash_between_the_answer_and_our_commit_loses_nothing(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    real_settle = ecny.settle

    def crash(c: Context, trade: ecny.EcnyTrade) -> str:
        raise RuntimeError("the process died here")

    ecny.settle = crash  # type: ignore[assignment]
    try:
        with pytest.raises(RuntimeError):
            ecny.pay(ctx, w.terminals["A"], lunch(sbx, "c1"))
    finally:
        ecny.settle = real_settle  # type: ignore[assignment]
    with ctx.db.read() as conn:
        assert conn.execute(select(EcnyOrder.status)).scalar_one() == "pending"
    assert sbx.merchant_balance() == GUEST_LUNCH_A and payable(ctx, w) == 0
    verified(ctx)
    assert ecny.resolve(ctx, older_than_s=0).succeeded == 1
    ecny.deliver_sandbox_notices(ctx)  # the acquirer's notice comes too: nothing twice
    assert payable(ctx, w) == GUEST_LUNCH_A and ecny_entries(ctx) == 1
    verified(ctx)


def test_an_order_the_acquirer_never_saw_is_closed_and_failed(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    sbx.behave(down=2)  # neither the payment nor our query reaches it
    got = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "d1"))
    assert got.status == "pending"
    assert ecny.resolve(ctx, older_than_s=0).failed == 1
    assert sbx.merchant_balance() == 0 and ecny_entries(ctx) == 0
    # a late copy of the request is refused at the acquirer: no money moves
    order_no = got.order_no
    assert sbx.micropay(order_no, sbx.pay_code(WALLET), GUEST_LUNCH_A, "x").status == "CLOSED"
    assert sbx.merchant_balance() == 0


def test_a_bad_signature_is_refused_with_nothing_written(
    ctx: Context, w: World, sbx: SandboxEcny
) -> None:
    sbx.behave(late=True)
    got = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "s1"))
    assert got.status == "succeeded"
    sbx.release_late()
    (body, sig), *_ = sbx.pending_notices()
    forged = body.replace(b"SUCCESS", b"FAILED")
    with pytest.raises(BadSignature):
        ecny.handle_notice(ctx, forged, sig)
    with pytest.raises(BadSignature):
        ecny.handle_notice(ctx, body, "0" * 64)
    assert ecny.handle_notice(ctx, body, sig) == "succeeded"
    assert ecny_entries(ctx) == 1
    verified(ctx)


def test_refund_goes_back_to_the_wallet(ctx: Context, w: World, sbx: SandboxEcny) -> None:
    got = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "r1"))
    manager = Actor.system("test")
    r = ecny.refund(ctx, manager, got.order_no, 300, "RF-1", "菜凉了")
    assert r.status == "succeeded"
    assert sbx.wallet_balance(WALLET) == 10_000 - GUEST_LUNCH_A + 300
    assert payable(ctx, w) == GUEST_LUNCH_A - 300 and clearing(ctx) == -(GUEST_LUNCH_A - 300)
    # the same refund again is a retry; more than what is left is refused
    assert ecny.refund(ctx, manager, got.order_no, 300, "RF-1").status == "succeeded"
    with pytest.raises(IdempotencyConflict):
        ecny.refund(ctx, manager, got.order_no, 200, "RF-1")
    with pytest.raises(RefundExceedsLeft):  # 409: at most ¥5.00 is left
        ecny.refund(ctx, manager, got.order_no, GUEST_LUNCH_A, "RF-2")
    ecny.deliver_sandbox_notices(ctx)
    assert sbx.wallet_balance(WALLET) == 10_000 - GUEST_LUNCH_A + 300
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(EcnyRefund)).scalar_one() == 1
    verified(ctx)


def test_a_refund_that_timed_out_is_resolved(ctx: Context, w: World, sbx: SandboxEcny) -> None:
    got = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "r2"))
    sbx.behave(down=1)
    r = ecny.refund(ctx, Actor.system("test"), got.order_no, GUEST_LUNCH_A, "RF-3")
    assert r.status == "pending" and payable(ctx, w) == GUEST_LUNCH_A
    assert ecny.resolve(ctx, older_than_s=0).succeeded == 1
    assert payable(ctx, w) == 0 and sbx.wallet_balance(WALLET) == 10_000
    verified(ctx)


def test_cash_topup_by_ecny(ctx: Context, w: World, sbx: SandboxEcny) -> None:
    pid = w.people["a1"]
    got = ecny.topup(ctx, Actor.system("test"), pid, sbx.pay_code(WALLET), 2_000, "Q-1")
    assert got.status == "succeeded"
    assert purse(ctx, w, "a1") == (0, 2_000) and clearing(ctx) == -2_000
    again = ecny.topup(ctx, Actor.system("test"), pid, sbx.pay_code(WALLET), 2_000, "Q-1")
    assert again.status == "succeeded" and purse(ctx, w, "a1") == (0, 2_000)
    assert sbx.wallet_balance(WALLET) == 8_000
    # the diner's statement (/me) shows it in words
    from onecard.pay.statement import kind_words, statement

    (row,) = [r for r in statement(ctx, pid, None, 1, 10).rows if r["kind"] == "ecny_topup"]
    assert kind_words(row["kind"], "zh-CN") == "数字人民币充值"
    verified(ctx)


def test_reconciliation_lists_the_mismatches(ctx: Context, w: World, sbx: SandboxEcny) -> None:
    ok = ecny.pay(ctx, w.terminals["A"], lunch(sbx, "k1"))
    ecny.refund(ctx, Actor.system("test"), ok.order_no, 100, "RF-K")
    sbx.behave(timeouts=1, down=1)
    hidden = ecny.pay(
        ctx, w.terminals["B"], PaymentRequest("k2", sbx.pay_code(WALLET), amount_fen=50)
    )
    assert hidden.status == "pending"  # the acquirer has it, we do not know yet
    day = ctx.clock.now()
    from onecard.core.clock import to_local

    res = ecny_recon.reconcile_day(ctx, Actor.system("test"), to_local(day).date())
    by_status = {p["order_no"]: p["status"] for p in res.problems}
    assert by_status == {hidden.order_no: "state_mismatch"}
    assert res.matched == 2
    # an acquirer's file that lost a line and altered another
    data = sbx.bill_file(to_local(day).date()).decode()
    header, *rest = data.splitlines()
    (mine,) = [ln for ln in rest if ok.order_no in ln]
    tampered = "\r\n".join([header, mine.replace(f",{GUEST_LUNCH_A}", ",799")]) + "\r\n"
    res2 = ecny_recon.reconcile_day(
        ctx, Actor.system("test"), to_local(day).date(), data=tampered.encode()
    )
    kinds = sorted(p["status"] for p in res2.problems)
    assert kinds == ["amount_mismatch", "ours_only"]
    verified(ctx)


def test_notices_and_resolvers_racing_book_once(pg_ctx: Context, sbx: SandboxEcny) -> None:
    """PostgreSQL: four threads learn the same outcomes at once — two hand over the
    (duplicated) notices, two query — and every order is booked exactly once."""
    import threading

    ctx = pg_ctx
    w = build_world(ctx)
    sbx.behave(late=True, duplicate=True)
    for n in range(6):
        sbx.behave(timeouts=1, down=1)  # each order: the money taken, nothing heard
        req = PaymentRequest(f"race-{n}", sbx.pay_code(WALLET), amount_fen=100 + n)
        assert ecny.pay(ctx, w.terminals["A"], req).status == "pending"
    sbx.release_late()
    errors: list[BaseException] = []

    def work(kind: str) -> None:
        try:
            if kind == "notices":
                ecny.deliver_sandbox_notices(ctx)
            else:
                ecny.resolve(ctx, older_than_s=0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in ("notices", "query") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert ecny_entries(ctx) == 6
    assert payable(ctx, w) == sum(100 + n for n in range(6))
    verified(ctx)
