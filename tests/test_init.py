"""``onecard init``: a city from an empty database (SQLite or PostgreSQL), its first
bureau administrator (password change and authenticator at first sign-in), and a clear
refusal, with nothing changed, on a database that already holds a city."""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from onecard import cli
from onecard.audit.models import AuditEvent
from onecard.core.context import Context, Database
from onecard.core.db import make_engine, normalise_url
from onecard.ledger.models import Account
from onecard.org.models import Person, Region, RoleGrant, Unit
from web.pages import csrf_of

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PG_URL = os.environ.get("ONECARD_TEST_DATABASE_URL")
ARGS = ["--city", "郴州市", "--admin-staff-no", "A0001", "--admin-name", "张建国"]


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["onecard", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(params=["sqlite"] + (["postgres"] if PG_URL else []))
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even the schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'city.db'}"
        return
    assert PG_URL
    base = make_url(normalise_url(PG_URL))
    name = f"onecard_init_{os.getpid()}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def counts(url: str) -> tuple[int, ...]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (Region, Unit, Person, RoleGrant, Account, AuditEvent)
            )
    finally:
        engine.dispose()


def test_init_starts_a_city_and_refuses_a_second_time(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, "init", *ARGS, "--database-url", empty_url) == 0
    out = capsys.readouterr().out
    assert "郴州市 已建立" in out and "A0001" in out
    password = re.search(r"one-time password: ([A-Za-z0-9]+)", out)
    assert password
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        region = conn.execute(select(Region.name, Region.code, Region.network_no)).one()
        unit = conn.execute(select(Unit.code, Unit.name)).one()
        admin = conn.execute(
            select(Person.staff_no, Person.must_change_password, Person.totp_secret)
        ).one()
        role = conn.execute(select(RoleGrant.role_code)).scalar_one()
        systems = set(
            conn.execute(select(Account.kind).where(Account.owner_kind == "system")).scalars()
        )
    engine.dispose()
    assert tuple(region) == ("郴州市", "431000", "735")
    assert tuple(unit) == ("BUREAU", "郴州市机关事务管理局")
    assert tuple(admin) == ("A0001", True, None) and role == "bureau_admin"
    assert {"dining_fund", "bank_clearing", "fee_income", "finance"} <= systems
    before = counts(empty_url)

    assert run_main(monkeypatch, "init", *ARGS, "--database-url", empty_url) == 5
    assert "已有城市「郴州市」" in capsys.readouterr().out
    assert counts(empty_url) == before


def test_init_refuses_a_network_number_other_than_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'city.db'}"
    code = run_main(monkeypatch, "init", *ARGS, "--network-no", "736", "--database-url", url)
    assert code == 2 and "ONECARD_REGION_NO=735" in capsys.readouterr().out
    assert counts(url)[:3] == (0, 0, 0)
    assert run_main(monkeypatch, "init", "--city", "", *ARGS[2:], "--database-url", url) == 2


def test_the_first_admin_changes_the_password_and_enrols_an_authenticator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from onecard.channels.sandbox import SandboxBank
    from onecard.web.app import create_app

    url = f"sqlite:///{tmp_path / 'city.db'}"
    assert run_main(monkeypatch, "init", *ARGS, "--database-url", url) == 0
    out = capsys.readouterr().out
    found = re.search(r"one-time password: ([A-Za-z0-9]+)", out)
    enrol = re.search(r"enrolment code: ([0-9]{4} [0-9]{4})", out)
    assert found and enrol, out
    ctx = Context(db=Database(make_engine(url)))
    ctx.bank = SandboxBank(secret=b"x")
    with TestClient(create_app(ctx)) as client:
        token = csrf_of(client.get("/login").text)
        r = client.post(
            "/login",
            data={"staff_no": "A0001", "password": found.group(1), "csrf_token": token},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/login/password"
        assert client.get("/bureau", follow_redirects=False).status_code in (302, 303, 401)
        r = client.post(
            "/login/password",
            data={
                "current": found.group(1),
                "new": "Chenzhou2026",
                "confirm": "Chenzhou2026",
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == "/login/totp"
        page = client.get("/login/totp").text
        secret = re.search(r"[A-Z2-7]{32}", page)
        assert secret, "the enrolment page shows the authenticator secret"
        r = client.post(
            "/login/totp",
            data={
                "code": pyotp.TOTP(secret.group(0)).now(),
                "enrolment_code": enrol.group(1),
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == "/bureau"
        assert client.get("/bureau").status_code == 200
    with ctx.db.read() as conn:
        row = conn.execute(select(Person.must_change_password, Person.totp_secret)).one()
    assert row.must_change_password is False and row.totp_secret == secret.group(0)
    ctx.db.engine.dispose()
