"""Health says the truth (issue 10 item 1, issue 11's "keep health minimal"):

- ``/healthz`` (liveness) is ``{"status": "ok"}`` and nothing else, whatever the database
  does — an outage must not get a healthy process restarted;
- ``/readyz`` is 200 only while payments can be taken, else 503 ``not_ready`` in the
  API's error shape, saying which check failed;
- in production no counts anywhere, and no /docs or /openapi.json unless asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from onecard.core.context import Context, Database
from onecard.core.db import make_engine
from onecard.web.app import create_app
from world import build_world

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def test_liveness_is_minimal(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_when_the_database_answers(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"
    assert r.json()["checks"] == {"database": "ok", "payments": "ok"}


def unreachable(ctx: Context, tmp_path: Path) -> Context:
    """The same settings, a database that cannot be reached (PostgreSQL: a port where
    nothing listens; SQLite: a file in a directory that does not exist)."""
    url = (
        "postgresql://postgres@127.0.0.1:5449/nowhere"
        if ctx.db.is_postgres
        else f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    )
    return Context(db=Database(make_engine(url)), clock=ctx.clock, settings=ctx.settings)


def test_an_outage_is_told_truthfully_and_every_answer_is_json(
    ctx: Context, tmp_path: Path
) -> None:
    down = unreachable(ctx, tmp_path)
    with TestClient(create_app(down)) as client:
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        r = client.get("/readyz")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        err = r.json()["error"]
        assert err["code"] == "not_ready" and err["request_id"]
        assert err["checks"] == {"database": "unreachable", "payments": "unavailable"}
        # A terminal paying during the outage (no group commit): a JSON 503 to retry,
        # never a plain-text 500.
        pay = client.post(
            "/api/v1/terminal/payments",
            json={"txn_id": "o1", "credential": "4310000000000001", "amount_fen": 100},
            headers={"Authorization": "Terminal T-A1:key-A1"},
        )
        assert pay.status_code == 503
        assert pay.headers["content-type"] == "application/json"
        assert pay.json()["error"]["code"] == "service_unavailable"
        assert pay.json()["error"]["request_id"] == pay.headers["x-request-id"]
        # The status page says so too, in Chinese, without failing itself.
        page = client.get("/status")
        assert page.status_code == 200 and "暂不能受理支付" in page.text
    down.db.engine.dispose()


def production(ctx: Context, **changes: object) -> Context:
    settings = ctx.settings.model_copy(
        update={"env": "production", "secret_key": "s" * 32, **changes}
    )
    return Context(db=ctx.db, clock=ctx.clock, settings=settings, bank=ctx.bank)


def test_production_shows_no_counts_and_no_api_docs(ctx: Context) -> None:
    build_world(ctx)
    with TestClient(create_app(ctx)) as dev:
        page = dev.get("/status").text
        assert "人员" in page and "消费机" in page and "/docs" in page
        assert dev.get("/docs").status_code == 200
    with TestClient(create_app(production(ctx))) as prod:
        page = prod.get("/status")
        assert page.status_code == 200 and "正常受理支付" in page.text
        assert "人员" not in page.text and "交易" not in page.text and "/docs" not in page.text
        assert prod.get("/healthz").json() == {"status": "ok"}
        assert set(prod.get("/readyz").json()) == {"status", "checks"}
        for path in ("/docs", "/openapi.json"):
            r = prod.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    with TestClient(create_app(production(ctx, api_docs=True))) as opened:
        assert opened.get("/openapi.json").status_code == 200


@pytest.mark.postgres
def test_with_group_commit_readiness_shows_the_workers_outside_production(
    pg_ctx: Context,
) -> None:
    settings = pg_ctx.settings.model_copy(update={"batch_payments": True})
    ctx = Context(db=pg_ctx.db, clock=pg_ctx.clock, settings=settings, bank=pg_ctx.bank)
    with TestClient(create_app(ctx)) as client:
        for _ in range(100):  # the worker connects right after start
            r = client.get("/readyz")
            if r.status_code == 200:
                break
        assert r.status_code == 200, r.text
        assert r.json()["batch_workers"][0]["state"] == "ok"
    prod = production(ctx)
    with TestClient(create_app(prod)) as client:
        for _ in range(100):
            r = client.get("/readyz")
            if r.status_code == 200:
                break
        assert r.json() == {"status": "ready", "checks": {"database": "ok", "payments": "ok"}}
