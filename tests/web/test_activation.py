"""Accounts for everyone (issue 13, section 3): activation by a one-time code, the forced
password change, "forgot password" through the unit admin (a reset that ends the
person's sessions), unlock, the unit's Excel list of codes — each audited, never with
the code itself — and every bad input refused with nothing changed."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from onecard.audit.models import AuditEvent
from onecard.core.context import Context
from onecard.core.errors import Forbidden
from onecard.org import account_codes
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.models import Person, Unit
from onecard.org.session_models import AccountCode, SignInThrottle
from onecard.web import account_activation as activation
from onecard.web.accounts import Client
from web.pages import (
    PASSWORD,
    Staff,
    TestClient,
    client_from,
    csrf_of,
    post_login,
    sign_in,
)
from world import World

NEW_PASSWORD = "Lunch2026ok"
CODE_RE = re.compile(r'id="activation-code">([A-Z0-9-]+)<')


@pytest.fixture
def newcomer(ctx: Context, w: World) -> int:
    """Someone a roster import just added to unit A: no password, a phone."""
    with ctx.db.begin() as conn:
        pid = b.create_person(conn, w.region, w.units["A"], "N001", "新同事", phone="13800000001")
    w.people["n1"] = pid
    return pid


def issue_on_page(client: TestClient, ctx: Context, w: World, admin: str, pid: int) -> str:
    token, _ = sign_in(client, ctx, admin)
    r = client.post(
        f"/unit/{w.units['A']}/people/{pid}/activation-code", data={"csrf_token": token}
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    m = CODE_RE.search(r.text)
    assert m, "the code is shown once on the slip"
    return m.group(1)


def post_activate(
    client: TestClient, login: str, code: str, new: str = NEW_PASSWORD, confirm: str | None = None
) -> Any:
    token = csrf_of(client.get("/activate").text)
    return client.post(
        "/activate",
        data={
            "login": login,
            "code": code,
            "new": new,
            "confirm": new if confirm is None else confirm,
            "csrf_token": token,
        },
        follow_redirects=False,
    )


def password_of(ctx: Context, pid: int) -> str | None:
    with ctx.db.read() as conn:
        return conn.execute(select(Person.password_hash).where(Person.id == pid)).scalar()


def actions(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq)).all()
    return [dict(r._mapping) for r in rows]


# --- activation ------------------------------------------------------------------------
def test_a_newcomer_activates_with_the_code_from_the_unit_admin_and_is_signed_in(
    ctx: Context, w: World, staff: Staff, newcomer: int
) -> None:
    with client_from(ctx, "10.1.0.1") as admin, client_from(ctx, "10.1.0.2") as person:
        code = issue_on_page(admin, ctx, w, staff["ua"], newcomer)
        assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", code)
        roster = admin.get(f"/unit/{w.units['A']}").text
        assert 'data-account="pending"' in roster and "打印激活码" in roster
        r = post_activate(person, "N001", code.lower().replace("-", " "))
        assert r.status_code == 303 and r.headers["location"] == "/me"
        assert person.get("/me").status_code == 200
        # The code was used up: a second activation with it is refused.
        with client_from(ctx, "10.1.0.3") as again:
            r = post_activate(again, "N001", code, new="Another2026")
            assert r.status_code == 401 and "激活码" in r.text
    assert post_login(client_from(ctx, "10.1.0.4"), "N001", NEW_PASSWORD).status_code == 303
    with ctx.db.read() as conn:
        left = conn.execute(select(AccountCode).where(AccountCode.person_id == newcomer)).all()
        must = conn.execute(
            select(Person.must_change_password).where(Person.id == newcomer)
        ).scalar()
    assert left == [] and must is False


def test_a_phone_held_by_one_person_activates_too(ctx: Context, w: World, newcomer: int) -> None:
    issued = activation.issue_activation_code(ctx, Actor.system("t"), newcomer)
    result = activation.activate(ctx, "13800000001", issued.code, NEW_PASSWORD, Client("10.2.0.1"))
    assert result.person_id == newcomer and result.staff_no == "N001"


@pytest.mark.parametrize(
    "case", ["wrong", "expired", "unknown", "weak", "mismatch", "left", "revoked"]
)
def test_bad_activations_are_refused_and_change_nothing(
    ctx: Context, w: World, staff: Staff, newcomer: int, case: str
) -> None:
    issued = activation.issue_activation_code(ctx, Actor.system("t"), newcomer)
    login, code, new, confirm = "N001", issued.code, NEW_PASSWORD, NEW_PASSWORD
    expect, text = 401, "激活码错误"
    if case == "wrong":
        code = "ABCDE-FGHJK"
    elif case == "expired":
        ctx.clock.advance(days=ctx.settings.activation_code_days, seconds=1)  # type: ignore[attr-defined]
    elif case == "unknown":
        login = "NOBODY"
    elif case == "weak":
        new = confirm = "abcdefgh"
        expect, text = 422, "字母和数字"
    elif case == "mismatch":
        confirm = "Different2026"
        expect, text = 422, "不一致"
    elif case == "left":
        with ctx.db.begin() as conn:
            conn.execute(update(Person).where(Person.id == newcomer).values(status="left"))
    elif case == "revoked":
        activation.issue_activation_code(ctx, Actor.system("t"), newcomer)  # a new code
    with client_from(ctx, "10.3.0.1") as c:
        r = post_activate(c, login, code, new, confirm)
        assert r.status_code == expect, r.text
        assert text in r.text
        assert c.get("/me", follow_redirects=False).status_code == 303
    assert password_of(ctx, newcomer) is None
    if case in ("weak", "mismatch"):
        # Nothing counted, the code still works.
        with ctx.db.read() as conn:
            assert conn.execute(select(SignInThrottle)).all() == []
        activation.activate(ctx, login, code, NEW_PASSWORD, Client("10.3.0.2"))
        assert password_of(ctx, newcomer) is not None


def test_wrong_codes_lock_like_wrong_passwords_and_the_unit_admin_unlocks(
    ctx: Context, w: World, staff: Staff, newcomer: int
) -> None:
    issued = activation.issue_activation_code(ctx, Actor.system("t"), newcomer)
    with client_from(ctx, "10.4.0.1") as c:
        answers = [post_activate(c, "N001", "WRONG-CODE2").status_code for _ in range(5)]
        assert answers == [401] * 5
        r = post_activate(c, "N001", issued.code)
        assert r.status_code == 401 and "锁定" in r.text
        # The lock is the sign-in's: a password from this address is locked out too.
        assert "锁定" in post_login(c, "N001", "whatever1").text
    assert password_of(ctx, newcomer) is None
    summary = activation.account_summary(ctx, Actor.system("t"), newcomer)
    assert summary["locked"] is True
    with client_from(ctx, "10.4.0.9") as admin:
        token, _ = sign_in(admin, ctx, staff["ua"])
        page = admin.get(f"/unit/{w.units['A']}/people/{newcomer}").text
        assert "登录已锁定" in page and 'id="unlock-account"' in page
        r = admin.post(f"/unit/{w.units['A']}/people/{newcomer}/unlock", data={"csrf_token": token})
        assert r.status_code == 200 and 'id="unlock-done"' in r.text
    with client_from(ctx, "10.4.0.1") as c:
        assert post_activate(c, "N001", issued.code).status_code == 303
    unlock = [e for e in actions(ctx) if e["action"] == "unlock_account"]
    assert len(unlock) == 1 and unlock[0]["person_id"] == newcomer
    assert unlock[0]["actor_person_id"] == w.people["ua"]
    assert json.loads(unlock[0]["data"])["was_locked"] is True


# --- who may issue, reset, unlock ------------------------------------------------------
def test_another_units_admin_and_a_diner_are_refused(
    ctx: Context, w: World, staff: Staff, newcomer: int
) -> None:
    for who in ("ub", "a2"):
        with client_from(ctx, "10.5.0.1") as c:
            token, _ = sign_in(c, ctx, staff[who])
            for what in ("activation-code", "reset", "unlock"):
                r = c.post(
                    f"/unit/{w.units['A']}/people/{newcomer}/{what}", data={"csrf_token": token}
                )
                assert r.status_code == 403, (who, what)
            r = c.post(
                f"/api/v1/admin/people/{newcomer}/reset", headers={"Origin": "http://testserver"}
            )
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    with ctx.db.read() as conn:
        assert conn.execute(select(AccountCode)).all() == []
    # The service checks the actor again, whatever the route.
    ub = Actor(
        label="ub", person_id=w.people["ub"], grants=frozenset({("unit_admin", w.units["B"], None)})
    )
    with pytest.raises(Forbidden):
        activation.issue_activation_code(ctx, ub, newcomer)
    with pytest.raises(Forbidden):
        activation.issue_unit_codes(ctx, ub, w.units["A"])


def test_a_unit_admin_cannot_reset_a_city_role_holder_of_its_own_unit(
    ctx: Context, w: World, staff: Staff
) -> None:
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a2"], "finance")
    ua = Actor(
        label="ua", person_id=w.people["ua"], grants=frozenset({("unit_admin", w.units["A"], None)})
    )
    for act in (
        activation.issue_activation_code,
        activation.reset_account,
        activation.unlock_account,
    ):
        with pytest.raises(Forbidden):
            act(ctx, ua, w.people["a2"])
    # The bureau admin may (an appointed administrator with no password gets in this way).
    assert activation.reset_account(ctx, Actor.system("t"), w.people["a2"]).issued.code


# --- reset -------------------------------------------------------------------------------
def test_a_reset_ends_the_persons_sessions_and_issues_a_new_code(
    ctx: Context, w: World, staff: Staff
) -> None:
    with client_from(ctx, "10.6.0.1") as person, client_from(ctx, "10.6.0.2") as admin:
        sign_in(person, ctx, "Sa1")
        assert person.get("/me").status_code == 200
        token, _ = sign_in(admin, ctx, staff["ua"])
        r = admin.post(
            f"/unit/{w.units['A']}/people/{w.people['a1']}/reset", data={"csrf_token": token}
        )
        assert r.status_code == 200 and 'id="reset-done"' in r.text
        code = CODE_RE.search(r.text)
        assert code
        r = person.get("/me", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert post_login(person, "Sa1", PASSWORD).status_code == 401
        assert post_activate(person, "Sa1", code.group(1)).status_code == 303
        assert person.get("/me").status_code == 200
    reset = [e for e in actions(ctx) if e["action"] == "password_reset"]
    assert len(reset) == 1
    data = json.loads(reset[0]["data"])
    assert data["sessions_ended"] == 1 and data["had_password"] is True
    assert reset[0]["actor_person_id"] == w.people["ua"]
    assert reset[0]["person_id"] == w.people["a1"] and reset[0]["unit_id"] == w.units["A"]


def test_the_login_page_says_how_to_get_in(ctx: Context, w: World, client: TestClient) -> None:
    page = client.get("/login").text
    assert "忘记密码？请联系本单位管理员" in page and 'href="/activate"' in page


# --- forced change -------------------------------------------------------------------------
def test_a_forced_change_holds_every_page_and_the_api_until_done(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    temp = activation.set_temporary_password(ctx, Actor.system("t"), w.people["a1"])
    r = post_login(client, "Sa1", temp)
    assert r.headers["location"] == "/login/password"
    for page in ("/me", "/me/transactions", "/canteens?x=1"):
        r = client.get(page, follow_redirects=False)
        if page.startswith("/canteens"):
            assert r.status_code == 200  # public pages stay public
            continue
        assert r.status_code == 303 and r.headers["location"] == "/login/password", page
    r = client.get("/api/v1/me/balances")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "password_change_required"
    token = csrf_of(client.get("/login/password").text)
    r = client.post(
        "/login/password",
        data={"current": temp, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/me"
    assert client.get("/me").status_code == 200
    assert client.get("/api/v1/me/balances").status_code == 200
    temp_events = [e for e in actions(ctx) if e["action"] == "password_temporary"]
    assert len(temp_events) == 1 and temp not in json.dumps(
        [dict(e) for e in temp_events], default=str
    )


# --- a unit's codes: the sheet and the Excel list --------------------------------------
def test_the_unit_admin_exports_codes_for_the_people_without_a_password(
    ctx: Context, w: World, staff: Staff, newcomer: int
) -> None:
    with ctx.db.begin() as conn:
        second = b.create_person(conn, w.region, w.units["A"], "N002", "=HYPERLINK(1)")
    with client_from(ctx, "10.7.0.1") as admin:
        token, _ = sign_in(admin, ctx, staff["ua"])
        r = admin.post(
            f"/unit/{w.units['A']}/activation-codes", data={"format": "xlsx", "csrf_token": token}
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert r.headers["cache-control"] == "no-store"
        ws = load_workbook(io.BytesIO(r.content))["激活码"]
        rows = [[c.value for c in row] for row in ws.iter_rows()]
        assert rows[0] == ["姓名", "工号", "单位", "激活码", "有效期至"]
        by_no = {row[1]: row for row in rows[1:]}
        assert set(by_no) == {"N001", "N002"}  # everyone else has a password
        with ctx.db.read() as conn:
            unit_name = conn.execute(select(Unit.name).where(Unit.id == w.units["A"])).scalar()
        assert by_no["N001"][2] == unit_name and by_no["N001"][0] == "新同事"
        assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", by_no["N001"][3])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", by_no["N001"][4])
        # Formula-safe: the name is text, not a formula.
        assert ws.cell(row=[r[1] for r in rows].index("N002") + 1, column=1).data_type == "s"
        # A second press leaves the codes handed out alone …
        r = admin.post(
            f"/unit/{w.units['A']}/activation-codes", data={"format": "sheet", "csrf_token": token}
        )
        assert r.status_code == 200 and 'id="no-codes"' in r.text
        # … unless asked to reissue, which voids the first ones.
        r = admin.post(
            f"/unit/{w.units['A']}/activation-codes",
            data={"format": "sheet", "reissue": "yes", "csrf_token": token},
        )
        assert r.text.count('class="slip"') == 2
    old = by_no["N001"][3]
    with client_from(ctx, "10.7.0.2") as c:
        assert post_activate(c, "N001", old).status_code == 401
    issued = [e for e in actions(ctx) if e["action"] == "activation_code_issued"]
    assert len(issued) == 4 and {e["person_id"] for e in issued} == {newcomer, second}
    # No audit record carries a code.
    trail = json.dumps([dict(e) for e in actions(ctx)], default=str)
    assert old not in trail and old.replace("-", "") not in trail


def test_the_api_issues_resets_unlocks_and_activates(
    ctx: Context, w: World, staff: Staff, newcomer: int, client: TestClient
) -> None:
    sign_in(client, ctx, staff["ua"])
    h = {"Origin": "http://testserver"}
    r = client.post(f"/api/v1/admin/people/{newcomer}/activation-code", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["staff_no"] == "N001" and body["code"]
    r = client.post(f"/api/v1/admin/people/{newcomer}/unlock", headers=h)
    assert r.json() == {"person_id": newcomer, "counters_cleared": 0}
    r = client.post(f"/api/v1/admin/units/{w.units['A']}/activation-codes", json={}, headers=h)
    assert r.json() == {"codes": []}  # N001 holds a live code
    with client_from(ctx, "10.8.0.1") as anon:
        r = anon.post(
            "/api/v1/accounts/activate",
            json={"login": "N001", "code": "WRONG-WRONG", "password": NEW_PASSWORD},
        )
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_activation_code"
        r = anon.post(
            "/api/v1/accounts/activate",
            json={"login": "N001", "code": body["code"], "password": NEW_PASSWORD},
        )
        assert r.status_code == 200 and r.json()["status"] == "activated"
    r = client.post(f"/api/v1/admin/people/{newcomer}/reset", headers=h)
    assert r.status_code == 200 and r.json()["sessions_ended"] == 0
    assert password_of(ctx, newcomer) is None


# --- the demo's skip code ------------------------------------------------------------------
def test_the_demo_skip_code_passes_the_authenticator_step_but_never_in_production(
    ctx: Context, w: World, staff: Staff
) -> None:
    code = account_codes.new_code()
    with ctx.db.begin() as conn:
        conn.execute(update(Person).where(Person.id == w.people["bu"]).values(totp_secret=None))
        account_codes.store(
            conn, ctx, w.people["bu"], account_codes.DEMO_SKIP, code, ctx.clock.now(), 30, "demo"
        )
    with client_from(ctx, "10.9.0.1") as c:
        r = post_login(c, staff["bu"], PASSWORD)
        assert r.headers["location"] == "/login/totp"
        page = c.get("/login/totp").text
        assert 'id="demo-skip-form"' in page
        token = csrf_of(page)
        r = c.post("/login/totp", data={"code": "WRONG-SKIP1", "csrf_token": token})
        assert r.status_code == 401
        r = c.post("/login/totp", data={"code": code, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/bureau"
    assert any(e["action"] == "second_factor_skipped" for e in actions(ctx))
    production = ctx.settings.model_copy(update={"env": "production"})
    with ctx.db.read() as conn:
        prod_ctx = type(ctx)(db=ctx.db, clock=ctx.clock, settings=production)
        assert not account_codes.demo_skip_ok(conn, prod_ctx, w.people["bu"], code, ctx.clock.now())
        assert account_codes.demo_skip_ok(conn, ctx, w.people["bu"], code, ctx.clock.now())


def test_codes_expire_after_the_setting(ctx: Context, w: World, newcomer: int) -> None:
    issued = activation.issue_activation_code(ctx, Actor.system("t"), newcomer)
    assert issued.expires_at - ctx.clock.now() == timedelta(days=ctx.settings.activation_code_days)


def test_the_bureau_lets_an_appointed_administrator_in_from_the_admins_page(
    ctx: Context, w: World, staff: Staff
) -> None:
    """An administrator the bureau appointed has no password: the bureau issues the code
    next to their grant, and they activate and land on their unit's page."""
    with ctx.db.begin() as conn:
        pid = b.create_person(conn, w.region, w.units["B"], "M001", "新管理员")
        b.grant_role(conn, pid, "unit_admin", unit_id=w.units["B"])
    with client_from(ctx, "10.10.0.1") as bureau:
        token, _ = sign_in(bureau, ctx, staff["bu"])
        page = bureau.get("/bureau/org/admins").text
        action = f"/unit/{w.units['B']}/people/{pid}/activation-code"
        assert f'action="{action}"' in page and 'data-admin-code="M001"' in page
        r = bureau.post(action, data={"csrf_token": token})
        code = CODE_RE.search(r.text)
        assert r.status_code == 200 and code
    with client_from(ctx, "10.10.0.2") as person:
        r = post_activate(person, "M001", code.group(1))
        assert r.status_code == 303 and r.headers["location"] == f"/unit/{w.units['B']}"
        assert person.get(f"/unit/{w.units['B']}").status_code == 200
    events = [e for e in actions(ctx) if e["person_id"] == pid]
    assert [e["action"] for e in events][-2:] == ["activation_code_issued", "account_activated"]
    assert {e["kind"] for e in events[-2:]} == {"account"}
    assert events[-2]["actor_person_id"] == w.people["bu"]
