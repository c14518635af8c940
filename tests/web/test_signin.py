"""Sign-in stories: passwords (argon2), forced change, TOTP for staff roles, lockout, CSRF."""

from __future__ import annotations

from sqlalchemy import select, update

from onecard.core.context import Context
from onecard.org.models import Person
from onecard.web.accounts import MAX_FAILED
from web.pages import PASSWORD, Staff, TestClient, csrf_of, sign_in, totp_now
from world import World


def test_a_diner_signs_in_and_lands_on_their_account(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _, where = sign_in(client, ctx, "Sa1")
    assert where == "/me"
    page = client.get("/me")
    assert page.status_code == 200
    assert "张伟" in page.text
    assert "补贴" in page.text


def test_pages_need_a_session(ctx: Context, w: World, staff: Staff, client: TestClient) -> None:
    r = client.get("/me", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/me"


def test_a_wrong_password_is_refused_in_chinese(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"staff_no": "Sa1", "password": "nope", "csrf_token": token})
    assert r.status_code == 401
    assert "工号或密码错误" in r.text


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token = csrf_of(client.get("/login").text)
    for _ in range(MAX_FAILED):
        client.post("/login", data={"staff_no": "Sa1", "password": "bad", "csrf_token": token})
    r = client.post("/login", data={"staff_no": "Sa1", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 401
    assert "锁定" in r.text
    with ctx.db.read() as conn:
        locked = conn.execute(select(Person.locked_until).where(Person.staff_no == "Sa1")).scalar()
    assert locked is not None


def test_a_form_without_the_csrf_token_is_refused(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    client.get("/login")
    r = client.post("/login", data={"staff_no": "Sa1", "password": PASSWORD})
    assert r.status_code == 403
    assert "页面已过期" in r.text
    r = client.post(
        "/login", data={"staff_no": "Sa1", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert r.status_code == 403


def test_first_sign_in_forces_a_password_change(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with ctx.db.begin() as conn:
        conn.execute(
            update(Person).where(Person.staff_no == "Sa2").values(must_change_password=True)
        )
    token, where = sign_in(client, ctx, "Sa2")
    assert where == "/login/password"
    assert client.get("/me", follow_redirects=False).status_code == 303  # not yet signed in
    bad = client.post(
        "/login/password",
        data={"current": PASSWORD, "new": "short", "confirm": "short", "csrf_token": token},
    )
    assert bad.status_code == 422
    r = client.post(
        "/login/password",
        data={
            "current": PASSWORD,
            "new": "newpass2026",
            "confirm": "newpass2026",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/me"
    assert client.get("/me").status_code == 200


def test_bureau_staff_need_the_second_factor(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        data={"staff_no": "Sbu", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/login/totp"
    assert client.get("/me", follow_redirects=False).status_code == 303  # half signed in
    wrong = client.post("/login/totp", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401
    ok = client.post(
        "/login/totp", data={"code": totp_now(ctx), "csrf_token": token}, follow_redirects=False
    )
    assert ok.headers["location"] == "/bureau"


def test_an_authenticator_code_signs_in_once(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """A code read over a shoulder cannot open a second session, even inside its 30 s."""
    sign_in(client, ctx, "Sbu")
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/me").text)})
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"staff_no": "Sbu", "password": PASSWORD, "csrf_token": token})
    again = client.post("/login/totp", data={"code": totp_now(ctx), "csrf_token": token})
    assert again.status_code == 401 and "动态验证码错误" in again.text
    ctx.clock.advance(seconds=30)  # type: ignore[attr-defined]
    ok = client.post(
        "/login/totp", data={"code": totp_now(ctx), "csrf_token": token}, follow_redirects=False
    )
    assert ok.headers["location"] == "/bureau"


def test_a_bureau_admin_without_an_authenticator_enrols_one(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with ctx.db.begin() as conn:
        conn.execute(update(Person).where(Person.staff_no == "Sbu").values(totp_secret=None))
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"staff_no": "Sbu", "password": PASSWORD, "csrf_token": token})
    page = client.get("/login/totp")
    assert "<svg" in page.text
    import re

    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page.text)
    assert secret, page.text
    r = client.post(
        "/login/totp",
        data={"code": totp_now(ctx, secret.group(1)), "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with ctx.db.read() as conn:
        stored = conn.execute(select(Person.totp_secret).where(Person.staff_no == "Sbu")).scalar()
    assert stored == secret.group(1)


def test_signing_out_ends_the_session(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sa1")
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/me", follow_redirects=False).status_code == 303


def test_english_is_one_click_away(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    assert "工号" in client.get("/login").text
    r = client.get("/login?lang=en")
    assert "Staff ID" in r.text
    assert "Staff ID" in client.get("/login").text  # remembered in the cookie
