"""Failure counters that slow down guessing: per client address, staff number, person.

Contract: a ``Rule`` says how many failures in a row cost nothing (``free``) and what the
next attempt must then wait: after the n-th failure (n > free), ``base × 2^(n−free−1)``
seconds, at most ``cap`` (exponential back-off), or — with ``reset_on_block`` — a fixed
lock of ``cap`` after which the count starts again. With ``decay_seconds`` the count
also drains, one failure per ``decay_seconds`` since the last (a leaky bucket: a busy
office behind one address, with its ordinary typing mistakes, never fills it). ``hold(conn, now, rules)`` locks the
counters of one attempt (in a fixed order, so concurrent attempts queue instead of
deadlocking; a shared address's counter only read until a failure needs it) and says
how long the attempt must still wait; the caller then calls
``fail`` or ``clear`` in the same transaction. A counter left alone for ``FORGET`` starts
from zero again; ``sweep`` deletes such rows. (``last_failure_at`` is the last failure,
or for a draining count the time its undrained part dates from.)

Why each rule and its numbers: docs/web.md, "Signing in", and the arithmetic there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onecard.org.session_models import SignInThrottle

FORGET = timedelta(hours=24)


@dataclass(frozen=True)
class Rule:
    scope: str
    free: int
    base_seconds: int
    cap_seconds: int
    reset_on_block: bool = False
    decay_seconds: int | None = None

    def wait_after(self, failures: int) -> int:
        """Seconds the next attempt waits once there have been ``failures`` in a row."""
        if failures <= self.free:
            return 0
        if self.reset_on_block:
            return self.cap_seconds
        return int(min(self.cap_seconds, self.base_seconds * 2 ** (failures - self.free - 1)))


# Passwords. Five wrong in a row for one staff number from one address lock that pair for
# 15 minutes (the person elsewhere is not locked out); one address gets 20 failures over
# any staff numbers, then waits 1 s, 2 s, 4 s … up to 15 minutes between attempts, the
# count draining one every 3 minutes (many people share an address behind NAT); and
# 50 failures on one staff number from anywhere lock it everywhere for 15 minutes (the
# only lock a stranger cannot cause from one address, so it also ends the sessions).
PASSWORD_PAIR = Rule("pw_pair", free=4, base_seconds=900, cap_seconds=900, reset_on_block=True)
PASSWORD_ADDRESS = Rule("pw_address", free=20, base_seconds=1, cap_seconds=900, decay_seconds=180)
PASSWORD_ACCOUNT = Rule(
    "pw_account", free=49, base_seconds=900, cap_seconds=900, reset_on_block=True
)
# Second factor (authenticator codes and enrolment codes), counted apart from passwords:
# a right password never resets them. Three free, then 1 s, 2 s, 4 s … up to 15 minutes;
# per address ten free, draining one every 10 minutes. The person's count never drains:
# the arithmetic of docs/web.md rests on it.
TOTP_PERSON = Rule("totp_person", free=3, base_seconds=1, cap_seconds=900)
TOTP_ADDRESS = Rule("totp_address", free=10, base_seconds=1, cap_seconds=900, decay_seconds=600)


@dataclass
class Counter:
    rule: Rule
    key: str
    failures: int
    blocked_until: datetime | None
    # When the count was last what it is (a draining count keeps its part-drained time).
    since: datetime
    held: bool = True  # locked by this transaction (else only read: ``hold(peek=…)``)

    def wait(self, now: datetime) -> int:
        if self.blocked_until is None or self.blocked_until <= now:
            return 0
        return max(1, int((self.blocked_until - now).total_seconds() + 0.999))


@dataclass
class Hold:
    """The counters of one attempt (locked until the transaction ends, but for peeked)."""

    counters: dict[str, Counter]

    def wait(self, now: datetime, *scopes: str) -> int:
        chosen = scopes or tuple(self.counters)
        return max(self.counters[s].wait(now) for s in chosen)

    def __getitem__(self, scope: str) -> Counter:
        return self.counters[scope]


def address_key(address: str) -> str:
    """The client's address as a counter key; IPv6 by its /64, which one subscriber
    usually holds whole (counting single IPv6 addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _create_missing(conn: Connection, rows: list[dict[str, object]]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(SignInThrottle).values(rows).on_conflict_do_nothing())
    else:
        conn.execute(sqlite_insert(SignInThrottle).values(rows).on_conflict_do_nothing())


def _counter(rule: Rule, key: str, row: Any, now: datetime, held: bool) -> Counter:
    if row is None:
        return Counter(rule, key, 0, None, now, held)
    since: datetime = row.last_failure_at
    failures = int(row.failures)
    if now - since >= FORGET and (row.blocked_until is None or row.blocked_until <= now):
        failures, since = 0, now
    elif rule.decay_seconds and failures:
        drained = max(0, int((now - since).total_seconds())) // rule.decay_seconds
        failures = max(0, failures - drained)
        since = since + timedelta(seconds=drained * rule.decay_seconds) if failures else now
    return Counter(rule, key, failures, row.blocked_until, since, held)


def _rows(conn: Connection, pairs: list[tuple[str, str]], lock: bool) -> dict[str, Any]:
    q = (
        select(SignInThrottle)
        .where(tuple_(SignInThrottle.scope, SignInThrottle.key).in_(pairs))
        .order_by(SignInThrottle.scope, SignInThrottle.key)
    )
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return {r.scope: r for r in conn.execute(q)}


def hold(
    conn: Connection, now: datetime, rules: dict[Rule, str], *, peek: Iterable[Rule] = ()
) -> Hold:
    """Lock (creating as needed) the counter of each rule for its key — except the rules
    in ``peek``, only read: a client address's counter is shared by everyone behind it,
    and locking it for a whole attempt (an argon2 verify) would queue a whole office's
    sign-ins. ``fail`` locks a peeked counter and counts on its current value, so no
    failure goes uncounted; only attempts already under way when a wait starts pass."""
    keys = {rule: key[:120] for rule, key in rules.items()}
    light = set(peek)
    locked = sorted((r.scope, k) for r, k in keys.items() if r not in light)
    rows: dict[str, Any] = {}
    if locked:
        _create_missing(
            conn,
            [
                {"scope": s, "key": k, "failures": 0, "last_failure_at": now, "blocked_until": None}
                for s, k in locked
            ],
        )
        rows.update(_rows(conn, locked, lock=True))
    read = sorted((r.scope, k) for r, k in keys.items() if r in light)
    if read:
        rows.update(_rows(conn, read, lock=False))
    return Hold(
        {
            rule.scope: _counter(rule, key, rows.get(rule.scope), now, rule not in light)
            for rule, key in keys.items()
        }
    )


def fail(conn: Connection, now: datetime, counter: Counter) -> bool:
    """Count one failure; True when it starts a wait (a lock or a back-off step)."""
    if not counter.held:
        fresh = hold(conn, now, {counter.rule: counter.key})[counter.rule.scope]
        counter.failures, counter.blocked_until = fresh.failures, fresh.blocked_until
        counter.since, counter.held = fresh.since, True
    draining = bool(counter.rule.decay_seconds and counter.failures)
    failures = counter.failures + 1
    wait = counter.rule.wait_after(failures)
    if wait and counter.rule.reset_on_block:
        failures = 0
    counter.failures = failures
    counter.blocked_until = now + timedelta(seconds=wait) if wait else None
    counter.since = counter.since if draining else now
    conn.execute(
        update(SignInThrottle)
        .where(SignInThrottle.scope == counter.rule.scope, SignInThrottle.key == counter.key)
        .values(
            failures=failures, last_failure_at=counter.since, blocked_until=counter.blocked_until
        )
    )
    return wait > 0


def clear(conn: Connection, counter: Counter) -> None:
    counter.failures = 0
    counter.blocked_until = None
    conn.execute(
        update(SignInThrottle)
        .where(SignInThrottle.scope == counter.rule.scope, SignInThrottle.key == counter.key)
        .values(failures=0, blocked_until=None)
    )


def sweep(conn: Connection, now: datetime) -> None:
    """Delete counters nobody has failed on for ``FORGET`` (and no longer blocking)."""
    conn.execute(
        delete(SignInThrottle).where(
            and_(
                SignInThrottle.last_failure_at < now - FORGET,
                or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until < now),
            )
        )
    )
