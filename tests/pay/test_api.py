"""The terminal API from the outside, and the money services behind the till.

Every bad request gets a 4xx with a machine-readable ``code`` and a human message
(Chinese unless the client asks for English) and changes nothing: the purses and the
number of journal entries are compared before and after. Then the happy paths: payment
codes, retries, reversals, refunds, top-ups, and the refusal to pay anyone out.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import func, select, update

from onecard.channels.bank import gateway
from onecard.core.context import Context
from onecard.core.errors import (
    AlreadyReversed,
    BadSignature,
    Forbidden,
    IdempotencyConflict,
    InvalidAmount,
    RefundExceedsLeft,
    StateConflict,
    WithdrawalRefused,
)
from onecard.funding import notifications
from onecard.ledger.models import JournalEntry
from onecard.org.actors import Actor
from onecard.org.models import Person, Terminal
from onecard.pay import paycode, reversal, topup
from onecard.pay.models import Payment, TopupOrder
from onecard.web.app import create_app
from world import World, build_world, fund, purse

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client and warns on httpx;
    # the client works the same either way.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CJK = re.compile(r"[\u4e00-\u9fff]")
PAY = "/api/v1/terminal/payments"


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=250, cash=1000)
    fund(ctx, world, "b1", subsidy=5000)
    fund(ctx, world, "c1", subsidy=5000)
    return world


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def auth(w: World, terminal: str = "A") -> dict[str, str]:
    return {"Authorization": f"Terminal {w.terminals[terminal].code}:{w.keys[terminal]}"}


def state(ctx: Context, w: World) -> tuple[Any, ...]:
    """Everything a bad request must leave alone: every purse and the journal's length."""
    with ctx.db.read() as conn:
        entries = conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
    return (entries, *(purse(ctx, w, p) for p in sorted(w.people)))


def payments_count(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Payment)).scalar_one())


def assert_error(resp: Any, status: int, code: str, lang: str = "zh") -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code, err
    assert err["message"].strip()
    if lang == "zh":
        assert CJK.search(err["message"]), err["message"]
    else:
        assert not CJK.search(err["message"]), err["message"]
    return dict(err)


def person_code(ctx: Context, w: World, who: str, *, seconds: float = 0, region: str = "") -> str:
    with ctx.db.read() as conn:
        token, secret = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == w.people[who])
        ).one()
    at = ctx.clock.now().replace(tzinfo=UTC).timestamp() + seconds
    return paycode.make_code(
        region or ctx.settings.region_no, token, secret, at, ctx.settings.paycode_step_seconds
    )


# --- bad input: 4xx, a code, a Chinese message, nothing changed ------------------------------
BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("negative", {"amount_fen": -100}, "invalid_amount"),
    ("zero", {"amount_fen": 0}, "invalid_amount"),
    ("fraction", {"amount_fen": 1.5}, "invalid_amount"),
    ("whole float", {"amount_fen": 100.0}, "invalid_amount"),
    ("string", {"amount_fen": "100"}, "invalid_amount"),
    ("boolean", {"amount_fen": True}, "invalid_amount"),
    ("absurd", {"amount_fen": 10**9 + 1}, "invalid_amount"),
    ("astronomical", {"amount_fen": 10**40}, "invalid_amount"),
    ("null amount, nothing else", {"amount_fen": None}, "invalid_input"),
    ("both meal and amount", {"meal": "lunch", "amount_fen": 300}, "invalid_input"),
    ("neither meal nor amount", {}, "invalid_input"),
    ("unknown field", {"amount_fen": 300, "tip_fen": 50}, "invalid_input"),
    ("item qty zero", {"items": [{"sku": "X", "qty": 0}]}, "invalid_input"),
]


@pytest.mark.parametrize(("why", "extra", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_amounts_and_shapes_are_422_and_change_nothing(
    ctx: Context, w: World, client: TestClient, why: str, extra: dict[str, Any], code: str
) -> None:
    before, n = state(ctx, w), payments_count(ctx)
    body = {"txn_id": "bad-1", "credential": w.cards["b1"], **extra}
    assert_error(client.post(PAY, json=body, headers=auth(w)), 422, code)
    assert state(ctx, w) == before and payments_count(ctx) == n


@pytest.mark.parametrize(
    ("why", "body", "code"),
    [
        ("no txn_id", {"credential": "6217000000000001", "amount_fen": 300}, "invalid_input"),
        (
            "empty txn_id",
            {"txn_id": "", "credential": "6217000000000001", "amount_fen": 300},
            "invalid_input",
        ),
        ("no credential", {"txn_id": "x", "amount_fen": 300}, "malformed_credential"),
        ("not an object", [1, 2, 3], "invalid_input"),
    ],
)
def test_missing_fields_are_422(
    ctx: Context, w: World, client: TestClient, why: str, body: Any, code: str
) -> None:
    before = state(ctx, w)
    assert_error(client.post(PAY, json=body, headers=auth(w)), 422, code)
    assert state(ctx, w) == before


def test_broken_json_is_422(ctx: Context, w: World, client: TestClient) -> None:
    before = state(ctx, w)
    resp = client.post(
        PAY,
        content=b'{"txn_id": "x", "amount_fen": ',
        headers={**auth(w), "Content-Type": "application/json"},
    )
    assert_error(resp, 422, "invalid_input")
    assert state(ctx, w) == before


@pytest.mark.parametrize(
    ("why", "credential"),
    [
        ("17 digits", "87351234567890123"),
        ("19 digits", "8735123456789012345"),
        ("18 digits not starting with 8", "973512345678901234"),
        ("letters", "8735ABCD5678901234"),
        ("letters in a card number", "62170000abcd"),
        ("too short", "1234"),
        ("full-width digits", "８７３５１２３４５６７８９０１２３４"),
        ("arabic-indic digits", "٨٧٣٥١٢٣٤٥٦٧٨٩٠١٢٣٤"),
        ("sign", "-6217000000000001"),
    ],
)
def test_malformed_credentials_are_422(
    ctx: Context, w: World, client: TestClient, why: str, credential: str
) -> None:
    before, n = state(ctx, w), payments_count(ctx)
    body = {"txn_id": "bad-cred", "credential": credential, "amount_fen": 300}
    assert_error(client.post(PAY, json=body, headers=auth(w)), 422, "malformed_credential")
    assert state(ctx, w) == before and payments_count(ctx) == n


def test_a_code_from_another_city_is_422_foreign_region(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = state(ctx, w)
    code = person_code(ctx, w, "b1", region="999")
    body = {"txn_id": "foreign", "credential": code, "amount_fen": 300}
    err = assert_error(client.post(PAY, json=body, headers=auth(w)), 422, "foreign_region")
    assert "本市" in err["message"]
    assert state(ctx, w) == before


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Terminal T-A1:wrong-key",
        "Terminal T-ZZ:key-A1",
        "Terminal T-A1",
        "Bearer key-A1",
        "Terminal :key-A1",
    ],
)
def test_unknown_terminal_or_wrong_key_is_401(
    ctx: Context, w: World, client: TestClient, header: str | None
) -> None:
    before = state(ctx, w)
    headers = {} if header is None else {"Authorization": header}
    body = {"txn_id": "x", "credential": w.cards["b1"], "amount_fen": 300}
    assert_error(client.post(PAY, json=body, headers=headers), 401, "terminal_unauthorized")
    assert state(ctx, w) == before


def test_a_revoked_terminal_is_403(ctx: Context, w: World, client: TestClient) -> None:
    with ctx.db.begin() as conn:
        conn.execute(
            update(Terminal).where(Terminal.id == w.terminals["A"].id).values(status="revoked")
        )
    before, n = state(ctx, w), payments_count(ctx)
    body = {"txn_id": "x", "credential": w.cards["b1"], "amount_fen": 300}
    assert_error(client.post(PAY, json=body, headers=auth(w)), 403, "terminal_revoked")
    # …and it cannot reverse what it took before either.
    resp = client.post(f"{PAY}/x/reversal", headers=auth(w))
    assert_error(resp, 403, "terminal_revoked")
    assert state(ctx, w) == before and payments_count(ctx) == n


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_wrong_content_type_is_415(
    ctx: Context, w: World, client: TestClient, content_type: str | None
) -> None:
    before = state(ctx, w)
    body = json.dumps({"txn_id": "x", "credential": w.cards["b1"], "amount_fen": 300})
    headers = auth(w)
    if content_type:
        headers["Content-Type"] = content_type
    resp = client.post(PAY, content=body.encode(), headers=headers)
    assert_error(resp, 415, "unsupported_media_type")
    assert state(ctx, w) == before


def test_wrong_content_type_is_415_even_when_chunked(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = state(ctx, w)
    body = json.dumps({"txn_id": "x", "credential": w.cards["b1"], "amount_fen": 300}).encode()
    resp = client.post(PAY, content=iter([body]), headers={**auth(w), "Content-Type": "text/plain"})
    assert "content-length" not in resp.request.headers
    assert_error(resp, 415, "unsupported_media_type")
    assert state(ctx, w) == before


def _oversized(w: World, ctx: Context) -> bytes:
    pad = "x" * (ctx.settings.max_body_bytes + 1)
    return json.dumps(
        {"txn_id": "big", "credential": w.cards["b1"], "amount_fen": 300, "memo": pad}
    ).encode()


def test_oversized_body_with_content_length_is_413(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = state(ctx, w)
    resp = client.post(
        PAY, content=_oversized(w, ctx), headers={**auth(w), "Content-Type": "application/json"}
    )
    assert_error(resp, 413, "body_too_large")
    assert state(ctx, w) == before


def test_oversized_chunked_body_is_413(ctx: Context, w: World, client: TestClient) -> None:
    before = state(ctx, w)
    big = _oversized(w, ctx)
    chunks = iter([big[i : i + 4096] for i in range(0, len(big), 4096)])
    resp = client.post(PAY, content=chunks, headers={**auth(w), "Content-Type": "application/json"})
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, "body_too_large")
    assert state(ctx, w) == before


def test_english_when_asked(ctx: Context, w: World, client: TestClient) -> None:
    body = {"txn_id": "x", "credential": w.cards["b1"], "amount_fen": -1}
    resp = client.post(PAY, json=body, headers={**auth(w), "Accept-Language": "en-US,en;q=0.9"})
    err = assert_error(resp, 422, "invalid_amount", lang="en")
    assert "fen" in err["message"]
    resp = client.post(PAY, json=body, headers={"Accept-Language": "en"})
    assert_error(resp, 401, "terminal_unauthorized", lang="en")


def test_unknown_meal_code_is_404_and_changes_nothing(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = state(ctx, w)
    body = {"txn_id": "x", "credential": w.cards["b1"], "meal": "supper"}
    assert_error(client.post(PAY, json=body, headers=auth(w)), 404, "not_found")
    assert state(ctx, w) == before


# --- refusals: answered 200 with result "refused", recorded, no money moved ----------------
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_refusal_is_an_answer_with_a_code_and_message(
    ctx: Context, w: World, client: TestClient, lang: str
) -> None:
    before = state(ctx, w)
    body = {"txn_id": f"poor-{lang}", "credential": w.cards["a2"], "meal": "lunch"}
    resp = client.post(PAY, json=body, headers=auth(w))
    assert resp.status_code == 200
    got = resp.json()
    assert (got["result"], got["code"]) == ("refused", "insufficient_funds")
    assert got["message"] == "余额不足"
    assert state(ctx, w) == before


def test_unknown_card_is_refused_and_changes_nothing(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = state(ctx, w)
    body = {"txn_id": "u1", "credential": "4310009999999999", "amount_fen": 300}
    got = client.post(PAY, json=body, headers=auth(w)).json()
    assert (got["result"], got["code"]) == ("refused", "unknown_card")
    assert state(ctx, w) == before


# --- payment codes ----------------------------------------------------------------------
def test_payment_code_pays_once_then_is_refused_as_reused(
    ctx: Context, w: World, client: TestClient
) -> None:
    code = person_code(ctx, w, "b1")
    first = client.post(
        PAY, json={"txn_id": "c1", "credential": code, "meal": "lunch"}, headers=auth(w, "B")
    )
    got = first.json()
    assert first.status_code == 200 and got["result"] == "approved", got
    assert (got["amount_fen"], got["payer"]["name"]) == (400, "李娜")
    assert purse(ctx, w, "b1") == (4600, 0)

    again = client.post(
        PAY, json={"txn_id": "c2", "credential": code, "amount_fen": 100}, headers=auth(w, "A")
    ).json()
    assert (again["result"], again["code"]) == ("refused", "code_reused")
    assert "已使用" in again["message"]
    assert purse(ctx, w, "b1") == (4600, 0)
    with ctx.db.read() as conn:
        kind = conn.execute(
            select(Payment.credential_kind).where(Payment.txn_id == "c1")
        ).scalar_one()
    assert kind == "code"


def test_grouped_payment_code_is_accepted(ctx: Context, w: World, client: TestClient) -> None:
    code = person_code(ctx, w, "c1")
    grouped = " ".join([code[:4], code[4:8], code[8:12], code[12:]])
    got = client.post(
        PAY, json={"txn_id": "g1", "credential": grouped, "amount_fen": 120}, headers=auth(w)
    ).json()
    assert got["result"] == "approved", got


def test_expired_payment_code_is_refused(ctx: Context, w: World, client: TestClient) -> None:
    code = person_code(ctx, w, "c1", seconds=-180)
    before = state(ctx, w)
    got = client.post(
        PAY, json={"txn_id": "old", "credential": code, "amount_fen": 120}, headers=auth(w)
    ).json()
    assert (got["result"], got["code"]) == ("refused", "code_expired")
    assert state(ctx, w) == before


def test_a_code_is_still_good_in_the_next_step(ctx: Context, w: World, client: TestClient) -> None:
    code = person_code(ctx, w, "c1")
    ctx.clock.advance(seconds=30)  # type: ignore[attr-defined]
    got = client.post(
        PAY, json={"txn_id": "late", "credential": code, "amount_fen": 120}, headers=auth(w)
    ).json()
    assert got["result"] == "approved", got


def test_a_forged_otp_is_refused_as_invalid(ctx: Context, w: World, client: TestClient) -> None:
    code = person_code(ctx, w, "c1")
    forged = code[:12] + f"{(int(code[12:]) + 1) % 10**6:06d}"
    got = client.post(
        PAY, json={"txn_id": "forged", "credential": forged, "amount_fen": 120}, headers=auth(w)
    ).json()
    assert got["result"] == "refused" and got["code"] in ("code_invalid", "code_expired")
    unknown = "8" + ctx.settings.region_no + "00000000" + code[12:]
    got = client.post(
        PAY, json={"txn_id": "nobody", "credential": unknown, "amount_fen": 120}, headers=auth(w)
    ).json()
    assert got["result"] == "refused" and got["code"] == "code_invalid"


# --- retries ------------------------------------------------------------------------------
def test_retry_gets_the_first_answer_byte_for_byte(
    ctx: Context, w: World, client: TestClient
) -> None:
    body = {"txn_id": "r1", "credential": w.cards["b1"], "meal": "lunch"}
    first = client.post(PAY, json=body, headers=auth(w, "B"))
    ctx.clock.advance(seconds=20)  # type: ignore[attr-defined]
    again = client.post(PAY, json=body, headers=auth(w, "B"))
    assert again.status_code == first.status_code == 200
    assert again.content == first.content
    assert purse(ctx, w, "b1") == (4600, 0)


def test_conflicting_retry_is_409_and_changes_nothing(
    ctx: Context, w: World, client: TestClient
) -> None:
    client.post(
        PAY,
        json={"txn_id": "r1", "credential": w.cards["b1"], "meal": "lunch"},
        headers=auth(w, "B"),
    )
    before = state(ctx, w)
    resp = client.post(
        PAY,
        json={"txn_id": "r1", "credential": w.cards["b1"], "amount_fen": 1},
        headers=auth(w, "B"),
    )
    assert_error(resp, 409, "idempotency_conflict")
    assert state(ctx, w) == before


# --- reversal ---------------------------------------------------------------------------
def test_reversal_within_the_window_gives_everything_back_once(
    ctx: Context, w: World, client: TestClient
) -> None:
    client.post(
        PAY, json={"txn_id": "m1", "credential": w.cards["a1"], "meal": "lunch"}, headers=auth(w)
    )
    assert purse(ctx, w, "a1") == (0, 950)
    ctx.clock.advance(minutes=9)  # type: ignore[attr-defined]
    first = client.post(f"{PAY}/m1/reversal", headers=auth(w))
    assert first.status_code == 200, first.text
    got = first.json()
    assert (got["result"], got["subsidy_fen"], got["cash_fen"]) == ("reversed", 250, 50)
    assert got["balances"] == {"subsidy_fen": 250, "cash_fen": 1000}
    entries = state(ctx, w)
    again = client.post(f"{PAY}/m1/reversal", headers=auth(w))
    assert again.status_code == 200 and again.json() == got
    assert state(ctx, w) == entries and purse(ctx, w, "a1") == (250, 1000)
    # Only the terminal that took it can reverse it.
    assert_error(client.post(f"{PAY}/m1/reversal", headers=auth(w, "B")), 404, "not_found")


def test_reversal_after_ten_minutes_is_409(ctx: Context, w: World, client: TestClient) -> None:
    client.post(
        PAY,
        json={"txn_id": "m1", "credential": w.cards["b1"], "meal": "lunch"},
        headers=auth(w, "B"),
    )
    ctx.clock.advance(minutes=10, seconds=1)  # type: ignore[attr-defined]
    before = state(ctx, w)
    resp = client.post(f"{PAY}/m1/reversal", headers=auth(w, "B"))
    assert_error(resp, 409, "reversal_window_passed")
    assert state(ctx, w) == before


def test_reversing_a_refusal_or_nothing(ctx: Context, w: World, client: TestClient) -> None:
    client.post(
        PAY, json={"txn_id": "poor", "credential": w.cards["a2"], "meal": "lunch"}, headers=auth(w)
    )
    before = state(ctx, w)
    assert_error(client.post(f"{PAY}/poor/reversal", headers=auth(w)), 409, "state_conflict")
    assert_error(client.post(f"{PAY}/ghost/reversal", headers=auth(w)), 404, "not_found")
    assert state(ctx, w) == before


# --- refunds (service level: sign-in is not built yet) ------------------------------------
def manager(w: World, canteen: str) -> Actor:
    return Actor(
        label=f"manager:{canteen}",
        person_id=w.people["a2"],
        unit_id=w.units["A"],
        grants=frozenset({("canteen_manager", None, w.canteens[canteen])}),
    )


def _lunch(ctx: Context, w: World, client: TestClient, who: str, txn: str) -> int:
    got = client.post(
        PAY, json={"txn_id": txn, "credential": w.cards[who], "meal": "lunch"}, headers=auth(w)
    ).json()
    assert got["result"] == "approved", got
    return int(got["payment_id"])


def test_partial_refunds_add_up_to_the_original_split_exactly(
    ctx: Context, w: World, client: TestClient
) -> None:
    pid = _lunch(ctx, w, client, "a1", "m1")  # 250 from subsidy, 50 from cash
    ctx.clock.advance(hours=2)  # type: ignore[attr-defined]
    mgr = manager(w, "A")
    parts = [reversal.refund(ctx, mgr, pid, 100, f"rf-{i}", "菜品问题") for i in range(3)]
    assert [(p.subsidy_fen, p.cash_fen) for p in parts] == [(83, 17), (84, 16), (83, 17)]
    assert sum(p.subsidy_fen for p in parts) == 250 and sum(p.cash_fen for p in parts) == 50
    assert purse(ctx, w, "a1") == (250, 1000)
    with pytest.raises(RefundExceedsLeft):
        reversal.refund(ctx, mgr, pid, 1, "rf-more")
    # The same request again is the same refund, not a second one.
    again = reversal.refund(ctx, mgr, pid, 100, "rf-1")
    assert again == parts[1]
    assert purse(ctx, w, "a1") == (250, 1000)


def test_over_refund_is_refused_and_changes_nothing(
    ctx: Context, w: World, client: TestClient
) -> None:
    pid = _lunch(ctx, w, client, "a1", "m1")
    mgr = manager(w, "A")
    reversal.refund(ctx, mgr, pid, 200, "rf-1")
    before = state(ctx, w)
    with pytest.raises(RefundExceedsLeft) as over:
        reversal.refund(ctx, mgr, pid, 101, "rf-2")
    assert over.value.code == "refund_exceeds_left" and "1.00 元" in over.value.message("zh-CN")
    for bad in (0, -5):
        with pytest.raises(InvalidAmount):
            reversal.refund(ctx, mgr, pid, bad, "rf-3")
    with pytest.raises(IdempotencyConflict):
        reversal.refund(ctx, mgr, pid, 50, "rf-1")
    assert state(ctx, w) == before


def test_other_canteens_manager_may_not_refund(ctx: Context, w: World, client: TestClient) -> None:
    pid = _lunch(ctx, w, client, "a1", "m1")
    before = state(ctx, w)
    with pytest.raises(Forbidden):
        reversal.refund(ctx, manager(w, "B"), pid, 100, "rf-1")
    diner = Actor(
        label="diner", person_id=w.people["a1"], grants=frozenset({("diner", None, None)})
    )
    with pytest.raises(Forbidden):
        reversal.refund(ctx, diner, pid, 100, "rf-2")
    assert state(ctx, w) == before
    # The owning unit's admin may.
    admin = Actor(label="ua", grants=frozenset({("unit_admin", w.units["A"], None)}))
    assert reversal.refund(ctx, admin, pid, 100, "rf-3").amount_fen == 100


def test_refund_and_reversal_exclude_each_other(ctx: Context, w: World, client: TestClient) -> None:
    pid = _lunch(ctx, w, client, "a1", "m1")
    reversal.refund(ctx, manager(w, "A"), pid, 10, "rf-1")
    with pytest.raises(AlreadyReversed):
        reversal.reverse(ctx, w.terminals["A"], "m1")
    pid2 = _lunch(ctx, w, client, "c1", "m2")
    reversal.reverse(ctx, w.terminals["A"], "m2")
    with pytest.raises(StateConflict):
        reversal.refund(ctx, manager(w, "A"), pid2, 10, "rf-2")
    assert purse(ctx, w, "c1") == (5000, 0)


# --- money in, never out ---------------------------------------------------------------------
def test_withdrawal_is_always_refused(ctx: Context, w: World) -> None:
    before = state(ctx, w)
    for amount in (1, 100, 1250):
        with pytest.raises(WithdrawalRefused) as info:
            topup.withdraw(ctx, w.people["a1"], amount)
        assert info.value.message() == "就餐账户余额不得提现"
    assert state(ctx, w) == before


def _order(ctx: Context, order_id: str) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(select(TopupOrder).where(TopupOrder.order_id == order_id)).one()


def test_topup_through_the_bank_credits_cash_once_even_when_notified_twice(
    ctx: Context, w: World
) -> None:
    bank = gateway(ctx)
    bank.open_outside_account("62170000c1", "刘洋", 100_000)  # type: ignore[attr-defined]
    req = topup.request_topup(ctx, w.people["c1"], 3000, "ORDER-1")
    assert req.status == "pending" and req.bank_ref
    assert purse(ctx, w, "c1") == (5000, 0)  # nothing until the bank says so
    pending = bank.pending_notifications()  # type: ignore[attr-defined]
    assert len(pending) == 1
    delivered = bank.deliver(  # type: ignore[attr-defined]
        lambda body, sig: notifications.handle_bank_notification(ctx, body, sig) and None
    )
    assert delivered == 1
    assert purse(ctx, w, "c1") == (5000, 3000)
    # The bank's callback retried: same status, no second credit.
    body, sig = pending[0]
    assert notifications.handle_bank_notification(ctx, body, sig) == "succeeded"
    # The person retrying the request: same order, no second debit at the bank.
    assert topup.request_topup(ctx, w.people["c1"], 3000, "ORDER-1").status == "succeeded"
    assert bank.deliver(lambda b, s: None) == 0  # type: ignore[attr-defined]
    assert purse(ctx, w, "c1") == (5000, 3000)
    assert bank.outside_balance("62170000c1") == 97_000  # type: ignore[attr-defined]
    assert _order(ctx, "ORDER-1").status == "succeeded"
    with pytest.raises(IdempotencyConflict):
        topup.request_topup(ctx, w.people["c1"], 4000, "ORDER-1")


def test_topup_the_card_cannot_cover_fails_and_moves_nothing(ctx: Context, w: World) -> None:
    bank = gateway(ctx)
    bank.open_outside_account("62170000c1", "刘洋", 100)  # type: ignore[attr-defined]
    before = state(ctx, w)
    topup.request_topup(ctx, w.people["c1"], 3000, "ORDER-2")
    bank.deliver(lambda b, s: notifications.handle_bank_notification(ctx, b, s) and None)  # type: ignore[attr-defined]
    order = _order(ctx, "ORDER-2")
    assert order.status == "failed" and order.failure_reason == "余额不足"
    assert state(ctx, w) == before
    # An unbound/unknown card at the bank fails the same way.
    topup.request_topup(ctx, w.people["a2"], 3000, "ORDER-3")
    bank.deliver(lambda b, s: notifications.handle_bank_notification(ctx, b, s) and None)  # type: ignore[attr-defined]
    assert _order(ctx, "ORDER-3").status == "failed"
    assert state(ctx, w) == before


def test_a_forged_bank_notification_is_refused(ctx: Context, w: World, client: TestClient) -> None:
    bank = gateway(ctx)
    bank.open_outside_account("62170000c1", "刘洋", 100_000)  # type: ignore[attr-defined]
    topup.request_topup(ctx, w.people["c1"], 3000, "ORDER-4")
    body, sig = bank.pending_notifications()[0]  # type: ignore[attr-defined]
    forged = body.replace(b"3000", b"9000")
    before = state(ctx, w)
    with pytest.raises(BadSignature):
        notifications.handle_bank_notification(ctx, forged, sig)
    resp = client.post("/api/v1/channels/bank/notify", content=forged, headers={"X-Signature": sig})
    assert_error(resp, 401, "bad_signature")
    assert state(ctx, w) == before
    # The genuine one, through the callback endpoint.
    resp = client.post("/api/v1/channels/bank/notify", content=body, headers={"X-Signature": sig})
    assert resp.status_code == 200 and resp.json() == {"status": "succeeded"}
    assert purse(ctx, w, "c1") == (5000, 3000)


@pytest.mark.parametrize("amount", [0, -1, 10**9 + 1, 1.5, "100"])
def test_topup_bad_amounts_refused(ctx: Context, w: World, amount: Any) -> None:
    before = state(ctx, w)
    with pytest.raises(InvalidAmount):
        topup.request_topup(ctx, w.people["c1"], amount)
    assert state(ctx, w) == before
