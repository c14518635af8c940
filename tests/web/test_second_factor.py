"""The second factor holds: wrong authenticator codes are counted on their own (per person
and per address) with a doubling wait a right password does not reset, so a 6-digit
code cannot be guessed in its lifetime; and binding a first authenticator takes the
bureau's one-time enrolment code beyond the password."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pyotp
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from onecard.cli import app as cli_app
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.models import Person
from onecard.org.session_models import EnrolmentCode, SignInThrottle, WebSession
from onecard.org.sessions import token_hash
from onecard.web import account_cli
from onecard.web.throttle import FORGET, TOTP_ADDRESS, TOTP_PERSON
from web.pages import (
    BUREAU_TOTP,
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


def _wrong(ctx: Context, secret: str = BUREAU_TOTP) -> str:
    """A code none of the accepted steps around now makes."""
    at = ctx.clock.now().replace(tzinfo=UTC).timestamp()
    totp = pyotp.TOTP(secret)
    valid = {totp.at(at + d) for d in (-30, 0, 30)}
    code = 0
    while f"{code:06d}" in valid:
        code += 1
    return f"{code:06d}"


def _password_step(client: TestClient, staff_no: str) -> str:
    r = post_login(client, staff_no, PASSWORD)
    assert r.headers["location"] == "/login/totp", r.text
    return csrf_of(client.get("/login/totp").text)


def _code(client: TestClient, token: str, code: str, enrolment: str | None = None) -> object:
    data = {"code": code, "csrf_token": token}
    if enrolment is not None:
        data["enrolment_code"] = enrolment
    return client.post("/login/totp", data=data, follow_redirects=False)


def _counter(ctx: Context, scope: str, key: str) -> tuple[int, float]:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(SignInThrottle.failures, SignInThrottle.blocked_until).where(
                SignInThrottle.scope == scope, SignInThrottle.key == key
            )
        ).one()
    wait = (row.blocked_until - ctx.clock.now()).total_seconds() if row.blocked_until else 0
    return int(row.failures), wait


def test_a_right_password_does_not_reset_the_count_of_wrong_codes(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """The issue's story: right password, four wrong codes, again. Before, the right
    password reset the counter the codes counted on, so this never ended."""
    bu = str(w.people["bu"])
    token = _password_step(client, "Sbu")
    for _ in range(TOTP_PERSON.free + 1):
        assert _code(client, token, _wrong(ctx)).status_code == 401  # type: ignore[attr-defined]
    token = _password_step(client, "Sbu")  # the right password again …
    assert _counter(ctx, TOTP_PERSON.scope, bu)[0] == TOTP_PERSON.free + 1  # … resets nothing
    r = _code(client, token, totp_now(ctx))  # even the right code waits its turn
    assert r.status_code == 429 and "尝试次数过多" in r.text  # type: ignore[attr-defined]


def test_each_wrong_code_doubles_the_wait_and_a_right_one_clears_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    bu = str(w.people["bu"])
    token = _password_step(client, "Sbu")
    waits = []
    for _ in range(TOTP_PERSON.free + 6):
        assert _code(client, token, _wrong(ctx)).status_code == 401  # type: ignore[attr-defined]
        wait = _counter(ctx, TOTP_PERSON.scope, bu)[1]
        waits.append(wait)
        if wait:
            refused = _code(client, token, _wrong(ctx))
            assert refused.status_code == 429  # type: ignore[attr-defined]
            ctx.clock.advance(seconds=wait)  # type: ignore[attr-defined]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 32]
    assert _counter(ctx, TOTP_PERSON.scope, bu)[0] == len(waits)  # waiting is not a guess
    ctx.clock.advance(seconds=30)  # type: ignore[attr-defined]
    r = _code(client, token, totp_now(ctx))
    assert r.headers["location"] == "/bureau"  # type: ignore[attr-defined]
    assert _counter(ctx, TOTP_PERSON.scope, bu) == (0, 0)


def test_wrong_codes_are_counted_per_address_too(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """Codes guessed for several people from one address slow down that address, even for
    a person with no failures of their own."""
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a2"], "auditor")
        conn.execute(
            update(Person).where(Person.id == w.people["a2"]).values(totp_secret=BUREAU_TOTP)
        )
    with client_from(ctx, "10.0.5.1") as guesser, client_from(ctx, "10.0.5.2") as elsewhere:
        for i in range(TOTP_ADDRESS.free + 1):
            ctx.clock.advance(seconds=20)  # type: ignore[attr-defined]  # past each person's wait
            token = _password_step(guesser, ("Sbu", "Sfi")[i % 2])
            assert _code(guesser, token, _wrong(ctx)).status_code == 401  # type: ignore[attr-defined]
        token = _password_step(guesser, "Sa2")
        r = _code(guesser, token, totp_now(ctx))
        assert r.status_code == 429  # type: ignore[attr-defined]
        token = _password_step(elsewhere, "Sa2")
        assert _code(elsewhere, token, totp_now(ctx)).status_code == 303  # type: ignore[attr-defined]


def test_guessing_a_code_takes_orders_of_magnitude_longer_than_a_code_lives() -> None:
    """The arithmetic of docs/web.md, from the rule itself: guessing as fast as the
    back-off allows makes at most 108 guesses a day; each is right with probability at
    most 3 in a million (three steps are accepted); a code lives at most 90 s."""
    guesses, t = 0, 0
    while t < 86400:
        guesses += 1
        t += TOTP_PERSON.wait_after(guesses)
    assert guesses == 108
    days_per_success = 1 / (guesses * 3e-6)
    assert days_per_success > 3000  # about 8.5 years on average
    assert days_per_success * 86400 / 90 > 10**6  # six orders of magnitude past a code's life
    # Waiting a day for the count to be forgotten buys the 13 quick guesses again, fewer
    # than the 96 a day the capped wait allows: forgetting does not help.
    quick = sum(1 for n in range(1, 100) if TOTP_PERSON.wait_after(n) < TOTP_PERSON.cap_seconds)
    assert quick == 13
    assert timedelta(hours=24) <= FORGET


def _unbind(ctx: Context, person_id: int) -> None:
    with ctx.db.begin() as conn:
        conn.execute(update(Person).where(Person.id == person_id).values(totp_secret=None))


def test_binding_a_first_authenticator_needs_the_bureaus_enrolment_code(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    fi = w.people["fi"]
    _unbind(ctx, fi)
    token = _password_step(client, "Sfi")
    page = client.get("/login/totp").text
    assert "<svg" in page and 'name="enrolment_code"' in page
    found = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page)
    assert found, page
    secret = found.group(1)
    # The password and a right authenticator code are not enough.
    r = _code(client, token, totp_now(ctx, secret), enrolment="12345678")
    assert r.status_code == 401 and "绑定码错误" in r.text  # type: ignore[attr-defined]
    with ctx.db.read() as conn:
        assert conn.execute(select(Person.totp_secret).where(Person.id == fi)).scalar() is None

    # The bureau issues a code on the person's page (shown once).
    with client_from(ctx, "10.0.6.1") as bureau:
        sign_in(bureau, ctx, "Sbu")
        person_page = bureau.get(f"/unit/{w.units['C']}/people/{fi}").text
        assert 'id="issue-enrolment-code"' in person_page
        done = bureau.post(
            f"/unit/{w.units['C']}/people/{fi}/enrolment-code",
            data={"csrf_token": csrf_of(person_page)},
        )
        assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
        code = re.search(r'id="enrolment-code">(\d{4} \d{4})<', done.text)
        assert code, done.text
    ctx.clock.advance(seconds=30)  # type: ignore[attr-defined]
    r = _code(client, token, totp_now(ctx, secret), enrolment=code.group(1))
    assert r.headers["location"] == "/bureau"  # type: ignore[attr-defined]
    with ctx.db.read() as conn:
        assert conn.execute(select(Person.totp_secret).where(Person.id == fi)).scalar() == secret
        assert conn.execute(select(EnrolmentCode.person_id)).first() is None  # used up


def test_only_the_bureau_issues_enrolment_codes(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a1"], "auditor")
    _unbind(ctx, w.people["a1"])
    token, _ = sign_in(client, ctx, "Sua")
    page = client.get(f"/unit/{w.units['A']}/people/{w.people['a1']}").text
    assert 'id="issue-enrolment-code"' not in page
    r = client.post(
        f"/unit/{w.units['A']}/people/{w.people['a1']}/enrolment-code", data={"csrf_token": token}
    )
    assert r.status_code == 403
    with ctx.db.read() as conn:
        assert conn.execute(select(EnrolmentCode.person_id)).first() is None


def test_the_cli_issues_an_enrolment_code_for_the_first_administrator(
    ctx: Context, w: World, staff: Staff, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(account_cli, "context", lambda _url=None: ctx)
    _unbind(ctx, w.people["bu"])
    out = CliRunner().invoke(cli_app, ["account", "enrol-code", "Sbu"]).output
    code = re.search(r"(\d{4} \d{4})", out)
    assert code, out
    token = _password_step(client, "Sbu")
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', client.get("/login/totp").text)
    assert secret
    r = _code(client, token, totp_now(ctx, secret.group(1)), enrolment=code.group(1))
    assert r.headers["location"] == "/bureau"  # type: ignore[attr-defined]


def test_the_pending_secret_is_never_in_a_cookie(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """While enrolling, the secret being bound stays on the server: the cookies hold
    random tokens only (the session's is stored as its SHA-256)."""
    _unbind(ctx, w.people["bu"])
    _password_step(client, "Sbu")
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', client.get("/login/totp").text)
    assert secret
    jar = {c.name: c.value for c in client.cookies.jar}
    assert set(jar) <= {"onecard_session", "onecard_csrf", "lang"}
    for value in (jar["onecard_session"], jar["onecard_csrf"]):
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,43}", value), value
        assert secret.group(1) not in value
    with ctx.db.read() as conn:
        stored = conn.execute(select(WebSession.token_hash, WebSession.data)).one()
    assert stored.token_hash == token_hash(jar["onecard_session"])
    assert secret.group(1) in stored.data
