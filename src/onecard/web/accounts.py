"""Signing in, changing a password, the second factor and enrolling an authenticator —
the services behind web/auth.py.

Contract (each public function is one transaction; a refusal is raised after the
transaction that counted it has committed, so a refused attempt still counts):
- ``sign_in(ctx, staff_no, password, client)`` checks the password and opens a session
  (``org.sessions``) for an active person. Failures are counted per client address, per
  staff number and address, and per staff number (``web.throttle``: back-off and locks);
  an unknown staff number is answered exactly as a known one — the same refusals, the
  same counters, and the same argon2 work (a verify against a dummy hash) — so neither
  the message nor the time tells which numbers exist. The lock a single address cannot
  cause (``PASSWORD_ACCOUNT``) also ends the person's sessions. Every sign-in and every
  failure leaves an audit record.
- ``change_password`` enforces the password rule, ends every session of the person and
  opens a fresh one for the browser that changed it.
- ``second_factor_state(ctx, person_id)``: whether the person's roles need a second
  factor, and whether an authenticator is bound (the security page; a read).
- ``check_totp`` verifies an authenticator code (one step of skew, each step once);
  ``enrol_totp`` binds a first authenticator and needs, beyond the password, the
  one-time enrolment code the bureau issued (``issue_enrolment_code``). Wrong codes of
  either kind are counted on their own (per person and per address, exponential
  back-off); a right password never resets that count, only a right code does. The
  demo's printed skip code (``org.account_codes.DEMO_SKIP``) passes this stage in place
  of an authenticator code, outside production only.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pyotp
from sqlalchemy import Connection, delete, insert, select, update

from onecard.core.context import Context
from onecard.core.errors import (
    AccountLocked,
    AuthError,
    BadCredentials,
    BadEnrolmentCode,
    BadSecondFactor,
    InvalidInput,
    NotFound,
    TooManyAttempts,
)
from onecard.core.passwords import hash_password, verify_password
from onecard.org import account_codes, sessions
from onecard.org.actors import Actor
from onecard.org.models import Person, Role, RoleGrant
from onecard.org.session_models import EnrolmentCode
from onecard.web import throttle
from onecard.web.throttle import (
    PASSWORD_ACCOUNT,
    PASSWORD_ADDRESS,
    PASSWORD_PAIR,
    TOTP_ADDRESS,
    TOTP_PERSON,
)

TOTP_ISSUER = "食堂一卡通"
ENROLMENT_CODE_DAYS = 7


def too_many(seconds: int) -> TooManyAttempts:
    if seconds < 120:
        return TooManyAttempts(wait_zh=f" {seconds} 秒", wait_en=f"{seconds} s")
    minutes = math.ceil(seconds / 60)
    return TooManyAttempts(wait_zh=f" {minutes} 分钟", wait_en=f"{minutes} min")


@dataclass(frozen=True)
class Client:
    """Where an attempt comes from: the client address (``web.auth.client_address``)."""

    address: str
    user_agent: str = ""


@dataclass(frozen=True)
class SignedIn:
    person_id: int
    staff_no: str
    must_change_password: bool
    needs_second_factor: bool
    has_totp: bool
    session: sessions.Opened
    grants: str  # sessions.grants_fingerprint of the person's grants at sign-in


@cache
def _dummy_hash() -> str:
    """An argon2 hash of nothing anyone knows: verifying an unknown staff number's
    password against it costs what a known one costs."""
    return hash_password(secrets.token_urlsafe(24))


def _unix(naive_utc: datetime) -> float:
    return naive_utc.replace(tzinfo=UTC).timestamp()


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def needs_second_factor(conn: Connection, person_id: int) -> bool:
    return (
        conn.execute(
            select(RoleGrant.id)
            .join(Role, Role.code == RoleGrant.role_code)
            .where(RoleGrant.person_id == person_id, Role.needs_second_factor.is_(True))
            .limit(1)
        ).first()
        is not None
    )


def second_factor_state(ctx: Context, person_id: int) -> tuple[bool, bool]:
    with ctx.db.read() as conn:
        needs = needs_second_factor(conn, person_id)
        has_totp = conn.execute(
            select(Person.totp_secret.is_not(None)).where(Person.id == person_id)
        ).scalar()
    return needs, bool(has_totp)


def _audit(
    conn: Connection, ctx: Context, label: str, action: str, scope: str, **totals: Any
) -> None:
    from onecard.audit import records as audit

    audit.record(conn, ctx, Actor(label=label[:60]), action, scope[:100], totals)


def _person_label(person_id: int, name: str) -> str:
    return f"person:{person_id}:{name}"


def sign_in(
    ctx: Context, staff_no: str, password: str, client: Client, *, replaces: int | None = None
) -> SignedIn:
    """``replaces``: the browser's current session, ended by signing in (no fixation)."""
    staff_no = staff_no.strip()[:32]
    addr = throttle.address_key(client.address)
    failure: AuthError | None = None
    result: SignedIn | None = None
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        held = throttle.hold(
            conn,
            now,
            {
                PASSWORD_ADDRESS: addr,
                PASSWORD_PAIR: f"{staff_no}|{addr}",
                PASSWORD_ACCOUNT: staff_no,
            },
            peek=[PASSWORD_ADDRESS],
        )
        row = conn.execute(
            select(
                Person.id,
                Person.name,
                Person.status,
                Person.password_hash,
                Person.must_change_password,
                Person.totp_secret,
            ).where(Person.staff_no == staff_no)
        ).first()
        usable = row is not None and row.status == "active" and bool(row.password_hash)
        if wait := held.wait(now, PASSWORD_ADDRESS.scope):
            failure = too_many(wait)
        elif wait := held.wait(now, PASSWORD_PAIR.scope, PASSWORD_ACCOUNT.scope):
            failure = AccountLocked(minutes=_minutes(wait))
        elif not (
            verify_password(row.password_hash if usable and row else _dummy_hash(), password)
            and usable
        ):
            throttle.fail(conn, now, held[PASSWORD_ADDRESS.scope])
            pair_locked = throttle.fail(conn, now, held[PASSWORD_PAIR.scope])
            account_locked = throttle.fail(conn, now, held[PASSWORD_ACCOUNT.scope])
            if account_locked and row is not None:
                sessions.end_person_sessions(conn, int(row.id), "locked", now)
            if pair_locked or account_locked:
                failure = AccountLocked(minutes=_minutes(PASSWORD_PAIR.cap_seconds))
            else:
                failure = BadCredentials()
        else:
            assert row is not None
            pid = int(row.id)
            throttle.clear(conn, held[PASSWORD_PAIR.scope])
            throttle.clear(conn, held[PASSWORD_ACCOUNT.scope])
            throttle.sweep(conn, now)
            if replaces is not None:
                sessions.end_session(conn, replaces, "replaced", now)
            opened = sessions.open_session(
                conn, ctx, pid, address=client.address, user_agent=client.user_agent
            )
            result = SignedIn(
                person_id=pid,
                staff_no=staff_no,
                must_change_password=bool(row.must_change_password),
                needs_second_factor=needs_second_factor(conn, pid),
                has_totp=bool(row.totp_secret),
                session=opened,
                grants=sessions.grants_fingerprint(
                    Actor.load(conn, pid, _person_label(pid, row.name), 0).grants
                ),
            )
            _audit(
                conn, ctx, _person_label(pid, row.name), "sign_in", f"工号 {staff_no}", address=addr
            )
        if failure is not None:
            _audit(
                conn,
                ctx,
                f"staff_no:{staff_no}",
                "sign_in_failed",
                f"工号 {staff_no}",
                address=addr,
                reason=failure.code,
            )
    if failure is not None:
        raise failure
    assert result is not None
    return result


def check_password_rule(new: str) -> None:
    if len(new) < 8 or len(new) > 128:
        raise InvalidInput("密码长度须为 8–128 位")
    if not (any(c.isdigit() for c in new) and any(c.isalpha() for c in new)):
        raise InvalidInput("密码须同时包含字母和数字")


def change_password(
    ctx: Context,
    person_id: int,
    current: str,
    new: str,
    client: Client,
    *,
    session_data: dict[str, Any] | None = None,
) -> sessions.Opened:
    """Change the password, end every session of the person (a stolen cookie dies with
    the old password) and open a fresh one carrying ``session_data`` for this browser."""
    check_password_rule(new)
    addr = throttle.address_key(client.address)
    failure: AuthError | None = None
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        row = conn.execute(
            select(Person.staff_no, Person.name, Person.password_hash)
            .where(Person.id == person_id)
            .with_for_update()
        ).one()
        held = throttle.hold(
            conn,
            now,
            {PASSWORD_ADDRESS: addr, PASSWORD_PAIR: f"{row.staff_no}|{addr}"},
            peek=[PASSWORD_ADDRESS],
        )
        label = _person_label(person_id, row.name)
        if wait := held.wait(now):
            failure = too_many(wait)
        elif not verify_password(row.password_hash, current):
            throttle.fail(conn, now, held[PASSWORD_ADDRESS.scope])
            throttle.fail(conn, now, held[PASSWORD_PAIR.scope])
            failure = BadCredentials("当前密码不正确")
        if failure is not None:
            _audit(conn, ctx, label, "password_change_failed", f"工号 {row.staff_no}", address=addr)
        else:
            if verify_password(row.password_hash, new):
                raise InvalidInput("新密码不能与原密码相同")
            throttle.clear(conn, held[PASSWORD_PAIR.scope])
            conn.execute(
                update(Person)
                .where(Person.id == person_id)
                .values(password_hash=hash_password(new), must_change_password=False)
            )
            ended = sessions.end_person_sessions(conn, person_id, "password_changed", now)
            opened = sessions.open_session(
                conn,
                ctx,
                person_id,
                address=client.address,
                user_agent=client.user_agent,
                data=session_data,
            )
            _audit(
                conn,
                ctx,
                label,
                "password_changed",
                f"工号 {row.staff_no}",
                address=addr,
                sessions_ended=ended,
            )
    if failure is not None:
        raise failure
    return opened


# --- the second factor -------------------------------------------------------------------
def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, staff_no: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=staff_no, issuer_name=TOTP_ISSUER)


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second step ``code`` belongs to (one step of clock skew either way), or
    ``None``. The caller refuses a step at or before the last one used: a code read over
    a shoulder cannot sign in a second time."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    step = int(_unix(now)) // totp.interval
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


@dataclass(frozen=True)
class _Enrolment:
    secret: str
    code: str


def _enrolment_hash(ctx: Context, code: str) -> str:
    digits = "".join(c for c in code if c.isdigit())
    key = ctx.settings.secret_key.encode()
    return hmac.new(key, f"enrol:{digits}".encode(), hashlib.sha256).hexdigest()


def _enrolment_ok(conn: Connection, ctx: Context, person_id: int, code: str, now: datetime) -> bool:
    row = conn.execute(
        select(EnrolmentCode.code_hash, EnrolmentCode.expires_at).where(
            EnrolmentCode.person_id == person_id
        )
    ).first()
    given = _enrolment_hash(ctx, code)
    return (
        row is not None and row.expires_at > now and hmac.compare_digest(str(row.code_hash), given)
    )


def _second_factor(
    ctx: Context, person_id: int, code: str, client: Client, enrol: _Enrolment | None
) -> None:
    addr = throttle.address_key(client.address)
    failure: AuthError | None = None
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(Person.name, Person.staff_no, Person.totp_secret, Person.totp_last_step)
            .where(Person.id == person_id)
            .with_for_update()
        ).one()
        now = ctx.clock.now()
        held = throttle.hold(
            conn, now, {TOTP_PERSON: str(person_id), TOTP_ADDRESS: addr}, peek=[TOTP_ADDRESS]
        )
        label = _person_label(person_id, row.name)
        if wait := held.wait(now):
            failure = too_many(wait)
        elif account_codes.demo_skip_ok(conn, ctx, person_id, code, now):
            # The demo's printed code stands in for the authenticator (never in production).
            throttle.clear(conn, held[TOTP_PERSON.scope])
            _audit(conn, ctx, label, "second_factor_skipped", f"工号 {row.staff_no}", address=addr)
        elif enrol is not None and (
            row.totp_secret or not _enrolment_ok(conn, ctx, person_id, enrol.code, now)
        ):
            failure = BadEnrolmentCode()
        else:
            secret = enrol.secret if enrol is not None else row.totp_secret
            step = _totp_step(secret, code, now) if secret else None
            if step is None or step <= int(row.totp_last_step or 0):
                failure = BadSecondFactor()
            else:
                throttle.clear(conn, held[TOTP_PERSON.scope])
                values: dict[str, object] = {"totp_last_step": step}
                if enrol is not None:
                    values["totp_secret"] = enrol.secret
                    conn.execute(delete(EnrolmentCode).where(EnrolmentCode.person_id == person_id))
                conn.execute(update(Person).where(Person.id == person_id).values(**values))
                action = "authenticator_bound" if enrol is not None else "second_factor"
                _audit(conn, ctx, label, action, f"工号 {row.staff_no}", address=addr)
        if failure is not None and not isinstance(failure, TooManyAttempts):
            throttle.fail(conn, now, held[TOTP_PERSON.scope])
            throttle.fail(conn, now, held[TOTP_ADDRESS.scope])
        if failure is not None:
            _audit(
                conn,
                ctx,
                label,
                "second_factor_failed",
                f"工号 {row.staff_no}",
                address=addr,
                reason=failure.code,
            )
    if failure is not None:
        raise failure


def check_totp(ctx: Context, person_id: int, code: str, client: Client) -> None:
    _second_factor(ctx, person_id, code, client, None)


def enrol_totp(
    ctx: Context, person_id: int, secret: str, code: str, enrolment_code: str, client: Client
) -> None:
    """Bind ``secret`` as the person's first authenticator: the enrolment code from the
    bureau and a code the authenticator made from ``secret`` must both be right."""
    _second_factor(ctx, person_id, code, client, _Enrolment(secret, enrolment_code))


def issue_enrolment_code(ctx: Context, actor: Actor, person_id: int) -> str:
    """A one-time code (8 digits, ``ENROLMENT_CODE_DAYS`` days) the person needs to bind
    a first authenticator; it replaces any code issued before. Shown once: only its
    HMAC is stored. The bureau's administrators issue them (the CLI acts as the bureau)."""
    actor.require("bureau_admin")
    code = f"{secrets.randbelow(10**8):08d}"
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        person = conn.execute(
            select(Person.staff_no, Person.status).where(Person.id == person_id)
        ).first()
        if person is None or person.status != "active":
            raise NotFound(what="人员")
        conn.execute(delete(EnrolmentCode).where(EnrolmentCode.person_id == person_id))
        conn.execute(
            insert(EnrolmentCode).values(
                person_id=person_id,
                code_hash=_enrolment_hash(ctx, code),
                issued_at=now,
                expires_at=now + timedelta(days=ENROLMENT_CODE_DAYS),
                issued_by=actor.label[:60],
            )
        )
        from onecard.audit import records as audit

        audit.record(
            conn,
            ctx,
            actor,
            "enrolment_code_issued",
            f"工号 {person.staff_no}",
            {"days": ENROLMENT_CODE_DAYS},
        )
    return f"{code[:4]} {code[4:]}"


def enrolment_code_pending(ctx: Context, person_id: int) -> datetime | None:
    """Until when the person's live enrolment code is valid, or None."""
    with ctx.db.read() as conn:
        until = conn.execute(
            select(EnrolmentCode.expires_at).where(EnrolmentCode.person_id == person_id)
        ).scalar()
    return until if until is not None and until > ctx.clock.now() else None


def sign_out(ctx: Context, session_id: int, person_id: int) -> None:
    """End this browser's session (one transaction, with its audit record)."""
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        row = conn.execute(select(Person.name, Person.staff_no).where(Person.id == person_id)).one()
        sessions.end_session(conn, session_id, "signed_out", now)
        _audit(conn, ctx, _person_label(person_id, row.name), "sign_out", f"工号 {row.staff_no}")
