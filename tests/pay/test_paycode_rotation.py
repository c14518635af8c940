"""A lost phone stops its payment codes (issue 11, item 3).

Reporting a *card* lost stops that card only; the payment code is the phone's. Reporting
the *phone* lost — or rotating the secret — gives the person a new token and secret:
a code made with the old secret is refused as ``code_revoked`` on the one-transaction
path and in the payment batch (PostgreSQL), and a code from the new secret pays.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import select

from onecard.audit.models import AuditEvent
from onecard.core.context import Context
from onecard.core.errors import Forbidden
from onecard.org import builders
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.pay import cards, paycode, paycode_keys
from onecard.pay.batcher import PaymentBatcher
from onecard.pay.models import RetiredPaycode
from onecard.pay.service import PaymentRequest, pay
from web.pages import TestClient, add_staff, sign_in
from world import World, build_world, fund, purse


def _code(ctx: Context, w: World, who: str) -> str:
    with ctx.db.read() as conn:
        token, secret = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == w.people[who])
        ).one()
    at = ctx.clock.now().replace(tzinfo=UTC).timestamp()
    return paycode.make_code(
        ctx.settings.region_no, token, secret, at, ctx.settings.paycode_step_seconds
    )


def _holder(w: World, who: str) -> Actor:
    return Actor(f"person:{w.people[who]}:x", person_id=w.people[who], unit_id=None)


def _answer(out: object) -> tuple[str, str | None]:
    data = json.loads(out.body)  # type: ignore[attr-defined]
    return data["result"], data.get("code")


def test_a_lost_card_stops_the_card_but_not_the_phone(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    cards.report_lost(ctx, _holder(w, "a1"), w.cards["a1"])
    t = w.terminals["A"]
    assert _answer(pay(ctx, t, PaymentRequest("c1", w.cards["a1"], amount_fen=100))) == (
        "refused",
        "card_lost",
    )
    assert _answer(pay(ctx, t, PaymentRequest("p1", _code(ctx, w, "a1"), amount_fen=100)))[0] == (
        "approved"
    )


@pytest.mark.parametrize("phone_lost", [True, False])
def test_old_secret_codes_are_refused_as_revoked_and_new_ones_pay(
    ctx: Context, phone_lost: bool
) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    old = _code(ctx, w, "a1")
    paycode_keys.rotate(ctx, _holder(w, "a1"), w.people["a1"], phone_lost=phone_lost)
    t = w.terminals["A"]
    assert _answer(pay(ctx, t, PaymentRequest("old", old, amount_fen=100))) == (
        "refused",
        "code_revoked",
    )
    assert _answer(pay(ctx, t, PaymentRequest("new", _code(ctx, w, "a1"), amount_fen=100))) == (
        "approved",
        None,
    )
    assert purse(ctx, w, "a1") == (4900, 0)
    # The card still pays: a lost phone is not a lost card.
    assert _answer(pay(ctx, t, PaymentRequest("card", w.cards["a1"], amount_fen=100)))[0] == (
        "approved"
    )
    with ctx.db.read() as conn:
        ev = conn.execute(select(AuditEvent.__table__).where(AuditEvent.kind == "paycode")).one()
        retired = conn.execute(select(RetiredPaycode.token)).scalars().all()
    assert ev.action == ("phone_lost" if phone_lost else "paycode_rotated")
    assert json.loads(ev.before) == {"token": old[4:12]} and ev.person_id == w.people["a1"]
    assert retired == [old[4:12]]
    assert "secret" not in (ev.before + ev.after + (ev.data or ""))


def test_a_made_up_token_is_still_just_invalid(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    code = _code(ctx, w, "a1")
    forged = code[:4] + ("00000000" if code[4:12] != "00000000" else "11111111") + code[12:]
    out = pay(ctx, w.terminals["A"], PaymentRequest("f", forged, amount_fen=100))
    assert _answer(out) == ("refused", "code_invalid")


def test_who_may_rotate(ctx: Context) -> None:
    w = build_world(ctx)
    a1 = w.people["a1"]
    with pytest.raises(Forbidden):
        paycode_keys.rotate(ctx, _holder(w, "b1"), a1)
    other_admin = Actor("ub", grants=frozenset({("unit_admin", w.units["B"], None)}))
    with pytest.raises(Forbidden):
        paycode_keys.rotate(ctx, other_admin, a1)
    own_admin = Actor("ua", grants=frozenset({("unit_admin", w.units["A"], None)}))
    first = paycode_keys.rotate(ctx, own_admin, a1, phone_lost=True)
    second = paycode_keys.rotate(ctx, _holder(w, "a1"), a1)
    with ctx.db.read() as conn:
        retired = set(conn.execute(select(RetiredPaycode.token)).scalars())
    assert first.token != second.token
    assert first.token in retired and second.token not in retired


def test_a_new_token_is_never_a_retired_one(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens are random; if the draw hits a retired one it draws again."""
    w = build_world(ctx)
    with ctx.db.read() as conn:
        old = conn.execute(select(Person.paycode_token).where(Person.id == w.people["a1"])).one()[0]
    paycode_keys.rotate(ctx, _holder(w, "a1"), w.people["a1"])
    draws = iter([old, "12345678"])
    monkeypatch.setattr(builders, "generate_token", lambda: next(draws))
    assert paycode_keys.rotate(ctx, _holder(w, "a2"), w.people["a2"]).token == "12345678"


# --- the payment batch (PostgreSQL) ---------------------------------------------------------
@pytest.fixture
def batcher(pg_ctx: Context) -> Iterator[PaymentBatcher]:
    b = PaymentBatcher(pg_ctx, workers=1, window_ms=300, batch_max=64).start()
    yield b
    b.stop()


@pytest.mark.postgres
def test_the_batch_refuses_old_secret_codes_too(pg_ctx: Context, batcher: PaymentBatcher) -> None:
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    fund(pg_ctx, w, "b1", subsidy=5000)
    old = _code(pg_ctx, w, "a1")
    paycode_keys.rotate(pg_ctx, _holder(w, "a1"), w.people["a1"], phone_lost=True)
    t = w.terminals["A"]
    # One batch: the old code, the new code, and a neighbour paying by code.
    futs = [
        batcher.submit(t, PaymentRequest("b-old", old, amount_fen=100)),
        batcher.submit(t, PaymentRequest("b-new", _code(pg_ctx, w, "a1"), amount_fen=100)),
        batcher.submit(t, PaymentRequest("b-b1", _code(pg_ctx, w, "b1"), amount_fen=100)),
    ]
    got = [_answer(f.result(timeout=30)) for f in futs]
    assert got == [("refused", "code_revoked"), ("approved", None), ("approved", None)]
    assert batcher.stats.batches == 1
    assert purse(pg_ctx, w, "a1") == (4900, 0) and purse(pg_ctx, w, "b1") == (4900, 0)
    # A retry of the refusal gets the first answer byte for byte.
    again = batcher.submit(t, PaymentRequest("b-old", old, amount_fen=100)).result(timeout=30)
    assert again.replayed and _answer(again) == ("refused", "code_revoked")


# --- the diner (/me and the API) and the unit admin (person page and the API) ---------------
def _client(ctx: Context, w: World) -> TestClient:
    from onecard.web.app import create_app

    add_staff(ctx, w)  # everyone gets a password; ua admins unit A
    return TestClient(create_app(ctx))


def test_the_diner_reports_the_phone_lost_on_me(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    with _client(ctx, w) as client:
        token, _ = sign_in(client, ctx, "Sa1")
        home = client.get("/me").text
        assert 'action="/me/phone-lost"' in home and 'action="/me/paycode/rotate"' in home
        old = client.get("/api/v1/me/paycode-secret").json()
        r = client.post("/me/phone-lost", data={"csrf_token": token}, follow_redirects=False)
        # Every session of the person ends, this one included: whoever holds the phone
        # is signed out too.
        assert r.status_code == 303 and r.headers["location"] == "/login?ended=1"
        assert client.get("/api/v1/me/paycode-secret").status_code == 401
        sign_in(client, ctx, "Sa1")
        new = client.get("/api/v1/me/paycode-secret").json()
        assert new["token"] != old["token"] and new["secret"] != old["secret"]
        rotated = client.post("/api/v1/me/paycode-secret/rotate").json()
        assert rotated["token"] not in (old["token"], new["token"]) and "secret" in rotated
        assert client.get("/api/v1/me/paycode-secret").status_code == 200  # not signed out
        lost = client.post("/api/v1/me/phone-lost").json()
        assert (lost["status"], lost["phone_lost"], lost["sessions_ended"]) == (
            "rotated",
            True,
            True,
        )
        assert client.get("/api/v1/me/paycode-secret").status_code == 401
    assert [e.action for e in _paycode_events(ctx)] == [
        "phone_lost",
        "paycode_rotated",
        "phone_lost",
    ]


def test_the_unit_admin_rotates_through_the_api_and_only_for_their_unit(ctx: Context) -> None:
    w = build_world(ctx)
    with _client(ctx, w) as client:
        sign_in(client, ctx, "Sua")
        url = f"/api/v1/admin/people/{w.people['a1']}/paycode/rotate"
        r = client.post(url, json={"phone_lost": True})
        assert r.status_code == 200
        got = r.json()
        assert (got["person_id"], got["phone_lost"], got["status"]) == (
            w.people["a1"],
            True,
            "rotated",
        )
        assert "secret" not in r.text and "token" not in r.text
        other = client.post(f"/api/v1/admin/people/{w.people['b1']}/paycode/rotate", json={})
        assert other.status_code == 403
        page = client.get(f"/unit/{w.units['A']}/people/{w.people['a1']}").text
        assert "挂失手机" in page and "更换付款码密钥" in page
    (ev,) = _paycode_events(ctx)
    assert ev.person_id == w.people["a1"] and ev.action == "phone_lost"


def _paycode_events(ctx: Context) -> list[Any]:
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                select(AuditEvent.__table__)
                .where(AuditEvent.kind == "paycode")
                .order_by(AuditEvent.seq)
            )
        )
