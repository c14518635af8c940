"""The terminal payment fast path answers exactly as the FastAPI route does.

Two apps on one database, both batching: ``fast`` (as served) and ``full``
(``payment_fast_path=False``). An ordinary payment is answered by the fast path, and the
full route's answer to the same request afterwards (a retry: the stored decision) is the
same bytes. Every other request is handed to the full application, so its answer is the
full app's — compared here request by request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from onecard.core.context import Context
from onecard.pay.fast_route import PaymentFastPath
from onecard.web.app import create_app
from world import build_world, fund, purse

pytestmark = pytest.mark.postgres

URL = "/api/v1/terminal/payments"
Post = Callable[..., Awaitable[httpx.Response]]


def fast_path_of(app: FastAPI) -> PaymentFastPath:
    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, PaymentFastPath):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, PaymentFastPath)
    return layer


def run(ctx: Context, scenario: Callable[[Post, Post, Callable[[], int]], Awaitable[None]]) -> None:
    settings = ctx.settings.model_copy(update={"batch_payments": True})

    async def both() -> None:
        fast_ctx = dataclasses.replace(ctx, settings=settings, payment_batcher=None)
        full_ctx = dataclasses.replace(ctx, settings=settings, payment_batcher=None)
        fast, full = create_app(fast_ctx), create_app(full_ctx, payment_fast_path=False)
        fast_http = httpx.ASGITransport(app=fast)
        full_http = httpx.ASGITransport(app=full)
        async with (
            fast.router.lifespan_context(fast),
            full.router.lifespan_context(full),
            httpx.AsyncClient(transport=fast_http, base_url="http://t") as f,
            httpx.AsyncClient(transport=full_http, base_url="http://t") as g,
        ):
            await scenario(f.post, g.post, lambda: fast_path_of(fast).answered)

    asyncio.run(both())


def test_an_ordinary_payment_is_answered_by_the_fast_path_with_the_routes_bytes(
    pg_ctx: Context,
) -> None:
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    auth = {"Authorization": f"Terminal T-A1:{w.keys['A']}"}

    async def scenario(fast: Post, full: Post, answered: Callable[[], int]) -> None:
        for doc in (
            {"txn_id": "f1", "credential": w.cards["a1"], "meal": "lunch"},
            {"txn_id": "f2", "credential": w.cards["a1"], "amount_fen": 250},
            {"txn_id": "f3", "credential": w.cards["a1"], "amount_fen": 10**7},  # refused
            {"txn_id": "f4", "credential": w.cards["a2"], "amount_fen": 100},  # lost card
        ):
            first = await fast(URL, json=doc, headers=auth)
            again = await full(URL, json=doc, headers=auth)
            assert (first.status_code, first.content) == (again.status_code, again.content)
            assert first.headers["content-type"] == again.headers["content-type"]
            assert first.headers["content-length"] == again.headers["content-length"]
        assert answered() == 4

    run(pg_ctx, scenario)
    assert purse(pg_ctx, w, "a1") == (5000 - 300 - 250, 0)


def test_every_other_request_gets_the_full_apps_answer(pg_ctx: Context) -> None:
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    key = w.keys["A"]
    ok = {"txn_id": "o1", "credential": w.cards["a1"], "amount_fen": 100}
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, str], bytes]] = [
        ("wrong key", {"Authorization": "Terminal T-A1:nope", **json_type}, b"{}"),
        ("unknown terminal", {"Authorization": f"Terminal T-ZZ:{key}", **json_type}, b"{}"),
        ("other scheme", {"Authorization": f"Bearer {key}", **json_type}, b"{}"),
        ("no credential", json_type, b"{}"),
        ("not JSON", {"Authorization": f"Terminal T-A1:{key}", **json_type}, b"{nope"),
        ("not an object", {"Authorization": f"Terminal T-A1:{key}", **json_type}, b"[1]"),
        (
            "invalid field",
            {"Authorization": f"Terminal T-A1:{key}", **json_type},
            b'{"txn_id": "x1", "credential": "4310", "amount_fen": -5}',
        ),
        (
            "form body",
            {"Authorization": f"Terminal T-A1:{key}", "Content-Type": "text/plain"},
            b"txn_id=x2",
        ),
        (
            "too large",
            {"Authorization": f"Terminal T-A1:{key}", **json_type},
            b'{"txn_id": "x3", "pad": "' + b"x" * (70 * 1024) + b'"}',
        ),
        (
            "other body for a known txn id",
            {"Authorization": f"Terminal T-A1:{key}", **json_type},
            b'{"txn_id": "o1", "credential": "%s", "amount_fen": 101}' % w.cards["a1"].encode(),
        ),
    ]

    async def scenario(fast: Post, full: Post, answered: Callable[[], int]) -> None:
        auth = {"Authorization": f"Terminal T-A1:{key}"}
        assert (await fast(URL, json=ok, headers=auth)).status_code == 200
        assert answered() == 1
        for n, (name, headers, content) in enumerate(cases):
            # The same request id both times: an error answer carries it (else random).
            headers = {**headers, "X-Request-ID": f"case-{n}"}
            a = await fast(URL, content=content, headers=headers)
            b = await full(URL, content=content, headers=headers)
            assert a.status_code >= 400, name
            assert (a.status_code, a.content) == (b.status_code, b.content), name
        # A conflict is raised by the payment itself and formatted by the app's handler;
        # everything else never reached the fast path's payment.
        assert answered() == 1
        # With a cookie the full app (its session middleware) answers, and it still pays.
        r = await fast(
            URL,
            json={**ok, "txn_id": "o2"},
            headers={**auth, "Cookie": "onecard_session=x"},
        )
        assert r.status_code == 200 and answered() == 1

    run(pg_ctx, scenario)
    assert purse(pg_ctx, w, "a1") == (5000 - 200, 0)
