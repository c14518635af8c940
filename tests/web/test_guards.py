"""Cross-site requests cannot reach the session-authenticated API through a form."""

from __future__ import annotations

import pytest

from onecard.core.context import Context
from web.pages import Staff, TestClient, sign_in
from world import World


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"],
)
def test_an_import_in_a_form_type_is_refused(
    ctx: Context, w: World, staff: Staff, client: TestClient, content_type: str
) -> None:
    sign_in(client, ctx, "Sua")
    r = client.post(
        "/api/v1/funding/roster/import?filename=r.csv",
        content=b"x",
        headers={"Content-Type": content_type},
    )
    assert r.status_code == 415


def test_an_import_as_a_file_type_still_works(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, "Sua")
    r = client.post(
        "/api/v1/funding/roster/import?dry_run=true&filename=r.csv",
        content="工号,姓名,单位\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code != 415


ROSTER = "/api/v1/funding/roster/import?dry_run=true&filename=r.csv"


@pytest.mark.parametrize(
    ("header", "value", "refused"),
    [
        ("origin", "http://evil.example", True),
        ("origin", "null", True),
        ("referer", "http://evil.example/page", True),
        ("origin", "http://testserver", False),
        ("referer", "http://testserver/unit/1/import", False),
        (None, None, False),  # neither: not a browser's cross-site request
    ],
)
def test_a_cookie_carrying_api_write_from_another_site_is_refused(
    ctx: Context,
    w: World,
    staff: Staff,
    client: TestClient,
    header: str | None,
    value: str | None,
    refused: bool,
) -> None:
    sign_in(client, ctx, "Sua")
    headers = {"Content-Type": "text/csv", **({header: value} if header and value else {})}
    r = client.post(ROSTER, content="工号,姓名,单位\n".encode(), headers=headers)
    if refused:
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "cross_site"
    else:
        assert r.status_code != 403


def test_a_terminal_is_not_asked_for_an_origin(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """No cookie, no cross-site forgery: a terminal's own headers are its business."""
    r = client.post(
        "/api/v1/terminal/payments",
        json={"txn_id": "o-1", "credential": w.cards["a1"], "amount_fen": 100},
        headers={"Authorization": f"Terminal T-A1:{w.keys['A']}", "Origin": "http://x.example"},
    )
    assert r.status_code == 200 and r.json()["result"] == "approved"


@pytest.mark.parametrize("path", ["/login", "/me", "/canteens", "/api/v1/me/balances", "/nope"])
def test_every_answer_carries_the_security_headers(
    ctx: Context, w: World, staff: Staff, client: TestClient, path: str
) -> None:
    sign_in(client, ctx, "Sa1")
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


def test_an_error_page_keeps_the_signed_in_menu(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """A unit admin refused another unit's page still sees their own menu and 退出."""
    sign_in(client, ctx, "Sua")
    r = client.get(f"/unit/{w.units['B']}")
    assert r.status_code == 403
    assert 'action="/logout"' in r.text and "登录</a>" not in r.text
