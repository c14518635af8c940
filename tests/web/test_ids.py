"""Every integer a request names is bounded: an id above 2⁶³−1 (or below 1) is a 422 in
the documented error shape before any query runs — it used to be a 500 or a reset
connection. A new route with an unbounded integer fails the first test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.web.app import create_app
from onecard.web.deps import MAX_ID
from onecard.web.permissions import RULES
from web.pages import Staff, TestClient, sign_in
from world import World

SAMPLE = {
    "quarter": "2026Q1",
    "fmt": "xlsx",
    "key": "daily",
    "kind": "notices",
    "code": "X1",
    "card_no": "4310000000000000",
    "bank_serial": "X1",
    "txn_id": "X1",
    "move": "accepted",
    "sku": "X1",
    "order_no": "X1",
    "client_id": "X1",
    "day": "2026-03-10",
    "meal": "lunch",
    "action": "accept",
}


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):  # FastAPI's included routers
            yield from _routes(r.original_router.routes)


def _params(dependant: Any) -> Iterator[tuple[str, Any]]:
    for kind in ("path_params", "query_params", "body_params"):
        for field in getattr(dependant, kind):
            yield kind, field
    for sub in dependant.dependencies:
        yield from _params(sub)


def _is_int(annotation: Any) -> bool:
    return annotation is int or str(annotation) in ("int | None", "typing.Optional[int]")


def test_every_integer_in_a_path_query_or_form_is_bounded(ctx: Context) -> None:
    loose = []
    for route in _routes(create_app(ctx).routes):
        for kind, field in _params(route.dependant):
            if not _is_int(field.field_info.annotation):
                continue
            meta = field.field_info.metadata
            low = [m.ge for m in meta if hasattr(m, "ge")] + [
                m.gt for m in meta if hasattr(m, "gt")
            ]
            high = [m.le for m in meta if hasattr(m, "le")] + [
                m.lt for m in meta if hasattr(m, "lt")
            ]
            if not low or not high or max(high) > MAX_ID:
                loose.append(f"{sorted(route.methods)} {route.path} {kind} {field.name}")
    assert loose == []


def _id_routes(app: FastAPI) -> Iterator[tuple[str, str, list[str]]]:
    """(method, path, its integer path parameters) for every route with an id in its path."""
    for route in _routes(app.routes):
        ints = [f.name for f in route.dependant.path_params if _is_int(f.field_info.annotation)]
        if ints:
            for method in sorted(route.methods):
                yield method, route.path, ints


def _url(path: str, ints: list[str], value: int) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        return str(value) if name in ints else SAMPLE[name]

    return re.sub(r"\{(\w+)\}", fill, path)


@pytest.mark.parametrize("bad", [2**63, 2**64, 10**30, 0, -1])
def test_an_id_out_of_range_is_a_422_in_the_error_shape(
    ctx: Context, w: World, staff: Staff, client: TestClient, bad: int
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")  # the bureau may open nearly every page
    # … except what only a unit's own admin does (acknowledging a rollout notice).
    unit_admin = TestClient(client.app)
    ua_token, _ = sign_in(unit_admin, ctx, "Sua")
    bureau = Actor("bureau", grants=frozenset({("bureau_admin", None, None)}))
    tried = 0
    for method, path, ints in _id_routes(client.app):  # type: ignore[arg-type]
        url = _url(path, ints, bad)
        who, tok = (
            (client, token) if RULES[(method, path)].admits(bureau) else (unit_admin, ua_token)
        )
        r = who.request(method, url, headers={"X-CSRF-Token": tok}, follow_redirects=False)
        assert r.status_code == 422, (method, url, r.status_code, r.text[:300])
        if url.startswith("/api/"):
            err = r.json()["error"]
            assert err["code"] == "invalid_input", err
            assert {f["field"].split(".")[-1] for f in err["fields"]} & set(ints), err
        else:
            assert "text/html" in r.headers["content-type"]
        tried += 1
    assert tried >= 30


def test_the_largest_id_is_an_ordinary_not_found(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, "Sbu")
    for method, path, ints in _id_routes(client.app):  # type: ignore[arg-type]
        if method != "GET":
            continue
        r = client.get(_url(path, ints, MAX_ID), follow_redirects=False)
        assert r.status_code in (403, 404), (path, r.status_code, r.text[:300])
