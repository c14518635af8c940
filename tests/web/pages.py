"""Helpers for the page tests: the small test city with sign-in passwords and roles.

Everyone in ``tests/world.py``'s city gets the password ``PASSWORD`` (no forced change
unless a test asks). Roles: ``ua`` admins unit A, ``ub`` admins unit B, ``cm`` manages
canteen A, ``bu`` is a bureau admin (TOTP enrolled with ``BUREAU_TOTP``), ``fi`` is
finance (read-only, TOTP enrolled too).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pyotp
from sqlalchemy import update

from onecard.core.context import Context
from onecard.core.passwords import hash_password
from onecard.org import builders as b
from onecard.org.models import Person
from world import World

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client and warns on httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "onecard2026"
BUREAU_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_HASH = hash_password(PASSWORD)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Staff:
    """Staff numbers of the people who sign in, by role label."""

    nos: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.nos[key]


def add_staff(ctx: Context, w: World) -> Staff:
    """Give the city's people passwords and add the role holders."""
    with ctx.db.begin() as conn:
        for key, unit in (("ua", "A"), ("ub", "B"), ("cm", "A"), ("bu", "C"), ("fi", "C")):
            w.people[key] = b.create_person(
                conn, w.region, w.units[unit], f"S{key}", f"职员{key}", standard_fen=60000
            )
        b.grant_role(conn, w.people["ua"], "unit_admin", unit_id=w.units["A"])
        b.grant_role(conn, w.people["ub"], "unit_admin", unit_id=w.units["B"])
        b.grant_role(conn, w.people["cm"], "canteen_manager", canteen_id=w.canteens["A"])
        b.grant_role(conn, w.people["bu"], "bureau_admin")
        b.grant_role(conn, w.people["fi"], "finance")
        conn.execute(update(Person).values(password_hash=_HASH, must_change_password=False))
        conn.execute(
            update(Person)
            .where(Person.id.in_([w.people["bu"], w.people["fi"]]))
            .values(totp_secret=BUREAU_TOTP)
        )
    return Staff({k: f"S{k}" for k in w.people})


def add_role_holder(
    ctx: Context, region: int | None, unit: int, staff_no: str, role: str, name: str = ""
) -> int:
    """A person of ``unit`` (living in its region) who holds ``role`` for ``region`` and
    its subtree (None: the whole deployment), signs in with ``PASSWORD`` and, as the city's
    roles must, the authenticator ``BUREAU_TOTP``. Returns their id."""
    from sqlalchemy import select

    from onecard.org.models import Unit

    with ctx.db.begin() as conn:
        home = conn.execute(select(Unit.region_id).where(Unit.id == unit)).scalar_one()
        pid = b.create_person(conn, home, unit, staff_no, name or f"{role}{staff_no}")
        conn.execute(
            update(Person)
            .where(Person.id == pid)
            .values(password_hash=_HASH, must_change_password=False, totp_secret=BUREAU_TOTP)
        )
        b.grant_role(conn, pid, role, region_id=region)
    return pid


def client_from(ctx: Context, address: str) -> TestClient:
    """A browser at ``address`` (use it in a ``with`` block)."""
    from onecard.web.app import create_app

    return TestClient(create_app(ctx), raise_server_exceptions=True, client=(address, 50000))


def post_login(client: TestClient, staff_no: str, password: str) -> Any:
    """One password attempt from a fresh login form."""
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"staff_no": staff_no, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no CSRF token"
    return m.group(1)


def totp_now(ctx: Context, secret: str = BUREAU_TOTP) -> str:
    """The authenticator's code at the context's clock (naive UTC)."""
    return str(pyotp.TOTP(secret).at(ctx.clock.now().replace(tzinfo=UTC).timestamp()))


def sign_in(
    client: TestClient, ctx: Context, staff_no: str, password: str = PASSWORD
) -> tuple[str, str]:
    """Sign in (with the TOTP step when the role needs it); returns (csrf, landing path)."""
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        data={"staff_no": staff_no, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    where = r.headers["location"]
    if where == "/login/totp":
        r = client.post(
            "/login/totp",
            data={"code": totp_now(ctx), "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        where = r.headers["location"]
    return token, where
