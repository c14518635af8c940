"""The sandbox e-CNY acquirer against the ``EcnyGateway`` contract, and its store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from onecard.channels.bank import sign_body
from onecard.channels.ecny import EcnyGateway, EcnyNotice, parse_bill
from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.clock import FixedClock
from onecard.core.errors import (
    BadSignature,
    EcnyUnavailable,
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
)

SECRET = b"ecny-secret"
T0 = datetime(2026, 3, 2, 4, 0, 0, tzinfo=UTC)  # 12:00 local


@pytest.fixture
def acq() -> SandboxEcny:
    a = SandboxEcny(SECRET, FixedClock(T0))
    a.open_wallet("W1", "张三", 1_000)
    return a


def test_it_fills_the_gateway_contract(acq: SandboxEcny) -> None:
    gw: EcnyGateway = acq
    code = acq.pay_code("W1")
    first = gw.micropay("O-1", code, 300, "午餐")
    assert first.status == "SUCCESS" and first.trade_no
    assert gw.micropay("O-1", code, 300, "午餐") == first  # the same order: no second take
    with pytest.raises(IdempotencyConflict):
        gw.micropay("O-1", code, 301, "午餐")
    assert acq.wallet_balance("W1") == 700 and acq.merchant_balance() == 300
    assert gw.query("O-1") == first and gw.query("O-2").status == "NOT_FOUND"
    used = gw.micropay("O-2", code, 100, "午餐")  # a code is good once
    assert used.status == "FAILED" and used.reason
    short = gw.micropay("O-3", acq.pay_code("W1"), 5_000, "午餐")
    assert short.status == "FAILED" and acq.wallet_balance("W1") == 700


def test_bad_requests_are_refused_before_sending(acq: SandboxEcny) -> None:
    with pytest.raises(InvalidInput):
        acq.micropay("O-1", "1234", 100, "x")
    with pytest.raises(InvalidAmount):
        acq.micropay("O-1", acq.pay_code("W1"), 0, "x")
    with pytest.raises(InvalidInput):
        acq.micropay("bad order!", acq.pay_code("W1"), 100, "x")


def test_close_refund_and_the_bill(acq: SandboxEcny) -> None:
    assert acq.close("O-9").status == "CLOSED"
    assert acq.micropay("O-9", acq.pay_code("W1"), 100, "x").status == "CLOSED"
    acq.micropay("O-1", acq.pay_code("W1"), 400, "x")
    assert acq.refund("R-1", "O-1", 300).status == "SUCCESS"
    assert acq.refund("R-2", "O-1", 200).status == "FAILED"  # beyond what is left
    assert acq.query_refund("R-1").status == "SUCCESS"
    assert acq.wallet_balance("W1") == 900 and acq.merchant_balance() == 100
    bill = parse_bill(acq.bill_file(datetime(2026, 3, 2).date()))
    assert [(b.order_no, b.kind, b.amount_fen) for b in bill] == [
        ("O-1", "pay", 400),
        ("R-1", "refund", 300),
    ]
    assert parse_bill(acq.bill_file(datetime(2026, 3, 3).date())) == []


def test_notices_are_signed_and_checked(acq: SandboxEcny) -> None:
    acq.micropay("O-1", acq.pay_code("W1"), 100, "x")
    ((body, sig),) = acq.pending_notices()
    note = acq.verify_notification(body, sig)
    assert isinstance(note, EcnyNotice) and note.order_no == "O-1" and note.status == "SUCCESS"
    with pytest.raises(BadSignature):
        acq.verify_notification(body, sign_body(b"other", body))
    with pytest.raises(InvalidInput):
        acq.verify_notification(b"{}", sign_body(SECRET, b"{}"))


def test_misbehaviour_and_state_outlive_the_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ecny.db'}"
    one = SandboxEcny(SECRET, FixedClock(T0), url)
    one.open_wallet("W1", "张三", 1_000)
    one.behave(late=True, duplicate=True, timeouts=1)
    code = one.pay_code("W1")
    with pytest.raises(EcnyUnavailable):  # the money is taken, the reply lost
        one.micropay("O-1", code, 100, "x")
    one.dispose()
    two = SandboxEcny(SECRET, FixedClock(T0), url)  # a later process, the same store
    assert two.query("O-1").status == "SUCCESS" and two.wallet_balance("W1") == 900
    assert two.behaviour()["late"] == 1 and two.behaviour()["timeouts"] == 0
    assert two.deliver(lambda b, s: None) == 0  # held back
    assert two.release_late() == 2  # and duplicated
    seen: list[bytes] = []

    def flaky(body: bytes, sig: str) -> None:
        seen.append(body)
        if len(seen) == 1:
            raise RuntimeError("our server was down")

    assert two.deliver(flaky) == 1
    assert len(two.pending_notices()) == 1  # the failed one stays queued
    assert two.deliver(flaky) == 1 and two.pending_notices() == []
    two.dispose()


def test_down_fails_before_the_operator_sees_the_call(acq: SandboxEcny) -> None:
    acq.behave(down=1)
    with pytest.raises(EcnyUnavailable):
        acq.micropay("O-1", acq.pay_code("W1"), 100, "x")
    assert acq.query("O-1").status == "NOT_FOUND" and acq.merchant_balance() == 0
