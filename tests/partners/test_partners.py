"""The partner API (R-I3): signed requests accepted, every kind of bad one refused (401),
a scope the agreement lacks refused (403), nothing written on a refusal, and the
bureau's create / rotate / revoke audited."""

from __future__ import annotations

import re
import warnings
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select

from onecard.audit.models import AuditEvent
from onecard.core.clock import FixedClock
from onecard.core.context import Context
from onecard.core.errors import Forbidden
from onecard.org.actors import Actor
from onecard.partners import queries, service, signing
from onecard.partners.models import PartnerCredential, PartnerNonce
from onecard.web.app import create_app
from world import build_world

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BUREAU = Actor.system("test")
PATH = "/api/v1/partner/canteens"


def _epoch(ctx: Context) -> int:
    """The server's now (naive UTC) in seconds since the epoch."""
    return int(ctx.clock.now().replace(tzinfo=UTC).timestamp())


def signed(
    client_id: str,
    secret: str,
    ts: int,
    nonce: str,
    method: str = "GET",
    path: str = PATH,
    query: str = "",
    body: bytes = b"",
) -> dict[str, str]:
    text = signing.canonical(method, path, query, ts, nonce, body)
    return {
        "Authorization": signing.authorization(client_id, ts, nonce, signing.sign(secret, text))
    }


def nonces(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(PartnerNonce)).scalar_one())


def partner_events(ctx: Context) -> list[tuple[str, str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(AuditEvent.action, AuditEvent.target, AuditEvent.after)
            .where(AuditEvent.kind == "partner")
            .order_by(AuditEvent.seq)
        ).all()
    return [(a, t, after) for a, t, after in rows]


@pytest.fixture
def bank(ctx: Context) -> tuple[Context, TestClient, str]:
    build_world(ctx)
    secret = service.create(ctx, BUREAU, "jj-bank", "九江银行 e 餐卡", ["directory:read"])
    return ctx, TestClient(create_app(ctx)), secret


def test_a_signed_request_is_answered_and_its_nonce_kept(bank: Any) -> None:
    ctx, client, secret = bank
    ts = _epoch(ctx)
    r = client.get(
        PATH,
        params={"page": "1", "q": ""},
        headers=signed("jj-bank", secret, ts, "n-000001", query="page=1&q="),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["partner"] == "jj-bank"
    assert body["total"] == len(body["canteens"]) or body["pages"] > 1
    assert nonces(ctx) == 1


def test_the_query_is_signed_in_sorted_order(bank: Any) -> None:
    ctx, client, secret = bank
    ts = _epoch(ctx)
    # Sent as q=…&page=1, signed over the sorted page=1&q=…
    h = signed("jj-bank", secret, ts, "n-sorted1", query="q=%E9%A3%9F%E5%A0%82&page=1")
    assert client.get(PATH + "?q=%E9%A3%9F%E5%A0%82&page=1", headers=h).status_code == 200
    # The query changed after signing: refused.
    h = signed("jj-bank", secret, ts, "n-sorted2", query="page=1")
    assert client.get(PATH + "?page=2", headers=h).status_code == 401


@pytest.mark.parametrize(
    "bad",
    ["wrong secret", "body altered", "too old", "too new", "malformed", "unknown client"],
)
def test_bad_requests_are_refused_and_nothing_written(bank: Any, bad: str) -> None:
    ctx, client, secret = bank
    ts = _epoch(ctx)
    kw: dict[str, Any] = {"client_id": "jj-bank", "secret": secret, "ts": ts, "nonce": "n-bad0001"}
    send_body = b""
    if bad == "wrong secret":
        kw["secret"] = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    elif bad == "body altered":
        kw["body"] = b'{"amount_fen": 100}'
        send_body = b'{"amount_fen": 900}'
    elif bad == "too old":
        kw["ts"] = ts - signing.WINDOW_S - 1
    elif bad == "too new":
        kw["ts"] = ts + signing.WINDOW_S + 1
    elif bad == "unknown client":
        kw["client_id"] = "no-such-bank"
    headers = signed(**kw)
    if bad == "malformed":
        headers = {"Authorization": headers["Authorization"].replace("Nonce=", "Nonse=")}
    r = client.request("GET", PATH, headers=headers, content=send_body)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "partner_unauthorized"
    assert nonces(ctx) == 0


def test_a_timestamp_at_the_window_edge_is_accepted(bank: Any) -> None:
    ctx, client, secret = bank
    ts = _epoch(ctx) - signing.WINDOW_S
    assert client.get(PATH, headers=signed("jj-bank", secret, ts, "n-edge001")).status_code == 200


def test_a_replayed_nonce_is_refused(bank: Any) -> None:
    ctx, client, secret = bank
    h = signed("jj-bank", secret, _epoch(ctx), "n-replay1")
    assert client.get(PATH, headers=h).status_code == 200
    again = client.get(PATH, headers=h)
    assert again.status_code == 401
    assert "replay" in again.json()["error"]["message"]
    assert nonces(ctx) == 1


def test_revoked_partner_is_refused(bank: Any) -> None:
    ctx, client, secret = bank
    service.revoke(ctx, BUREAU, "jj-bank")
    r = client.get(PATH, headers=signed("jj-bank", secret, _epoch(ctx), "n-revoke1"))
    assert r.status_code == 401
    assert nonces(ctx) == 0
    assert queries.partners(ctx)[0]["status"] == "revoked"


def test_rotation_keeps_the_old_secret_for_the_grace_period_only(bank: Any) -> None:
    ctx, client, old = bank
    new = service.rotate(ctx, BUREAU, "jj-bank", grace_hours=2)
    assert new != old
    assert (
        client.get(PATH, headers=signed("jj-bank", old, _epoch(ctx), "n-rot0001")).status_code
        == 200
    )
    assert (
        client.get(PATH, headers=signed("jj-bank", new, _epoch(ctx), "n-rot0002")).status_code
        == 200
    )
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.advance(hours=2, seconds=1)
    assert (
        client.get(PATH, headers=signed("jj-bank", old, _epoch(ctx), "n-rot0003")).status_code
        == 401
    )
    assert (
        client.get(PATH, headers=signed("jj-bank", new, _epoch(ctx), "n-rot0004")).status_code
        == 200
    )


def test_a_scope_the_agreement_lacks_is_403(ctx: Context) -> None:
    build_world(ctx)
    secret = service.create(ctx, BUREAU, "other-city", "另一城市平台", [])
    client = TestClient(create_app(ctx))
    r = client.get(PATH, headers=signed("other-city", secret, _epoch(ctx), "n-scope01"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "partner_out_of_scope"


def test_the_secret_is_sealed_not_stored_in_clear(bank: Any) -> None:
    ctx, _, secret = bank
    with ctx.db.read() as conn:
        sealed = conn.execute(select(PartnerCredential.sealed_secret)).scalar_one()
    assert secret.encode() not in bytes(sealed)
    assert signing.unseal(ctx.settings.partner_key_bytes, "jj-bank", 1, bytes(sealed)) == secret
    with pytest.raises(InvalidTag):  # another partner's associated data: does not open
        signing.unseal(ctx.settings.partner_key_bytes, "other", 1, bytes(sealed))


def test_create_rotate_revoke_are_audited_without_the_secret(bank: Any) -> None:
    ctx, _, secret = bank
    new = service.rotate(ctx, BUREAU, "jj-bank")
    service.revoke(ctx, BUREAU, "jj-bank")
    events = partner_events(ctx)
    assert [(a, t) for a, t, _ in events] == [
        ("partner_created", "jj-bank"),
        ("partner_rotated", "jj-bank"),
        ("partner_revoked", "jj-bank"),
    ]
    assert all(secret not in (after or "") and new not in (after or "") for _, _, after in events)


def test_only_the_bureau_admin_manages_partners(ctx: Context) -> None:
    diner = Actor(label="person:1", person_id=1, unit_id=1)
    with pytest.raises(Forbidden):
        service.create(ctx, diner, "x-bank", "X", ["directory:read"])
    assert partner_events(ctx) == []


def test_the_docs_worked_example_is_right() -> None:
    """docs/api.md's worked example: its canonical string and signature are what the
    code computes from its client id, secret, timestamp and nonce."""
    doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    part = doc.split("## Partner API", 1)[1]
    field = {
        k: re.search(rf"^{k}: `([^`]+)`", part, re.M)
        for k in ("Client id", "Secret", "Timestamp", "Nonce", "Request")
    }
    got = {k: m.group(1) for k, m in field.items() if m}
    assert set(got) == set(field), f"the worked example lacks: {set(field) - set(got)}"
    method, target = got["Request"].split(" ", 1)
    path, _, query = target.partition("?")
    text = signing.canonical(method, path, query, int(got["Timestamp"]), got["Nonce"], b"")
    assert "```text\n" + text + "\n```" in part
    sig = signing.sign(got["Secret"], text)
    assert signing.authorization(got["Client id"], int(got["Timestamp"]), got["Nonce"], sig) in part
