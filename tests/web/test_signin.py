"""Sign-in stories: passwords (argon2), forced change, TOTP for staff roles, CSRF, and the
failure counters — per address, per staff number and address, per staff number — that
let no stranger lock anyone out or learn which staff numbers exist."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.org.models import Person
from onecard.web import accounts
from onecard.web.throttle import PASSWORD_ADDRESS, PASSWORD_PAIR
from web.pages import (
    PASSWORD,
    Staff,
    TestClient,
    client_from,
    csrf_of,
    post_login,
    sign_in,
    totp_now,
)
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
    r = post_login(client, "Sa1", "nope")
    assert r.status_code == 401
    assert "工号或密码错误" in r.text


def test_five_wrong_passwords_lock_the_number_from_that_address_only(
    ctx: Context, w: World, staff: Staff
) -> None:
    """A stranger typing wrong passwords locks the staff number for themself, not for its
    owner at their own desk (before, 5 requests from anywhere locked the account)."""
    with client_from(ctx, "10.0.0.1") as stranger, client_from(ctx, "10.0.0.2") as owner:
        for _ in range(PASSWORD_PAIR.free + 1):
            post_login(stranger, "Sa1", "bad")
        r = post_login(stranger, "Sa1", PASSWORD)
        assert r.status_code == 401 and "锁定" in r.text
        assert post_login(owner, "Sa1", PASSWORD).status_code == 303
        ctx.clock.advance(seconds=PASSWORD_PAIR.cap_seconds)  # type: ignore[attr-defined]
        assert post_login(stranger, "Sa1", PASSWORD).status_code == 303


def _page_of(html: str, staff_no: str) -> str:
    """A refusal page with what differs per browser (its CSRF token) and the staff number
    typed (echoed in the form) taken out."""
    html = re.sub(r'(name="csrf-token" content=|"X-CSRF-Token": |value=)"[0-9a-f]{40}"', "", html)
    return html.replace(staff_no, "#")


def test_unknown_and_known_staff_numbers_get_the_same_answers_and_the_same_work(
    ctx: Context, w: World, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same messages, statuses and lock for a number that does not exist — and the same
    argon2 verification (the time a password check takes) for each attempt."""
    hashes: list[str | None] = []
    real = accounts.verify_password

    def counting(stored: str | None, password: str) -> bool:
        hashes.append(stored)
        return real(stored, password)

    monkeypatch.setattr(accounts, "verify_password", counting)

    def attempts(staff_no: str, address: str) -> tuple[list[tuple[int, str]], int]:
        hashes.clear()
        with client_from(ctx, address) as c:
            answers = []
            for _ in range(PASSWORD_PAIR.free + 2):
                r = post_login(c, staff_no, "wrongpass1")
                answers.append((r.status_code, _page_of(r.text, staff_no)))
        assert all(h for h in hashes)  # never a verify skipped for want of a hash
        return answers, len(hashes)

    known = attempts("Sa1", "10.0.1.1")
    unknown = attempts("Snobody", "10.0.1.2")
    assert known == unknown
    answers, verified = known
    assert [status for status, _ in answers] == [401] * (PASSWORD_PAIR.free + 2)
    assert "锁定" in answers[-1][1]
    assert verified == PASSWORD_PAIR.free + 1  # every attempt until the lock ran argon2


def test_one_address_is_slowed_down_across_staff_numbers(
    ctx: Context, w: World, staff: Staff
) -> None:
    with client_from(ctx, "10.0.2.1") as guesser, client_from(ctx, "10.0.2.2") as other:
        for i in range(PASSWORD_ADDRESS.free + 1):
            assert post_login(guesser, f"Sguess{i}", "bad").status_code == 401
        r = post_login(guesser, "Sa1", PASSWORD)
        assert r.status_code == 429 and "尝试次数过多" in r.text
        assert post_login(other, "Sa1", PASSWORD).status_code == 303
        ctx.clock.advance(seconds=PASSWORD_ADDRESS.base_seconds)  # type: ignore[attr-defined]
        assert post_login(guesser, "Sa1", PASSWORD).status_code == 303


def test_an_office_behind_one_address_is_not_slowed_by_everyday_mistakes(
    ctx: Context, w: World, staff: Staff
) -> None:
    """Many people share an address behind NAT: their ordinary mistakes, one every two
    minutes all day, drain away faster than they come (one every 3 minutes would)."""
    assert PASSWORD_ADDRESS.decay_seconds == 180
    with client_from(ctx, "10.0.2.9") as office:
        for i in range(3 * PASSWORD_ADDRESS.free):
            ctx.clock.advance(seconds=120 if i % 3 else 240)  # type: ignore[attr-defined]
            assert post_login(office, f"Soffice{i}", "typo").status_code == 401, i
        assert post_login(office, "Sa1", PASSWORD).status_code == 303


def test_fifty_failures_from_many_addresses_lock_the_number_and_end_its_sessions(
    ctx: Context, w: World, staff: Staff
) -> None:
    with client_from(ctx, "10.0.3.1") as owner:
        sign_in(owner, ctx, "Sa1")
        for a in range(10):
            with client_from(ctx, f"10.0.4.{a}") as c:
                for _ in range(PASSWORD_PAIR.free + 1):
                    post_login(c, "Sa1", "bad")
        assert owner.get("/me", follow_redirects=False).status_code == 303
        r = post_login(owner, "Sa1", PASSWORD)
        assert r.status_code == 401 and "锁定" in r.text


def test_sign_ins_and_failures_leave_audit_records(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    post_login(client, "Sa1", "bad")
    sign_in(client, ctx, "Sa1")
    failed = audit.records(ctx, "sign_in_failed")
    assert [(f["scope"], f["totals"]) for f in failed] == [
        ("工号 Sa1", {"address": "testclient", "reason": "bad_credentials"})
    ]
    signed = audit.records(ctx, "sign_in")
    assert len(signed) == 1 and signed[0]["actor"].startswith(f"person:{w.people['a1']}:")


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
    r = post_login(client, "Sbu", PASSWORD)
    assert r.headers["location"] == "/login/totp"
    token = csrf_of(client.get("/login/totp").text)
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


def test_english_is_one_click_away(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    assert "工号" in client.get("/login").text
    r = client.get("/login?lang=en")
    assert "Staff ID" in r.text
    assert "Staff ID" in client.get("/login").text  # remembered in the cookie


def test_concurrent_guesses_at_one_number_cannot_pass_the_lock(
    pg_ctx: Context, w: World, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve wrong passwords for one number from one address at once: the counter is
    locked for each attempt, so exactly five are verified and the rest meet the lock."""
    from concurrent.futures import ThreadPoolExecutor

    verified: list[int] = []
    real = accounts.verify_password

    def counting(stored: str | None, password: str) -> bool:
        verified.append(1)
        return real(stored, password)

    monkeypatch.setattr(accounts, "verify_password", counting)

    def attempt(_: int) -> str:
        try:
            accounts.sign_in(pg_ctx, "Sa1", "wrongpass1", accounts.Client("10.0.9.1"))
        except accounts.AuthError as exc:
            return exc.code
        return "signed_in"

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(attempt, range(12)))
    assert len(verified) == PASSWORD_PAIR.free + 1
    assert sorted(codes) == sorted(
        ["bad_credentials"] * PASSWORD_PAIR.free + ["account_locked"] * (12 - PASSWORD_PAIR.free)
    )
