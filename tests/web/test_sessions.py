"""Sessions end: on sign-out, a password change, a change of role, "sign out everywhere"
(by the person or an admin of their unit), after idling and at their absolute limit.
The cookie of an ended session opens no page and no API — not even
``/api/v1/me/paycode-secret``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org import sessions
from onecard.org.session_models import WebSession
from onecard.web.app import create_app
from web.pages import PASSWORD, Staff, TestClient, client_from, csrf_of, post_login, sign_in
from world import World


def _cookie(client: TestClient) -> str:
    return next(c.value for c in client.cookies.jar if c.name == "onecard_session")


def _opens(ctx: Context, cookie: str) -> tuple[int, int]:
    """What a copy of a session cookie opens: (/me status, paycode-secret status)."""
    with TestClient(create_app(ctx), cookies={"onecard_session": cookie}) as thief:
        page = thief.get("/me", follow_redirects=False).status_code
        api = thief.get("/api/v1/me/paycode-secret").status_code
    return page, api


def test_a_copied_cookie_works_until_sign_out_and_never_after(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sa1")
    cookie = _cookie(client)
    assert _opens(ctx, cookie) == (200, 200)
    client.post("/logout", data={"csrf_token": token})
    assert _opens(ctx, cookie) == (303, 401)
    assert not any(c.name == "onecard_session" for c in client.cookies.jar)
    assert [r["scope"] for r in audit.records(ctx, "sign_out")] == ["工号 Sa1"]


def test_a_password_change_ends_every_other_session(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with client_from(ctx, "10.1.0.9") as other:
        sign_in(other, ctx, "Sa1")
        token, _ = sign_in(client, ctx, "Sa1")
        before = _cookie(client)
        r = client.post(
            "/login/password",
            data={
                "current": PASSWORD,
                "new": "fresh2026pw",
                "confirm": "fresh2026pw",
                "csrf_token": token,
            },
        )
        assert r.status_code == 200 and "密码已修改" in r.text
        assert other.get("/me", follow_redirects=False).status_code == 303
        assert _opens(ctx, before) == (303, 401)  # this browser's old cookie too …
        assert client.get("/me").status_code == 200  # … it carries on with a fresh one


def test_a_change_of_role_ends_the_session(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """A diner made bureau admin must sign in again — and pass the second factor."""
    sign_in(client, ctx, "Sa1")
    assert client.get("/me").status_code == 200
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a1"], "bureau_admin")
    assert client.get("/me", follow_redirects=False).status_code == 303
    assert client.get("/bureau", follow_redirects=False).status_code == 303
    with ctx.db.read() as conn:
        reasons = conn.execute(select(WebSession.end_reason)).scalars().all()
    assert reasons == ["role_changed"]
    assert post_login(client, "Sa1", PASSWORD).headers["location"] == "/login/totp"


def test_signing_out_everywhere_from_me(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with client_from(ctx, "10.1.0.8") as phone:
        sign_in(phone, ctx, "Sa1")
        token, _ = sign_in(client, ctx, "Sa1")
        me = client.get("/me").text
        assert 'action="/me/security/sign-out-everywhere"' in me
        listed = client.get("/me/security")
        assert listed.text.count("<tr><td>") == 2 and "10.1.0.8" in listed.text
        r = client.post(
            "/me/security/sign-out-everywhere",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/login?ended=1"
        assert phone.get("/me", follow_redirects=False).status_code == 303
        assert client.get("/me", follow_redirects=False).status_code == 303
    assert audit.records(ctx, "sessions_ended")[0]["totals"] == {"sessions": 2}


def test_a_unit_admin_signs_a_person_out_everywhere(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with client_from(ctx, "10.1.0.7") as diner:
        sign_in(diner, ctx, "Sa1")
        page_url = f"/unit/{w.units['A']}/people/{w.people['a1']}"
        with client_from(ctx, "10.1.0.6") as other_unit:
            token, _ = sign_in(other_unit, ctx, "Sub")
            r = other_unit.post(f"{page_url}/sessions/end", data={"csrf_token": token})
            assert r.status_code == 403
        with client_from(ctx, "10.1.0.5") as finance:  # reads every unit, changes none
            token, _ = sign_in(finance, ctx, "Sfi")
            page = finance.get(page_url).text
            assert 'id="end-person-sessions"' not in page
            r = finance.post(f"{page_url}/sessions/end", data={"csrf_token": token})
            assert r.status_code == 403
        assert diner.get("/me").status_code == 200
        token, _ = sign_in(client, ctx, "Sua")
        page = client.get(page_url).text
        assert 'id="end-person-sessions"' in page and "当前登录" in page
        r = client.post(f"{page_url}/sessions/end", data={"csrf_token": csrf_of(page)})
        assert r.status_code == 200 and 'id="sessions-ended"' in r.text
        assert diner.get("/me", follow_redirects=False).status_code == 303
    assert client.get(page_url).status_code == 200  # the admin stays signed in


def test_sessions_end_after_idling_and_at_their_absolute_limit(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    idle = ctx.settings.session_idle_minutes
    sign_in(client, ctx, "Sa1")
    ctx.clock.advance(minutes=idle + 1)  # type: ignore[attr-defined]
    assert client.get("/me", follow_redirects=False).status_code == 303
    sign_in(client, ctx, "Sa1")
    statuses = []
    for _ in range(ctx.settings.session_max_hours * 60 // (idle - 5) + 2):
        ctx.clock.advance(minutes=idle - 5)  # type: ignore[attr-defined]
        statuses.append(client.get("/me", follow_redirects=False).status_code)
        if statuses[-1] != 200:
            break
    assert statuses[-1] == 303 and set(statuses[:-1]) == {200}  # kept alive, then ended
    with ctx.db.read() as conn:
        started = conn.execute(select(func.max(WebSession.created_at))).scalar_one()
    lasted = ctx.clock.now() - started
    assert timedelta(hours=ctx.settings.session_max_hours) <= lasted
    assert lasted < timedelta(hours=ctx.settings.session_max_hours, minutes=idle)


def test_a_half_signed_in_session_lives_ten_minutes(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    assert post_login(client, "Sbu", PASSWORD).headers["location"] == "/login/totp"
    assert client.get("/login/totp").status_code == 200
    ctx.clock.advance(minutes=sessions.PENDING_MINUTES)  # type: ignore[attr-defined]
    r = client.get("/login/totp", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_ending_a_persons_sessions_from_another_service(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """``end_person_sessions`` runs in the caller's transaction (a phone reported lost)."""
    sign_in(client, ctx, "Sa1")
    with ctx.db.begin() as conn:
        assert sessions.end_person_sessions(conn, w.people["a1"], "phone_lost", ctx.clock.now())
    assert client.get("/me", follow_redirects=False).status_code == 303
    with ctx.db.read() as conn:
        assert conn.execute(select(WebSession.end_reason)).scalar() == "phone_lost"


def test_signing_in_replaces_the_browsers_session(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """No fixation: a session token planted before sign-in is not the one signed in."""
    sign_in(client, ctx, "Sa2")
    planted = _cookie(client)
    sign_in(client, ctx, "Sa1")
    assert _cookie(client) != planted
    assert _opens(ctx, planted) == (303, 401)
