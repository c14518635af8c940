"""Every error the API gives is the documented JSON shape with a request id
(``{"error": {"code", "message", "request_id"}}`` and ``X-Request-ID``), including what
no handler expected (a logged 500) and a database that fails mid-payment (503)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text

from onecard.core.context import Context
from onecard.pay import service
from onecard.pay.models import Payment
from onecard.web.app import create_app
from world import World, build_world, fund, purse

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAY = "/api/v1/terminal/payments"


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=5000)
    return world


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx)

    def boom() -> None:
        raise RuntimeError("a bug nobody expected")

    app.add_api_route("/api/v1/boom", boom)
    app.add_api_route("/boom", boom)
    with TestClient(app) as c:
        yield c


def terminal(w: World) -> dict[str, str]:
    return {"Authorization": f"Terminal T-A1:{w.keys['A']}"}


def assert_error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert err["code"] == code and err["message"]
    assert err["request_id"] and r.headers["x-request-id"] == err["request_id"]
    return str(err["request_id"])


def test_every_kind_of_error_carries_a_request_id(w: World, client: TestClient) -> None:
    t = terminal(w)
    ok = {"txn_id": "e1", "credential": w.cards["a1"], "amount_fen": 100}
    assert client.post(PAY, json=ok, headers=t).status_code == 200
    cases = [
        (client.get("/api/v1/nowhere"), 404, "not_found"),
        (client.delete(PAY, headers=t), 405, "method_not_allowed"),
        (client.post(PAY, content=b"x" * 70_000, headers=t), 413, "body_too_large"),
        (
            client.post(PAY, content=b"x", headers={**t, "Content-Type": "text/plain"}),
            415,
            "unsupported_media_type",
        ),
        (client.post(PAY, json={**ok, "amount_fen": -1}, headers=t), 422, "invalid_amount"),
        (client.post(PAY, json=ok), 401, "terminal_unauthorized"),
        (client.post(PAY, json={**ok, "amount_fen": 101}, headers=t), 409, "idempotency_conflict"),
    ]
    ids = {assert_error(r, status, code) for r, status, code in cases}
    assert len(ids) == len(cases)  # one per request


def test_the_clients_own_request_id_is_kept_if_sane(client: TestClient) -> None:
    r = client.get("/api/v1/nowhere", headers={"X-Request-ID": "till-7:abc.1"})
    assert assert_error(r, 404, "not_found") == "till-7:abc.1"
    r = client.get("/api/v1/nowhere", headers={"X-Request-ID": "<script>" + "x" * 80})
    assert assert_error(r, 404, "not_found") != "<script>"


def test_an_unexpected_error_is_a_logged_json_500(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="onecard.web.errors"):
        r = client.get("/api/v1/boom")
    rid = assert_error(r, 500, "internal_error")
    logged = [rec for rec in caplog.records if rid in rec.getMessage()]
    assert logged and logged[0].exc_info is not None  # with its traceback
    page = client.get("/boom")  # a page gets a page, with the same id to quote
    assert page.status_code == 500 and "text/html" in page.headers["content-type"]
    assert page.headers["x-request-id"] in page.text


@pytest.mark.postgres
def test_a_connection_lost_mid_payment_is_a_503_and_nothing_is_kept(
    pg_ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without group commit: the payment's own session is ended as a PostgreSQL restart
    ends it. The terminal hears 503 payment_not_confirmed; the re-sent payment is paid once."""
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    real = service.decide_and_record

    def cut_off(conn: Connection, *args: Any) -> Any:
        conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return real(conn, *args)

    body = {"txn_id": "c1", "credential": w.cards["a1"], "amount_fen": 100}
    with TestClient(create_app(pg_ctx)) as client:
        monkeypatch.setattr(service, "decide_and_record", cut_off)
        r = client.post(PAY, json=body, headers=terminal(w))
        assert_error(r, 503, "payment_not_confirmed")
        assert r.headers["retry-after"] == "1"
        monkeypatch.setattr(service, "decide_and_record", real)
        again = client.post(PAY, json=body, headers=terminal(w))
        assert again.status_code == 200 and again.json()["result"] == "approved"
    with pg_ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Payment)).scalar_one() == 1
    assert purse(pg_ctx, w, "a1") == (4900, 0)


def test_the_api_guide_documents_every_answer_a_client_must_handle_when_things_break() -> None:
    from pathlib import Path

    from onecard.core import errors as e
    from onecard.pay.batch_worker import BatcherStopped

    guide = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    codes = {c.code for c in (e.Unavailable, e.PaymentNotConfirmed, e.PaymentNotSeen)}
    codes |= {BatcherStopped.code, "not_ready", "internal_error", "request_id", "X-Request-ID"}
    assert {c for c in codes if f"`{c}`" not in guide} == set()
