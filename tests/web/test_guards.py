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
