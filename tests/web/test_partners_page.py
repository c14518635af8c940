"""The bureau's partner page: the bureau admin creates a partner (its secret shown once,
never again), rotates and revokes it; finance reads the list but cannot write."""

from __future__ import annotations

from onecard.core.context import Context
from onecard.partners import queries
from onecard.web.app import create_app
from web.pages import TestClient, add_staff, sign_in
from world import build_world


def test_the_bureau_creates_rotates_and_revokes_a_partner(ctx: Context) -> None:
    w = build_world(ctx)
    staff = add_staff(ctx, w)
    with TestClient(create_app(ctx)) as client:
        token, _ = sign_in(client, ctx, staff["bu"])
        form = {
            "csrf_token": token,
            "client_id": "jj-bank",
            "name": "九江银行",
            "scope": "directory:read",
        }
        r = client.post("/bureau/partners", data=form)
        assert r.status_code == 200, r.text[:300]
        assert 'id="new-secret"' in r.text
        listed = client.get("/bureau/partners").text
        assert "jj-bank" in listed and 'id="new-secret"' not in listed
        assert client.post("/bureau/partners", data=form).status_code == 409  # the same id
        r = client.post("/bureau/partners/jj-bank/rotate", data={"csrf_token": token})
        assert r.status_code == 200 and 'id="new-secret"' in r.text
        assert queries.partners(ctx)[0]["valid_credentials"] == 2
        r = client.post("/bureau/partners/jj-bank/revoke", data={"csrf_token": token})
        assert r.status_code == 200
        assert queries.partners(ctx)[0]["status"] == "revoked"


def test_finance_reads_but_cannot_create(ctx: Context) -> None:
    w = build_world(ctx)
    staff = add_staff(ctx, w)
    with TestClient(create_app(ctx)) as client:
        token, _ = sign_in(client, ctx, staff["fi"])
        assert client.get("/bureau/partners").status_code == 200
        form = {"csrf_token": token, "client_id": "x-bank", "name": "X", "scope": "directory:read"}
        assert client.post("/bureau/partners", data=form).status_code == 403
    assert queries.partners(ctx) == []
