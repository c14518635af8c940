"""Accounts for everyone: activation codes, activation, reset ("forgot password"), unlock.

Contract (each public function is one transaction with its audit records; the code itself
is never recorded, only who issued it, when, for whom and until when):
- Who may act on a person (``_check_actor``): an administrator of the person's unit or the
  bureau (``Actor.manages_unit``); a person who holds a city role (bureau admin, clearing
  operator, finance, auditor) only the bureau's admin — a unit admin cannot take over the
  bureau's accounts through its own unit. Anyone else: ``Forbidden``. The CLI acts as the
  system (the bureau).
- ``issue_activation_code(ctx, actor, person_id)``: a one-time code (``account_codes``),
  valid ``settings.activation_code_days``; a new one revokes the old. Returned once.
- ``issue_unit_codes(ctx, actor, unit_id, reissue=False)``: codes for the unit's active
  people who have no password yet — by default only those without a live code (a
  reprint does not void codes already handed out); ``reissue`` replaces those too.
- ``activate(ctx, login, code, password, client)``: staff number (or a phone held by
  exactly one active person) + code → the chosen password (``web.accounts`` rule) is
  set, the code is used up, and a session opens (the caller adopts it; a role that needs
  an authenticator still goes through it). Wrong codes count toward the same throttle
  and lock as wrong passwords (``web.throttle``: per address, per login and address,
  per login); an unknown login is answered exactly as a wrong code. With the right
  code, a password that breaks the rule is refused (``InvalidInput``) with nothing
  counted or changed, the code still valid.
- ``reset_account``: clears the password (``must_change_password`` set), ends every session
  of the person and issues a new activation code.
- ``set_temporary_password``: a one-time password (``org.start.one_time_password``) that
  must be changed at the next sign-in (``must_change_password``); every session ends.
- ``unlock_account``: clears the person's sign-in failure counters (the lock of their
  staff number, of their staff number from any address, and of their authenticator
  codes); returns how many counters were cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from onecard.audit import service as audit
from onecard.core.clock import local_text
from onecard.core.context import Context
from onecard.core.errors import AccountLocked, AuthError, BadActivationCode, Forbidden, NotFound
from onecard.core.passwords import hash_password
from onecard.org import account_codes as codes
from onecard.org import sessions
from onecard.org.actors import CITY_READERS, Actor
from onecard.org.models import Person, RoleGrant, Unit
from onecard.org.session_models import SignInThrottle
from onecard.org.tables import xlsx
from onecard.web import throttle
from onecard.web.accounts import (
    Client,
    SignedIn,
    check_password_rule,
    enrolment_code_pending,
    needs_second_factor,
    too_many,
)
from onecard.web.scopes import can_write_unit
from onecard.web.throttle import PASSWORD_ACCOUNT, PASSWORD_ADDRESS, PASSWORD_PAIR, TOTP_PERSON

# Holding one of these, a person's account is the bureau admin's to reset, nobody else's.
CITY_ROLES = CITY_READERS


@dataclass(frozen=True)
class Issued:
    person_id: int
    staff_no: str
    name: str
    unit_name: str
    code: str  # shown once; only its HMAC is stored
    expires_at: datetime


@dataclass(frozen=True)
class Reset:
    issued: Issued
    sessions_ended: int


def _person(conn: Connection, person_id: int) -> Any:
    row = conn.execute(
        select(
            Person.id,
            Person.staff_no,
            Person.name,
            Person.unit_id,
            Person.status,
            Person.password_hash,
            Unit.name.label("unit_name"),
        )
        .join(Unit, Unit.id == Person.unit_id)
        .where(Person.id == person_id)
    ).first()
    if row is None or row.status != "active":
        raise NotFound(what="人员")
    return row


def holds_city_role(conn: Connection, person_id: int) -> bool:
    return (
        conn.execute(
            select(RoleGrant.id)
            .where(RoleGrant.person_id == person_id, RoleGrant.role_code.in_(CITY_ROLES))
            .limit(1)
        ).first()
        is not None
    )


def may_act_on(conn: Connection, actor: Actor, person: Any) -> bool:
    if holds_city_role(conn, int(person.id)):
        return actor.has("bureau_admin")
    return actor.manages_unit(int(person.unit_id))


def _check_actor(conn: Connection, actor: Actor, person: Any) -> None:
    if not may_act_on(conn, actor, person):
        raise Forbidden()


def _issue(conn: Connection, ctx: Context, actor: Actor, person: Any, now: datetime) -> Issued:
    code = codes.new_code()
    days = ctx.settings.activation_code_days
    expires = codes.store(conn, ctx, int(person.id), codes.ACTIVATION, code, now, days, actor.label)
    return Issued(int(person.id), person.staff_no, person.name, person.unit_name, code, expires)


def _event(action: str, person: Any, **data: Any) -> audit.Event:
    return audit.Event(
        kind="account",
        action=action,
        target=f"工号 {person.staff_no}",
        unit_id=int(person.unit_id),
        person_id=int(person.id),
        data=data or None,
    )


def issue_activation_code(ctx: Context, actor: Actor, person_id: int) -> Issued:
    with ctx.db.begin() as conn:
        person = _person(conn, person_id)
        _check_actor(conn, actor, person)
        issued = _issue(conn, ctx, actor, person, ctx.clock.now())
        audit.append(
            conn,
            ctx,
            actor,
            [_event("activation_code_issued", person, expires_at=issued.expires_at)],
        )
    return issued


def issue_unit_codes(
    ctx: Context, actor: Actor, unit_id: int, *, reissue: bool = False
) -> list[Issued]:
    """Codes for the unit's active people without a password (module docstring)."""
    actor.require_unit(unit_id)
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        if conn.execute(select(Unit.id).where(Unit.id == unit_id)).first() is None:
            raise NotFound(what="单位")
        people = conn.execute(
            select(
                Person.id,
                Person.staff_no,
                Person.name,
                Person.unit_id,
                Person.status,
                Person.password_hash,
                Unit.name.label("unit_name"),
            )
            .join(Unit, Unit.id == Person.unit_id)
            .where(
                Person.unit_id == unit_id,
                Person.status == "active",
                Person.password_hash.is_(None),
            )
            .order_by(Person.staff_no)
        ).all()
        out: list[Issued] = []
        for p in people:
            if not may_act_on(conn, actor, p):
                continue
            if not reissue and codes.live_until(conn, int(p.id), codes.ACTIVATION, now):
                continue
            out.append(_issue(conn, ctx, actor, p, now))
        by_id = {p.id: p for p in people}
        audit.append(
            conn,
            ctx,
            actor,
            [
                _event("activation_code_issued", by_id[i.person_id], expires_at=i.expires_at)
                for i in out
            ],
        )
    return out


def reset_account(ctx: Context, actor: Actor, person_id: int) -> Reset:
    """ "Forgot password": no password, no sessions, a new activation code."""
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        person = _person(conn, person_id)
        _check_actor(conn, actor, person)
        conn.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(password_hash=None, must_change_password=True)
        )
        ended = sessions.end_person_sessions(conn, person_id, "password_reset", now)
        issued = _issue(conn, ctx, actor, person, now)
        audit.append(
            conn,
            ctx,
            actor,
            [
                _event(
                    "password_reset",
                    person,
                    had_password=person.password_hash is not None,
                    sessions_ended=ended,
                    expires_at=issued.expires_at,
                )
            ],
        )
    return Reset(issued, ended)


def set_temporary_password(ctx: Context, actor: Actor, person_id: int) -> str:
    """A temporary password, shown once, changed at the next sign-in."""
    from onecard.org.start import one_time_password

    password = one_time_password()
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        person = _person(conn, person_id)
        _check_actor(conn, actor, person)
        conn.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(password_hash=hash_password(password), must_change_password=True)
        )
        codes.drop(conn, person_id, codes.ACTIVATION)
        ended = sessions.end_person_sessions(conn, person_id, "password_reset", now)
        audit.append(
            conn,
            ctx,
            actor,
            [_event("password_temporary", person, sessions_ended=ended)],
        )
    return password


def _counters_of(person: Any) -> Any:
    staff_no = str(person.staff_no)
    prefix = f"{staff_no}|"
    return or_(
        (SignInThrottle.scope == PASSWORD_ACCOUNT.scope) & (SignInThrottle.key == staff_no),
        (SignInThrottle.scope == PASSWORD_PAIR.scope)
        & (func.substr(SignInThrottle.key, 1, len(prefix)) == prefix),
        (SignInThrottle.scope == TOTP_PERSON.scope) & (SignInThrottle.key == str(person.id)),
    )


def unlock_account(ctx: Context, actor: Actor, person_id: int) -> int:
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        person = _person(conn, person_id)
        _check_actor(conn, actor, person)
        rows = conn.execute(select(SignInThrottle.blocked_until).where(_counters_of(person))).all()
        locked = any(r.blocked_until is not None and r.blocked_until > now for r in rows)
        conn.execute(delete(SignInThrottle).where(_counters_of(person)))
        audit.append(
            conn,
            ctx,
            actor,
            [_event("unlock_account", person, counters=len(rows), was_locked=locked)],
        )
    return len(rows)


def _find(conn: Connection, login: str) -> Any:
    """The active person a login names: a staff number, else a phone only one holds."""
    cols = (Person.id, Person.staff_no, Person.name, Person.unit_id, Person.totp_secret)
    row = conn.execute(
        select(*cols).where(Person.staff_no == login, Person.status == "active")
    ).first()
    if row is not None or not login:
        return row
    found = conn.execute(
        select(*cols).where(Person.phone == login, Person.status == "active").limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


def activate(
    ctx: Context,
    login: str,
    code: str,
    password: str,
    client: Client,
    *,
    replaces: int | None = None,
) -> SignedIn:
    """``replaces``: the browser's current session, ended by activating (no fixation)."""
    login = login.strip()[:32]
    addr = throttle.address_key(client.address)
    failure: AuthError | None = None
    result: SignedIn | None = None
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        person = _find(conn, login)
        key = str(person.staff_no) if person is not None else login
        held = throttle.hold(
            conn,
            now,
            {PASSWORD_ADDRESS: addr, PASSWORD_PAIR: f"{key}|{addr}", PASSWORD_ACCOUNT: key},
            peek=[PASSWORD_ADDRESS],
        )
        if wait := held.wait(now, PASSWORD_ADDRESS.scope):
            failure = too_many(wait)
        elif wait := held.wait(now, PASSWORD_PAIR.scope, PASSWORD_ACCOUNT.scope):
            failure = AccountLocked(minutes=max(1, -(-wait // 60)))
        elif person is None or not codes.matches(
            conn, ctx, int(person.id), codes.ACTIVATION, code, now
        ):
            throttle.fail(conn, now, held[PASSWORD_ADDRESS.scope])
            pair_locked = throttle.fail(conn, now, held[PASSWORD_PAIR.scope])
            account_locked = throttle.fail(conn, now, held[PASSWORD_ACCOUNT.scope])
            if pair_locked or account_locked:
                failure = AccountLocked(minutes=PASSWORD_PAIR.cap_seconds // 60)
            else:
                failure = BadActivationCode()
        else:
            # Only with the right code: a weak password is then refused (422) with nothing
            # counted or changed (the transaction rolls back), and the code still works.
            check_password_rule(password)
            pid = int(person.id)
            throttle.clear(conn, held[PASSWORD_PAIR.scope])
            throttle.clear(conn, held[PASSWORD_ACCOUNT.scope])
            conn.execute(
                update(Person)
                .where(Person.id == pid)
                .values(password_hash=hash_password(password), must_change_password=False)
            )
            codes.drop(conn, pid, codes.ACTIVATION)
            ended = sessions.end_person_sessions(conn, pid, "activated", now)
            if replaces is not None:
                sessions.end_session(conn, replaces, "replaced", now)
            opened = sessions.open_session(
                conn, ctx, pid, address=client.address, user_agent=client.user_agent
            )
            label = f"person:{pid}:{person.name}"
            result = SignedIn(
                person_id=pid,
                staff_no=str(person.staff_no),
                must_change_password=False,
                needs_second_factor=needs_second_factor(conn, pid),
                has_totp=bool(person.totp_secret),
                session=opened,
                grants=sessions.grants_fingerprint(
                    Actor.load(conn, pid, label, int(person.unit_id)).grants
                ),
            )
            audit.append(
                conn,
                ctx,
                Actor(label=label[:60], person_id=pid, unit_id=int(person.unit_id)),
                [
                    audit.Event(
                        kind="account",
                        action="account_activated",
                        target=f"工号 {person.staff_no}",
                        unit_id=int(person.unit_id),
                        person_id=pid,
                        data={"address": addr, "sessions_ended": ended},
                    )
                ],
            )
        if failure is not None:
            audit.append(
                conn,
                ctx,
                Actor(label=f"login:{login}"[:60]),
                [
                    audit.Event(
                        kind="account",
                        action="activation_failed",
                        target=f"工号 {key}"[:100],
                        person_id=int(person.id) if person is not None else None,
                        unit_id=int(person.unit_id) if person is not None else None,
                        data={"address": addr, "reason": failure.code},
                    )
                ],
            )
    if failure is not None:
        raise failure
    assert result is not None
    return result


def activation_state(ctx: Context, person_ids: list[int]) -> dict[int, str]:
    """Per person: ``active`` (has a password), ``pending`` (a live code), ``none``."""
    if not person_ids:
        return {}
    now = ctx.clock.now()
    from onecard.org.session_models import AccountCode

    with ctx.db.read() as conn:
        has_pw = {
            int(r.id): r.password_hash is not None
            for r in conn.execute(
                select(Person.id, Person.password_hash).where(Person.id.in_(person_ids))
            )
        }
        pending = {
            int(pid)
            for (pid,) in conn.execute(
                select(AccountCode.person_id).where(
                    AccountCode.person_id.in_(person_ids),
                    AccountCode.kind == codes.ACTIVATION,
                    AccountCode.expires_at > now,
                )
            )
        }
    return {
        pid: "active" if has_pw.get(pid) else ("pending" if pid in pending else "none")
        for pid in person_ids
    }


ACCOUNT_ZH = {"active": "已激活", "pending": "待激活（已发激活码）", "none": "未激活"}


def account_summary(ctx: Context, actor: Actor, person_id: int) -> dict[str, Any]:
    """What a person's page shows about their account (state, code, lock) and whether
    ``actor`` may issue a code, reset or unlock it."""
    now = ctx.clock.now()
    state = activation_state(ctx, [person_id]).get(person_id, "none")
    with ctx.db.read() as conn:
        person = _person(conn, person_id)
        can = may_act_on(conn, actor, person)
        until = codes.live_until(conn, person_id, codes.ACTIVATION, now)
        locked = (
            conn.execute(
                select(SignInThrottle.key)
                .where(_counters_of(person), SignInThrottle.blocked_until > now)
                .limit(1)
            ).first()
            is not None
        )
    return {
        "account": state,
        "account_zh": ACCOUNT_ZH[state],
        "code_until": until,
        "locked": locked,
        "can_account": can,
    }


CODE_COLUMNS = ("姓名", "工号", "单位", "激活码", "有效期至")


def codes_xlsx(issued: list[Issued]) -> bytes:
    rows = [[i.name, i.staff_no, i.unit_name, i.code, local_text(i.expires_at)] for i in issued]
    note = (
        "激活码只在此文件中出现一次，系统只保存其摘要；请妥善保管，逐人发放。\n"
        "本人在 /activate 页面输入工号（或手机号）、激活码并设置密码。\n"
        "激活码一次有效；过期或遗失请管理员重新发放（旧码随即作废）。"
    )
    return xlsx([("激活码", CODE_COLUMNS, rows)], note)


def person_security(ctx: Context, actor: Actor, person_id: int) -> dict[str, Any]:
    """What a person's page shows about their sign-in and account (``unit/person.html``)."""

    with ctx.db.read() as conn:
        row = conn.execute(
            select(Person.unit_id, Person.totp_secret, Person.status).where(Person.id == person_id)
        ).one()
        needs = needs_second_factor(conn, person_id)
    account: dict[str, Any] = {"can_account": False, "account_zh": "离职"}
    if row.status == "active":
        account = account_summary(ctx, actor, person_id)
    return {
        **account,
        "sessions": len(sessions.live_sessions(ctx, person_id)),
        "needs_2fa": needs,
        "has_totp": row.totp_secret is not None,
        "enrolment_until": enrolment_code_pending(ctx, person_id),
        "can_end": can_write_unit(actor, int(row.unit_id)),
        "can_issue": actor.has("bureau_admin") and needs and row.totp_secret is None,
    }
