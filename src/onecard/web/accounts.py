"""Sign-in, password change and TOTP second factor — the services behind web/auth.py.

Contract (each public function is one transaction):
- ``sign_in(ctx, staff_no, password)`` checks the password of an active person. A wrong
  password adds one to ``failed_logins``; the ``MAX_FAILED``-th in a row locks the
  account for ``LOCK_MINUTES`` (``locked_until``), during which even the right password
  is refused with ``AccountLocked``. Success resets the counter and says what is still
  needed: a forced password change (``must_change_password``) and/or a second factor
  (any granted role with ``needs_second_factor``), enrolled or not yet.
- ``change_password`` enforces the password rule and clears ``must_change_password``.
- ``enrol_totp`` stores a confirmed authenticator secret; ``check_totp`` verifies a code
  (one step of skew); wrong codes count toward the same lockout as wrong passwords.
Errors are raised after the transaction that recorded the failure has committed, so a
refused attempt still counts.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import Connection, select, update

from onecard.core.context import Context
from onecard.core.errors import AuthError, InvalidInput
from onecard.org.models import Person, Role, RoleGrant
from onecard.web.passwords import hash_password, verify_password

MAX_FAILED = 5
LOCK_MINUTES = 15
TOTP_ISSUER = "食堂一卡通"


class BadCredentials(AuthError):
    code = "bad_credentials"
    zh = "工号或密码错误"
    en = "Wrong staff ID or password"


class AccountLocked(AuthError):
    code = "account_locked"
    zh = "连续多次登录失败，账户已锁定，请 {minutes} 分钟后再试"
    en = "Too many failed attempts; the account is locked for {minutes} minutes"


class BadSecondFactor(AuthError):
    code = "bad_second_factor"
    zh = "动态验证码错误"
    en = "Wrong authenticator code"


@dataclass(frozen=True)
class SignInResult:
    person_id: int
    staff_no: str
    must_change_password: bool
    needs_second_factor: bool
    has_totp: bool


def _unix(naive_utc: datetime) -> float:
    return naive_utc.replace(tzinfo=UTC).timestamp()


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


def _record_failure(conn: Connection, person_id: int, failed: int, now: datetime) -> bool:
    """Count one failure; lock when it is the MAX_FAILED-th. Returns True if now locked."""
    failed += 1
    locked = failed >= MAX_FAILED
    conn.execute(
        update(Person)
        .where(Person.id == person_id)
        .values(
            failed_logins=0 if locked else failed,
            locked_until=now + timedelta(minutes=LOCK_MINUTES) if locked else None,
        )
    )
    return locked


def _minutes_left(locked_until: datetime, now: datetime) -> int:
    return max(1, int((locked_until - now).total_seconds() + 59) // 60)


def sign_in(ctx: Context, staff_no: str, password: str) -> SignInResult:
    staff_no = staff_no.strip()
    failure: AuthError | None = None
    result: SignInResult | None = None
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(
                Person.id,
                Person.status,
                Person.password_hash,
                Person.must_change_password,
                Person.totp_secret,
                Person.failed_logins,
                Person.locked_until,
            )
            .where(Person.staff_no == staff_no)
            .with_for_update()
        ).first()
        now = ctx.clock.now()
        if row is None or row.status != "active" or not row.password_hash:
            failure = BadCredentials()
        elif row.locked_until is not None and row.locked_until > now:
            failure = AccountLocked(minutes=_minutes_left(row.locked_until, now))
        elif not verify_password(row.password_hash, password):
            if _record_failure(conn, int(row.id), int(row.failed_logins or 0), now):
                failure = AccountLocked(minutes=LOCK_MINUTES)
            else:
                failure = BadCredentials()
        else:
            conn.execute(
                update(Person).where(Person.id == row.id).values(failed_logins=0, locked_until=None)
            )
            result = SignInResult(
                person_id=int(row.id),
                staff_no=staff_no,
                must_change_password=bool(row.must_change_password),
                needs_second_factor=needs_second_factor(conn, int(row.id)),
                has_totp=bool(row.totp_secret),
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


def change_password(ctx: Context, person_id: int, current: str, new: str) -> None:
    check_password_rule(new)
    with ctx.db.begin() as conn:
        stored = conn.execute(
            select(Person.password_hash).where(Person.id == person_id).with_for_update()
        ).scalar_one()
        if not verify_password(stored, current):
            raise BadCredentials("当前密码不正确")
        if verify_password(stored, new):
            raise InvalidInput("新密码不能与原密码相同")
        conn.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(password_hash=hash_password(new), must_change_password=False)
        )


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


def _second_factor(ctx: Context, person_id: int, code: str, secret: str | None) -> None:
    """Verify ``code`` against ``secret`` (enrolment) or the stored secret (sign-in)."""
    failure: AuthError | None = None
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(
                Person.totp_secret,
                Person.totp_last_step,
                Person.failed_logins,
                Person.locked_until,
            )
            .where(Person.id == person_id)
            .with_for_update()
        ).one()
        now = ctx.clock.now()
        use = secret if secret is not None else row.totp_secret
        step = _totp_step(use, code, now) if use else None
        if row.locked_until is not None and row.locked_until > now:
            failure = AccountLocked(minutes=_minutes_left(row.locked_until, now))
        elif step is None or step <= int(row.totp_last_step or 0):
            locked = _record_failure(conn, person_id, int(row.failed_logins or 0), now)
            failure = AccountLocked(minutes=LOCK_MINUTES) if locked else BadSecondFactor()
        else:
            values: dict[str, object] = {
                "failed_logins": 0,
                "locked_until": None,
                "totp_last_step": step,
            }
            if secret is not None:
                values["totp_secret"] = secret
            conn.execute(update(Person).where(Person.id == person_id).values(**values))
    if failure is not None:
        raise failure


def enrol_totp(ctx: Context, person_id: int, secret: str, code: str) -> None:
    _second_factor(ctx, person_id, code, secret)


def check_totp(ctx: Context, person_id: int, code: str) -> None:
    _second_factor(ctx, person_id, code, None)
