"""Offline terminals on the server: enrolment, working sets, uploads.

Contract:
- ``enrol(ctx, terminal, public_key)`` registers (or replaces) the terminal's Ed25519
  public key; the private half stays on the device. Records signed with a replaced key
  are refused as forged.
- ``working_set(ctx, terminal, since=None)`` — one transaction — answers the terminal's
  working set (``terminals.working_set``) with a ``version``: in full, or, given the
  version the terminal holds, only what changed since (``upserts`` by key, ``removals``).
  A new version is written only when something changed; a refresh that finds nothing
  new confirms the version again (its ``refreshed_at``) and its answer's ``as_of`` is
  what the terminal signs into its records as ``synced_at``.
- ``upload(ctx, terminal, items)`` — one transaction for the batch, the terminal's row
  locked — applies records in sequence order, exactly once. Per record, the answer says:
  ``applied`` (with its payment id, the quarter it was booked in — the first open one if
  its own has closed — and any ``debt_fen``); ``refused`` with a ``code`` and message;
  ``duplicate`` (already answered: the stored outcome, nothing done again but counted,
  ``resent``); or ``deferred`` (an earlier sequence number has not arrived: send from
  ``expected_seq``; the gap is remembered on the terminal's row until it is filled).
  A forged or altered record, or a different record under a sequence number already
  used, is refused and nothing at all is written for it (its number stays free for the
  genuine one). A genuine record is checked against the version it names — person,
  card not lost, code token and otp, txn id and code step never used before, the limits
  (``limits.over_limit``) — and refused with its reason (recorded, its number spent) or
  applied: the decision is the terminal's, so it goes through ``pay.decide.decide_offline``
  against the purses as they are now, and what they no longer cover becomes a debt
  (``terminals.debts``). Uploads come from terminals, not people: no audit record, as for
  payments.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from onecard.core.clock import from_local, to_local
from onecard.core.context import Context
from onecard.core.errors import (
    InvalidInput,
    NotFound,
    OfflineForged,
    OfflineNotEnrolled,
    OfflineNotInWorkingSet,
    OfflineOverLimit,
    OfflineRecordRefused,
    OfflineReplayed,
    OfflineSeqReused,
)
from onecard.core.fields import has_control_character
from onecard.ledger import journal
from onecard.ledger.models import Account
from onecard.ledger.service import lock_for_posting, period_for
from onecard.org.models import Person, Unit
from onecard.pay import paycode
from onecard.pay.decide import Payer, PaymentRequest, Purses, TerminalIdentity, decide_offline
from onecard.pay.models import Payment
from onecard.pay.pricing import meal_facts
from onecard.pay.service import canteen_rules, record_decision
from onecard.terminals import debts, signing
from onecard.terminals import working_set as ws
from onecard.terminals.limits import CLOCK_SKEW, Limits, Tally, over_limit
from onecard.terminals.models import OfflineRecord, OfflineTerminal, OfflineWorkingSet
from onecard.terminals.models import OfflineWorkingSetEntry as Entry

MAX_BATCH = 500
CHUNK = 5_000  # keys per statement when a version stores or supersedes many


# --- enrolment ----------------------------------------------------------------------------
def enrol(ctx: Context, terminal: TerminalIdentity, public_key: str) -> None:
    if not signing.valid_public_key(public_key):
        raise InvalidInput("public_key 必须是 64 位十六进制的 Ed25519 公钥")
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        found = conn.execute(
            select(OfflineTerminal.terminal_id)
            .where(OfflineTerminal.terminal_id == terminal.id)
            .with_for_update()
        ).first()
        if found is None:
            conn.execute(
                insert(OfflineTerminal).values(
                    terminal_id=terminal.id, public_key=public_key, next_seq=1, registered_at=now
                )
            )
        else:
            conn.execute(
                update(OfflineTerminal)
                .where(OfflineTerminal.terminal_id == terminal.id)
                .values(public_key=public_key, registered_at=now)
            )


# --- working sets -------------------------------------------------------------------------
def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def working_set(
    ctx: Context, terminal: TerminalIdentity, since: int | None = None
) -> dict[str, Any]:
    limits = Limits()
    # Whole seconds: the terminal signs ``as_of`` back as ``synced_at`` in ISO seconds,
    # and it must fall between the version's issued_at and refreshed_at exactly.
    now = ctx.clock.now().replace(microsecond=0)
    with ctx.db.begin() as conn:
        # The terminal's row, locked: one refresh (or upload) of a terminal at a time,
        # so two first refreshes cannot both issue version 1.
        enrolled = conn.execute(
            select(OfflineTerminal.terminal_id)
            .where(OfflineTerminal.terminal_id == terminal.id)
            .with_for_update()
        ).first()
        if enrolled is None:
            raise OfflineNotEnrolled()
        with ws.gc_paused():
            header, entries = ws.current(conn, terminal, limits)
            version = _issue(conn, terminal.id, entries, limits, now)
        moved = None
        if since is not None and 1 <= since < version:
            moved = conn.execute(
                select(Entry.key, Entry.entry.is_(None)).where(
                    Entry.terminal_id == terminal.id, Entry.latest, Entry.version > since
                )
            ).all()
    if since == version:
        upserts: dict[str, Any] = {}
        removals: list[str] = []
        full = False
    elif moved is not None:
        upserts = {k: entries[k] for k, gone in moved if not gone}
        removals = sorted(k for k, gone in moved if gone)
        full = False
    else:
        upserts, removals, full = entries, [], True
    return {
        "version": version,
        "since": None if full else since,
        "full": full,
        "as_of": _iso(now),
        "terminal": terminal.code,
        "canteen": header,
        "limits": limits.as_dict(),
        "paycode": {
            "region_no": ctx.settings.region_no,
            "step_seconds": ctx.settings.paycode_step_seconds,
            "digits": paycode.OTP_DIGITS,
            "algorithm": "SHA1",
        },
        "upserts": upserts,
        "removals": removals,
    }


def _issue(
    conn: Connection,
    terminal_id: int,
    entries: dict[str, dict[str, Any]],
    limits: Limits,
    now: datetime,
) -> int:
    """The version ``entries`` are: the last one, confirmed again, when no key's digest
    moved; else a new one, storing only the keys that changed or went away."""
    digests = {k: ws.digest(v) for k, v in entries.items()}
    held: dict[str, str | None] = dict(
        conn.execute(
            select(Entry.key, Entry.digest).where(Entry.terminal_id == terminal_id, Entry.latest)
        ).all()
    )
    changed = [k for k, d in digests.items() if held.get(k) != d]
    gone = [k for k, d in held.items() if d is not None and k not in digests]
    last = conn.execute(
        select(OfflineWorkingSet.id, OfflineWorkingSet.version)
        .where(OfflineWorkingSet.terminal_id == terminal_id)
        .order_by(OfflineWorkingSet.version.desc())
        .limit(1)
    ).first()
    if last is not None and not changed and not gone:
        conn.execute(
            update(OfflineWorkingSet)
            .where(OfflineWorkingSet.id == last.id)
            .values(refreshed_at=now)
        )
        return int(last.version)
    version = 1 if last is None else int(last.version) + 1
    conn.execute(
        insert(OfflineWorkingSet).values(
            terminal_id=terminal_id,
            version=version,
            issued_at=now,
            refreshed_at=now,
            limits=json.dumps(limits.as_dict()),
        )
    )
    superseded = [k for k in (*changed, *gone) if k in held]
    for start in range(0, len(superseded), CHUNK):
        conn.execute(
            update(Entry)
            .where(
                Entry.terminal_id == terminal_id,
                Entry.latest,
                Entry.key.in_(superseded[start : start + CHUNK]),
            )
            .values(latest=False)
        )
    rows = [
        {
            "terminal_id": terminal_id,
            "key": k,
            "version": version,
            "entry": json.dumps(ws.strip_secrets(entries[k]), ensure_ascii=False),
            "digest": digests[k],
            "latest": True,
        }
        for k in changed
    ]
    rows += [
        {
            "terminal_id": terminal_id,
            "key": k,
            "version": version,
            "entry": None,
            "digest": None,
            "latest": True,
        }
        for k in gone
    ]
    for start in range(0, len(rows), CHUNK):
        conn.execute(insert(Entry), rows[start : start + CHUNK])
    return version


def _entry_at(conn: Connection, terminal_id: int, key: str, version: int) -> Any:
    """``key``'s entry in the terminal's working set as of ``version`` (None: not in it)."""
    text = conn.execute(
        select(Entry.entry)
        .where(Entry.terminal_id == terminal_id, Entry.key == key, Entry.version <= version)
        .order_by(Entry.version.desc())
        .limit(1)
    ).scalar()
    return None if text is None else json.loads(text)


# --- uploads ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signed:
    record: dict[str, Any]
    body_hash: str
    signature: str


@dataclass(frozen=True)
class Record:
    """A signed record's fields, typed (``signing.RECORD_FIELDS``)."""

    terminal: str
    seq: int
    txn_id: str
    ws_version: int
    synced_at: datetime
    taken_at: datetime
    person_id: int
    credential: str
    code_step: int | None
    meal: str | None
    amount_fen: int

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Record:
        if set(raw) != set(signing.RECORD_FIELDS):
            raise InvalidInput("离线记录字段不符")
        try:
            for name in ("seq", "ws_version", "person_id", "amount_fen"):
                if type(raw[name]) is not int:
                    raise ValueError(name)
            step = raw["code_step"]
            if step is not None and type(step) is not int:
                raise ValueError("code_step")
            for name in ("terminal", "txn_id", "credential"):
                if not isinstance(raw[name], str) or not 0 < len(raw[name]) <= 64:
                    raise ValueError(name)
                if has_control_character(raw[name]):
                    raise ValueError(name)
            meal = raw["meal"]
            if meal is not None and (not isinstance(meal, str) or has_control_character(meal)):
                raise ValueError("meal")
            rec = cls(
                raw["terminal"],
                raw["seq"],
                raw["txn_id"],
                raw["ws_version"],
                datetime.fromisoformat(raw["synced_at"]),
                datetime.fromisoformat(raw["taken_at"]),
                raw["person_id"],
                raw["credential"],
                step,
                meal,
                raw["amount_fen"],
            )
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"离线记录字段有误：{exc}") from exc
        if rec.seq < 1 or not 0 < rec.amount_fen <= 100_000_000:
            raise InvalidInput("离线记录的序号或金额有误")
        if rec.taken_at.tzinfo is not None or rec.synced_at.tzinfo is not None:
            raise InvalidInput("离线记录的时间须为 UTC（不带时区）")
        return rec


def _refused(rec_seq: Any, txn: Any, refusal: OfflineRecordRefused, lang: str) -> dict[str, Any]:
    return {
        "seq": rec_seq,
        "txn_id": txn,
        "result": "refused",
        "code": refusal.code,
        "message": refusal.message(lang),
    }


def upload(
    ctx: Context, terminal: TerminalIdentity, items: Sequence[Signed]
) -> list[dict[str, Any]]:
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"一批最多 {MAX_BATCH} 条离线记录")
    lang = ctx.settings.language
    now = ctx.clock.now()
    answers: list[dict[str, Any]] = []
    with ctx.db.begin() as conn:
        lock_for_posting(conn)
        enrolled = conn.execute(
            select(
                OfflineTerminal.public_key,
                OfflineTerminal.next_seq,
                OfflineTerminal.ahead_seq,
                OfflineTerminal.ahead_taken_at,
            )
            .where(OfflineTerminal.terminal_id == terminal.id)
            .with_for_update()
        ).first()
        if enrolled is None:
            raise OfflineNotEnrolled()
        key, next_seq = str(enrolled.public_key), int(enrolled.next_seq)
        start = next_seq
        ahead = (enrolled.ahead_seq, enrolled.ahead_taken_at)

        def seq_of(item: Signed) -> int:
            s = item.record.get("seq")
            return s if type(s) is int else 0

        for item in sorted(items, key=seq_of):
            raw = item.record
            refusal = signing.check(key, raw, item.body_hash, item.signature)
            if refusal is None and raw.get("terminal") != terminal.code:
                refusal = OfflineForged()
            if refusal is not None:
                answers.append(_refused(raw.get("seq"), raw.get("txn_id"), refusal, lang))
                continue
            rec = Record.parse(raw)
            if rec.seq < next_seq:
                answers.append(_answered_before(conn, terminal, rec, item.body_hash, lang))
            elif rec.seq > next_seq:
                ahead = _widen_gap(ahead, rec)
                answers.append(
                    {
                        "seq": rec.seq,
                        "txn_id": rec.txn_id,
                        "result": "deferred",
                        "expected_seq": next_seq,
                    }
                )
            else:
                answers.append(_apply(conn, ctx, terminal, rec, item.body_hash, now))
                next_seq += 1
        if ahead[0] is not None and next_seq > ahead[0]:
            ahead = (None, None)  # the gap is filled
        if next_seq != start or ahead != (enrolled.ahead_seq, enrolled.ahead_taken_at):
            conn.execute(
                update(OfflineTerminal)
                .where(OfflineTerminal.terminal_id == terminal.id)
                .values(next_seq=next_seq, ahead_seq=ahead[0], ahead_taken_at=ahead[1])
            )
    return answers


def _widen_gap(
    ahead: tuple[int | None, datetime | None], rec: Record
) -> tuple[int | None, datetime | None]:
    """The gap a record sent ahead of its turn shows: up to the lowest number seen
    ahead, and the earliest time such a record was taken (the missing ones are older)."""
    seq, taken = ahead
    return (
        rec.seq if seq is None else min(seq, rec.seq),
        rec.taken_at if taken is None else min(taken, rec.taken_at),
    )


def _answered_before(
    conn: Connection, terminal: TerminalIdentity, rec: Record, hash_: str, lang: str
) -> dict[str, Any]:
    stored = conn.execute(
        select(
            OfflineRecord.body_hash,
            OfflineRecord.status,
            OfflineRecord.reason,
            OfflineRecord.payment_id,
            OfflineRecord.period,
        ).where(OfflineRecord.terminal_id == terminal.id, OfflineRecord.seq == rec.seq)
    ).first()
    if stored is None or stored.body_hash != hash_:
        return _refused(rec.seq, rec.txn_id, OfflineSeqReused(), lang)
    conn.execute(  # counted for the daily reconciliation
        update(OfflineRecord)
        .where(OfflineRecord.terminal_id == terminal.id, OfflineRecord.seq == rec.seq)
        .values(resent=OfflineRecord.resent + 1)
    )
    return {
        "seq": rec.seq,
        "txn_id": rec.txn_id,
        "result": "duplicate",
        "status": stored.status,
        "code": stored.reason,
        "payment_id": stored.payment_id,
        "period": stored.period,
    }


def _version(conn: Connection, terminal_id: int, version: int) -> Any:
    return conn.execute(
        select(
            OfflineWorkingSet.issued_at,
            OfflineWorkingSet.refreshed_at,
            OfflineWorkingSet.limits,
        ).where(OfflineWorkingSet.terminal_id == terminal_id, OfflineWorkingSet.version == version)
    ).first()


def tally(conn: Connection, terminal_id: int, rec: Record) -> Tally:
    """What came before ``rec`` on its terminal, from the records the server holds: the
    person's day and meals of that period, and the records still unsent when it was
    taken (received after it)."""
    day = to_local(rec.taken_at).date()
    day_starts = from_local(datetime.combine(day, time.min))
    person_day = unsent_fen = unsent_count = meals = 0
    # Only the rows that can count (a terminal's records grow every day it sells).
    for person_id, amount, meal, status, taken_at, received_at in conn.execute(
        select(
            OfflineRecord.person_id,
            OfflineRecord.amount_fen,
            OfflineRecord.meal,
            OfflineRecord.status,
            OfflineRecord.taken_at,
            OfflineRecord.received_at,
        ).where(
            OfflineRecord.terminal_id == terminal_id,
            OfflineRecord.seq < rec.seq,
            or_(
                OfflineRecord.received_at > rec.taken_at,
                and_(
                    OfflineRecord.person_id == rec.person_id,
                    OfflineRecord.status == "applied",
                    OfflineRecord.taken_at >= day_starts,
                    OfflineRecord.taken_at < day_starts + timedelta(days=1),
                ),
            ),
        )
    ):
        if received_at > rec.taken_at:
            unsent_fen += int(amount)
            unsent_count += 1
        if status == "applied" and person_id == rec.person_id and to_local(taken_at).date() == day:
            person_day += int(amount)
            meals += int(meal is not None and meal == rec.meal)
    return Tally(person_day, unsent_fen, unsent_count, meals)


def _check(
    conn: Connection, ctx: Context, terminal: TerminalIdentity, rec: Record, now: datetime
) -> tuple[OfflineRecordRefused | None, dict[str, Any] | None]:
    """Why ``rec`` may not be applied (or None), and its person's entry in its version."""
    version = _version(conn, terminal.id, rec.ws_version)
    if version is None:
        return OfflineNotInWorkingSet(), None
    person = _entry_at(conn, terminal.id, f"person:{rec.person_id}", rec.ws_version)
    if person is None:
        return OfflineNotInWorkingSet(), None
    cred = rec.credential.strip()
    if paycode.looks_like_code(cred):
        try:
            parsed = paycode.parse_code(cred, ctx.settings.region_no)
        except InvalidInput:
            return OfflineNotInWorkingSet(), person
        if parsed.token != person["token"] or rec.code_step is None:
            return OfflineNotInWorkingSet(), person
        if not _otp_holds(conn, rec.person_id, parsed, rec.code_step, ctx):
            return OfflineNotInWorkingSet(), person
        spent = conn.execute(
            select(func.count())
            .select_from(OfflineRecord)
            .where(
                OfflineRecord.person_id == rec.person_id,
                OfflineRecord.code_step == rec.code_step,
                OfflineRecord.status == "applied",
            )
        ).scalar_one()
        if spent or rec.code_step <= int(person["last_step"]):
            return OfflineReplayed(), person
    elif cred not in person["cards"] or _entry_at(
        conn, terminal.id, f"lost:{cred}", rec.ws_version
    ):
        return OfflineNotInWorkingSet(), person
    used = (
        conn.execute(
            select(func.count())
            .select_from(OfflineRecord)
            .where(OfflineRecord.terminal_id == terminal.id, OfflineRecord.txn_id == rec.txn_id)
        ).scalar_one()
        + conn.execute(
            select(func.count())
            .select_from(Payment)
            .where(Payment.terminal_id == terminal.id, Payment.txn_id == rec.txn_id)
        ).scalar_one()
    )
    if used:
        return OfflineReplayed(), person
    if not version.issued_at <= rec.synced_at <= version.refreshed_at or (
        rec.taken_at > now + CLOCK_SKEW
    ):
        return OfflineOverLimit(limit="offline_hours"), person
    limits = Limits.from_dict(json.loads(version.limits))
    meal_entry = (
        _entry_at(conn, terminal.id, f"meal:{rec.meal}", rec.ws_version)
        if rec.meal is not None
        else None
    )
    if rec.meal is not None and meal_entry is None:
        return OfflineNotInWorkingSet(), person
    meal_limit = int(meal_entry["per_person_limit"]) if meal_entry else 0
    exceeded = over_limit(
        limits,
        amount_fen=rec.amount_fen,
        person_limit_fen=int(person["day_limit_fen"]),
        tally=tally(conn, terminal.id, rec),
        taken_at=rec.taken_at,
        synced_at=rec.synced_at,
        meal_limit=meal_limit,
    )
    if exceeded is not None:
        return OfflineOverLimit(limit=exceeded), person
    return None, person


def _otp_holds(
    conn: Connection, person_id: int, parsed: paycode.ParsedCode, step: int, ctx: Context
) -> bool:
    """The code's otp is the person's at ``step`` (their secret, while the token the
    record carries is still theirs; after a rotation the terminal's word stands)."""
    row = conn.execute(
        select(Person.paycode_token, Person.paycode_secret).where(Person.id == person_id)
    ).first()
    if row is None:
        return False
    if row.paycode_token != parsed.token:
        return True
    at = step * ctx.settings.paycode_step_seconds
    return paycode.otp_at(str(row.paycode_secret), at, ctx.settings.paycode_step_seconds) == (
        parsed.otp
    )


def _insert_record(
    conn: Connection,
    terminal: TerminalIdentity,
    rec: Record,
    hash_: str,
    now: datetime,
    **values: Any,
) -> int:
    return int(
        conn.execute(
            insert(OfflineRecord)
            .values(
                terminal_id=terminal.id,
                seq=rec.seq,
                txn_id=rec.txn_id,
                ws_version=rec.ws_version,
                body_hash=hash_,
                person_id=rec.person_id,
                amount_fen=rec.amount_fen,
                meal=rec.meal,
                code_step=rec.code_step,
                taken_at=rec.taken_at,
                received_at=now,
                **values,
            )
            .returning(OfflineRecord.id)
        ).scalar_one()
    )


def _apply(
    conn: Connection,
    ctx: Context,
    terminal: TerminalIdentity,
    rec: Record,
    hash_: str,
    now: datetime,
) -> dict[str, Any]:
    lang = ctx.settings.language
    refusal, person = _check(conn, ctx, terminal, rec, now)
    if refusal is not None:
        _insert_record(conn, terminal, rec, hash_, now, status="refused", reason=refusal.code)
        return _refused(rec.seq, rec.txn_id, refusal, lang)
    assert person is not None
    payer, purses = _payer(conn, rec.person_id)
    canteen = canteen_rules(conn, terminal.canteen_id)
    payable = conn.execute(
        select(Account.id).where(
            Account.owner_kind == "canteen",
            Account.owner_id == canteen.id,
            Account.kind == "canteen_payable",
        )
    ).scalar()
    if payable is None:
        raise NotFound(what=f"account canteen:{canteen.id}:canteen_payable")
    short = rec.amount_fen > purses.subsidy + purses.cash
    debt_account = debts.debt_account(conn, terminal.region_id, payer.id) if short else None
    meal_period_id = None
    if rec.meal is not None:
        meal = meal_facts(conn, canteen.id, rec.meal)
        meal_period_id = meal.period_id if meal is not None else None
    req = PaymentRequest(
        txn_id=rec.txn_id,
        credential=rec.credential,
        meal=rec.meal,
        amount_fen=None if rec.meal is not None else rec.amount_fen,
    )
    d = decide_offline(
        terminal,
        req,
        payer,
        purses,
        amount=rec.amount_fen,
        canteen=canteen,
        payable=int(payable),
        debt_account=debt_account,
        klass=str(person["diner_class"]),
        meal_period_id=meal_period_id,
        at=rec.taken_at,
    )
    local = to_local(rec.taken_at)
    period = period_for(conn, local.date(), terminal.region_id)
    written = journal.write(
        conn,
        journal.check([d.entry(terminal, rec.txn_id)]),
        journal.Header(period, "", now, occurred_at=rec.taken_at),
        purses={purses.subsidy_id: False, purses.cash_id: False},
    )
    entry_id = next(iter(written.values()))
    payment_id = record_decision(
        conn, terminal, req, d, now=rec.taken_at, local_now=local, entry_id=entry_id
    )
    if rec.code_step is not None:
        # The code is spent online too, from its step on (never moves a step back).
        conn.execute(
            update(Person)
            .where(Person.id == payer.id, Person.paycode_last_step < rec.code_step)
            .values(paycode_last_step=rec.code_step)
        )
    record_id = _insert_record(
        conn,
        terminal,
        rec,
        hash_,
        now,
        status="applied",
        payment_id=payment_id,
        period=period,
    )
    debt_fen = rec.amount_fen - d.amount
    if debt_fen:
        debts.record(conn, payer.id, payer.unit_id, record_id, debt_fen, now)
    return {
        "seq": rec.seq,
        "txn_id": rec.txn_id,
        "result": "applied",
        "payment_id": payment_id,
        "period": period,
        "debt_fen": debt_fen,
    }


def _payer(conn: Connection, person_id: int) -> tuple[Payer, Purses]:
    row = conn.execute(
        select(
            Person.id,
            Person.name,
            Person.unit_id,
            Unit.name,
            Person.category,
            Person.status,
        )
        .join(Unit, Unit.id == Person.unit_id)
        .where(Person.id == person_id)
    ).first()
    if row is None:
        raise NotFound(what="人员")
    payer = Payer(int(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]), str(row[5]))
    held = {
        str(kind): (int(aid), int(bal))
        for aid, kind, bal in conn.execute(
            select(Account.id, Account.kind, Account.balance)
            .where(
                Account.owner_kind == "person",
                Account.owner_id == person_id,
                Account.kind.in_(("subsidy", "cash")),
            )
            .with_for_update()
        )
    }
    return payer, Purses(*held["subsidy"], *held["cash"])
