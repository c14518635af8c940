"""The bank channel: SandboxBank against the BankGateway contract, and the statement file."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, time

import pytest

from onecard.channels.bank import (
    DINING_FUND_ACCOUNT,
    EXPENDITURE_ACCOUNT,
    INCOME_ACCOUNT,
    PLATFORM_ACCOUNT_NAMES,
    BankGateway,
    Notification,
    sign_body,
)
from onecard.channels.sandbox import SandboxBank
from onecard.channels.statement import (
    STATEMENT_HEADER,
    StatementLine,
    parse_statement_file,
    render_statement_file,
)
from onecard.core.clock import FixedClock
from onecard.core.errors import (
    BadSignature,
    BankUnavailable,
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
)

SECRET = b"shared-secret"
CARD = "6217000010001234567"
UNIT = "43001000000000000777"
OPERATOR = "6228480000000000001"
T0 = datetime(2026, 3, 2, 1, 30, 0, tzinfo=UTC)  # 09:30 local on 2026-03-02


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def bank(clock: FixedClock) -> SandboxBank:
    b = SandboxBank(SECRET, clock)
    b.open_outside_account(CARD, "张三", 50_000)
    b.open_outside_account(UNIT, "市财政局", 10**10)
    b.open_outside_account(OPERATOR, "湘味餐饮管理有限公司", 0)
    return b


def notes(bank: SandboxBank) -> list[Notification]:
    return [bank.verify_notification(body, sig) for body, sig in bank.pending_notifications()]


def test_sandbox_fills_the_gateway_interface(bank: SandboxBank) -> None:
    gateway: BankGateway = bank
    assert gateway.statement(date(2026, 3, 2)) == []


def test_topup_succeeds_and_is_idempotent(bank: SandboxBank, clock: FixedClock) -> None:
    ack = bank.debit_card_for_topup("T1", CARD, 10_000)
    again = bank.debit_card_for_topup("T1", CARD, 10_000)
    assert again == ack
    assert bank.outside_balance(CARD) == 40_000
    assert bank.platform_balance(INCOME_ACCOUNT) == 10_000
    [note] = notes(bank)
    assert (note.order_id, note.bank_ref, note.status) == ("T1", ack.bank_ref, "succeeded")
    assert (note.amount_fen, note.failure_reason, note.kind) == (10_000, None, "topup")
    assert note.occurred_at == clock.now() == ack.accepted_at
    assert note.occurred_at.tzinfo is None
    with pytest.raises(IdempotencyConflict):
        bank.debit_card_for_topup("T1", CARD, 10_001)
    with pytest.raises(IdempotencyConflict):
        bank.pay_out("T1", OPERATOR, "湘味餐饮管理有限公司", 10_000, "结算")


def test_concurrent_duplicate_topups_debit_once(bank: SandboxBank) -> None:
    acks = []

    def go() -> None:
        acks.append(bank.debit_card_for_topup("T-race", CARD, 100))

    threads = [threading.Thread(target=go) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(acks)) == 1
    assert bank.outside_balance(CARD) == 49_900
    assert len(bank.pending_notifications()) == 1


def test_insufficient_card_balance_fails_in_the_notification(bank: SandboxBank) -> None:
    ack = bank.debit_card_for_topup("T2", CARD, 50_001)  # accepted: the verdict comes later
    [note] = notes(bank)
    assert (note.order_id, note.bank_ref) == ("T2", ack.bank_ref)
    assert (note.status, note.failure_reason) == ("failed", "余额不足")
    assert bank.outside_balance(CARD) == 50_000
    assert bank.platform_balance(INCOME_ACCOUNT) == 0
    assert bank.statement(date(2026, 3, 2)) == []


def test_unknown_card_fails_in_the_notification(bank: SandboxBank) -> None:
    bank.debit_card_for_topup("T3", "6217999999999999999", 100)
    [note] = notes(bank)
    assert (note.status, note.failure_reason) == ("failed", "账户不存在")


@pytest.mark.parametrize("amount", [0, -1, 10**9 + 1, 1.0, True, "100", None])
def test_amounts_are_positive_int_fen(bank: SandboxBank, amount: object) -> None:
    with pytest.raises(InvalidAmount):
        bank.debit_card_for_topup("T4", CARD, amount)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        bank.pay_out("P4", OPERATOR, "湘味餐饮管理有限公司", amount, "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        bank.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, amount, "x")  # type: ignore[arg-type]
    assert bank.pending_notifications() == []


def test_max_amount_is_allowed(bank: SandboxBank) -> None:
    bank.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, 10**9, "上限")
    assert bank.platform_balance(DINING_FUND_ACCOUNT) == 10**9


def test_bad_signature_is_rejected(bank: SandboxBank) -> None:
    bank.debit_card_for_topup("T5", CARD, 100)
    [(body, sig)] = bank.pending_notifications()
    assert bank.verify_notification(body, sig.upper()).order_id == "T5"
    tampered = body.replace(b'"amount_fen":100', b'"amount_fen":900')
    assert tampered != body
    for b, s in [(tampered, sig), (body, "0" * 64), (body, ""), (body, "签名")]:
        with pytest.raises(BadSignature):
            bank.verify_notification(b, s)
    other = SandboxBank(b"another-secret")
    with pytest.raises(BadSignature):
        other.verify_notification(body, sig)


def test_notification_body_is_canonical_json(bank: SandboxBank) -> None:
    bank.debit_card_for_topup("T6", CARD, 10**6)  # more than the card holds
    [(body, sig)] = bank.pending_notifications()
    doc = json.loads(body)
    assert (
        body == json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    )
    assert "余额不足".encode() in body
    assert sig == sign_body(SECRET, body)


def test_signed_but_malformed_body_is_invalid_input(bank: SandboxBank) -> None:
    body = b'{"order_id":"X"}'
    with pytest.raises(InvalidInput):
        bank.verify_notification(body, sign_body(SECRET, body))


def test_notification_is_redelivered_after_handler_failure(bank: SandboxBank) -> None:
    bank.debit_card_for_topup("T7", CARD, 100)
    bank.debit_card_for_topup("T8", CARD, 200)
    seen: list[str] = []

    def flaky(body: bytes, sig: str) -> None:
        note = bank.verify_notification(body, sig)
        seen.append(note.order_id)
        if note.order_id == "T7" and seen.count("T7") == 1:
            raise RuntimeError("our database is down")

    assert bank.deliver(flaky) == 1
    assert [bank.verify_notification(*p).order_id for p in bank.pending_notifications()] == ["T7"]
    bank.debit_card_for_topup("T9", CARD, 300)
    assert bank.deliver(flaky) == 2
    assert seen == ["T7", "T8", "T7", "T9"]
    assert bank.pending_notifications() == []
    assert bank.deliver(flaky) == 0


def test_statement_file_round_trip_exact_fen_and_chinese() -> None:
    lines = [
        StatementLine(
            day=date(2026, 3, 2),
            time=time(9, 30, 0),
            serial="202603020000000001",
            direction="credit",
            amount_fen=1,  # 0.01 yuan
            counterparty_name="张三",
            counterparty_account=CARD,
            memo="T1 一卡通充值",
            balance_fen=1,
            account_no=INCOME_ACCOUNT,
        ),
        StatementLine(
            day=date(2026, 3, 2),
            time=time(23, 59, 59),
            serial="202603020000000002",
            direction="debit",
            amount_fen=1_234_567_890,  # 12345678.90 yuan
            counterparty_name='湘味餐饮管理有限公司, "二食堂"',
            counterparty_account=OPERATOR,
            memo="P1 2月结算\n第二行",
            balance_fen=-1_234_567_889,
            account_no=EXPENDITURE_ACCOUNT,
        ),
    ]
    data = render_statement_file(lines)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == ",".join(STATEMENT_HEADER)
    assert ",0.01," in text and ",12345678.90," in text and ",借," in text and ",贷," in text
    assert parse_statement_file(data) == lines
    assert parse_statement_file(data[3:]) == lines  # without the BOM too


@pytest.mark.parametrize(
    "bad_amount", ["1.5", "1.005", "1e3", "01.00", "-1.00", "1,000.00", "", "0.00", "1.00元"]
)
def test_statement_parser_rejects_bad_amounts(bad_amount: str) -> None:
    header = ",".join(STATEMENT_HEADER)
    row = f"2026-03-02,09:30:00,S1,贷,{bad_amount},张三,{CARD},memo,1.00,{INCOME_ACCOUNT}"
    if "," in bad_amount:
        row = row.replace(bad_amount, f'"{bad_amount}"')
    data = f"{header}\r\n{row}\r\n".encode("utf-8-sig")
    with pytest.raises(InvalidInput):
        parse_statement_file(data)


def test_statement_parser_rejects_wrong_header_and_binary() -> None:
    with pytest.raises(InvalidInput):
        parse_statement_file("日期,金额\r\n".encode())
    with pytest.raises(InvalidInput):
        parse_statement_file(b"\x00\x01\x02 not a statement")
    assert parse_statement_file(render_statement_file([])) == []


def test_statement_parser_reads_what_online_banking_exports() -> None:
    """GBK text, cells padded with tabs (so spreadsheets keep long numbers as text)."""
    header = ",".join(STATEMENT_HEADER)
    row = f"2026-03-02,09:30:00,\tS1,贷,\t1.00 ,张三,\t{CARD},memo,1.00,\t{INCOME_ACCOUNT}"
    [line] = parse_statement_file(f"{header}\r\n{row}\r\n".encode("gbk"))
    assert (line.serial, line.amount_fen, line.account_no) == ("S1", 100, INCOME_ACCOUNT)


def test_statement_has_unit_credit_with_memo(bank: SandboxBank, clock: FixedClock) -> None:
    line = bank.credit_from_outside(
        UNIT, DINING_FUND_ACCOUNT, 12_000_000, "2026Q1就餐经费 拨款通知FN-2026-017"
    )
    assert (line.direction, line.memo, line.balance_fen) == ("credit", line.memo, 12_000_000)
    clock.advance(minutes=5)
    bank.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, 1, "补差")
    [first, second] = bank.statement(date(2026, 3, 2))
    assert first == line
    assert (first.counterparty_name, first.counterparty_account) == ("市财政局", UNIT)
    assert first.memo == "2026Q1就餐经费 拨款通知FN-2026-017"
    assert (first.day, first.time, first.account_no) == (
        date(2026, 3, 2),
        time(9, 30),
        DINING_FUND_ACCOUNT,
    )
    assert (second.balance_fen, second.time) == (12_000_001, time(9, 35))
    assert first.serial != second.serial
    assert parse_statement_file(bank.statement_file(date(2026, 3, 2))) == [first, second]


def test_statement_days_are_local(bank: SandboxBank, clock: FixedClock) -> None:
    clock.set(datetime(2026, 3, 2, 15, 59, 59, tzinfo=UTC))  # 23:59:59 local
    bank.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, 100, "a")
    clock.set(datetime(2026, 3, 2, 16, 0, 0, tzinfo=UTC))  # 00:00 local on the 3rd
    bank.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, 200, "b")
    assert [ln.memo for ln in bank.statement(date(2026, 3, 2))] == ["a"]
    assert [ln.memo for ln in bank.statement(date(2026, 3, 3))] == ["b"]
    assert bank.statement(date(2026, 3, 3))[0].balance_fen == 300


def test_pay_out_reduces_platform_account(bank: SandboxBank) -> None:
    op_name = "湘味餐饮管理有限公司"
    bank.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, 100_000, "拨款")
    bank.pay_out(
        "M1",
        EXPENDITURE_ACCOUNT,
        PLATFORM_ACCOUNT_NAMES[EXPENDITURE_ACCOUNT],
        80_000,
        "调拨",
        from_account=DINING_FUND_ACCOUNT,
    )
    ack = bank.pay_out("P1", OPERATOR, op_name, 30_000, "2月结算")
    assert bank.pay_out("P1", OPERATOR, op_name, 30_000, "2月结算") == ack
    assert bank.platform_balance(DINING_FUND_ACCOUNT) == 20_000
    assert bank.platform_balance(EXPENDITURE_ACCOUNT) == 50_000
    assert bank.outside_balance(OPERATOR) == 30_000
    debit = bank.statement(date(2026, 3, 2))[-1]
    assert (debit.direction, debit.amount_fen, debit.balance_fen) == ("debit", 30_000, 50_000)
    assert (debit.account_no, debit.counterparty_name, debit.memo) == (
        EXPENDITURE_ACCOUNT,
        op_name,
        "P1 2月结算",
    )
    assert [(n.order_id, n.status, n.kind) for n in notes(bank)] == [
        ("M1", "succeeded", "payout"),
        ("P1", "succeeded", "payout"),
    ]


def test_pay_out_failures_are_notified(bank: SandboxBank) -> None:
    bank.pay_out("P2", OPERATOR, "湘味餐饮管理有限公司", 1, "结算")  # expenditure is empty
    bank.credit_from_outside(UNIT, EXPENDITURE_ACCOUNT, 100, "x")
    bank.pay_out("P3", OPERATOR, "别人", 1, "结算")
    bank.pay_out("P4", "6228489999999999999", "某人", 1, "退款")
    assert [(n.status, n.failure_reason) for n in notes(bank)] == [
        ("failed", "余额不足"),
        ("failed", "户名不符"),
        ("failed", "账户不存在"),
    ]
    assert bank.platform_balance(EXPENDITURE_ACCOUNT) == 100


def test_fail_next(bank: SandboxBank) -> None:
    bank.fail_next(2)
    with pytest.raises(BankUnavailable):
        bank.debit_card_for_topup("T10", CARD, 100)
    with pytest.raises(BankUnavailable):
        bank.statement(date(2026, 3, 2))
    assert bank.outside_balance(CARD) == 50_000
    assert bank.pending_notifications() == []
    ack = bank.debit_card_for_topup("T10", CARD, 100)  # the retry goes through
    assert bank.outside_balance(CARD) == 49_900
    assert len(bank.pending_notifications()) == 1
    assert ack.order_id == "T10"


def test_fail_next_with_lost_reply_is_safe_to_retry(bank: SandboxBank) -> None:
    bank.fail_next(1, lost_reply=True)
    with pytest.raises(BankUnavailable):
        bank.debit_card_for_topup("T11", CARD, 100)
    assert bank.outside_balance(CARD) == 49_900  # the bank did take it
    bank.debit_card_for_topup("T11", CARD, 100)
    assert bank.outside_balance(CARD) == 49_900
    assert len(bank.pending_notifications()) == 1


def test_order_ids_are_checked(bank: SandboxBank) -> None:
    for bad in ["", "has space", "x" * 65, "订单1"]:
        with pytest.raises(InvalidInput):
            bank.debit_card_for_topup(bad, CARD, 100)
