"""Dining agreements between fund regions, and their quarterly clearing (issue 17 §2).

Contract:
- ``require_region_bureau(actor, region_id)`` is the one check of "the bureau of this
  region" for everything here. Each action is one transaction, audited (kind ``other``,
  actions ``interregion_*``).
- Agreements: ``propose`` (the proposing side's bureau: A's, whose people eat, or B's,
  whose canteens serve), ``accept`` (the other side's bureau only), ``suspend`` /
  ``resume`` / ``end`` (either side's). States: proposed → accepted ⇄ suspended, and any
  of them → ended (final). Both regions must be fund regions (``org.fund_regions``); the
  units listed must be A's, the canteens B's. A payment is decided under an agreement
  only while it is accepted and the day lies within its dates (``pay.decide``).
- Statements: ``compute_statement(A, B, quarter)`` (either side's bureau) sums what A's
  people paid at B's canteens in the quarter: approved payments (reversed ones are not
  approved) less what was refunded, per A unit and per B canteen; a person's and a
  canteen's fund region are taken from the regions as they are now. Computing again
  with different figures clears both confirmations; once booked the figures are final
  (``StateConflict``). ``confirm_statement(id, side)``: each side's bureau once; both →
  confirmed. ``book_statement(id)``: once confirmed, one ledger entry (kind
  ``interregion_clearing``, key ``interregion:<id>:<attempt>``: A's ``bank_clearing``
  +gross, B's ``bank_clearing`` −gross — A's bank pays, B's receives) and a bank order
  (``IR<id>-<attempt>``) to B's account from the agreement; booking again changes
  nothing. The bank is asked after the commit (``send_payout``); its verdict arrives as
  a notification (``apply_notification``): success → paid; failure → a compensating
  entry (``interregion_unpaid``, key ``interregion:<id>:<attempt>:failed``) and
  payout_failed, to be booked again under the next attempt.
- ``clearing_problems(conn)``: for every booked or paid statement, what A booked as owed
  (A's legs) equals what B booked as due (B's legs) and the statement's gross.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from onecard.audit import records as audit
from onecard.channels.bank import Notification, gateway
from onecard.core.clock import quarter_bounds
from onecard.core.context import Context
from onecard.core.errors import (
    BankUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    StateConflict,
    UnknownReference,
)
from onecard.funding import notifications as funding_notifications
from onecard.funding.errors import check_quarter
from onecard.interregion.models import PRICE_CLASSES, PURSES, Agreement, Statement
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.ledger.service import Leg, post, system_account
from onecard.org.actors import Actor
from onecard.org.fund_regions import fund_region_map
from onecard.org.models import Canteen, Person, Unit
from onecard.pay.models import Payment

SIDES = ("home", "host")
ORDER_PREFIX = "IR"


def require_region_bureau(actor: Actor, region_id: int) -> None:
    """The bureau of ``region_id`` (a fund region): the deployment's bureau, or a bureau
    whose role is held for ``region_id`` or a region above it (``org.actors`` scope). A
    county's bureau acts for its county's side only."""
    actor.require_bureau_of(region_id)


# --- agreements ----------------------------------------------------------------------
def _fund_region(fund_of: dict[int, int], region_id: int, field: str) -> int:
    if fund_of.get(region_id) != region_id:
        raise UnknownReference(field=field, field_en=field, value=f"{region_id}（非独立资金区域）")
    return region_id


def _ids_json(ids: Sequence[int] | None) -> str | None:
    return None if ids is None else json.dumps(sorted(set(int(i) for i in ids)))


def _check_members(
    conn: Connection,
    fund_of: dict[int, int],
    table: type[Unit] | type[Canteen],
    ids: Sequence[int] | None,
    region: int,
    field: str,
) -> None:
    if ids is None:
        return
    if not ids:
        raise InvalidInput(f"{field}列表不能为空（全部请不填）")
    found = dict(
        conn.execute(select(table.id, table.region_id).where(table.id.in_(set(ids)))).all()
    )
    for i in ids:
        if i not in found or fund_of.get(int(found[i])) != region:
            raise UnknownReference(field=field, field_en=field, value=str(i))


@dataclass(frozen=True)
class AgreementIn:
    home_region_id: int
    host_region_id: int
    price_class: str
    purse: str
    valid_from: date
    host_account_no: str
    host_account_name: str
    valid_to: date | None = None
    unit_ids: Sequence[int] | None = None
    canteen_ids: Sequence[int] | None = None
    note: str = ""


def propose(ctx: Context, actor: Actor, side: str, a: AgreementIn) -> int:
    """An agreement proposed by ``side`` (home: A's bureau; host: B's)."""
    if side not in SIDES:
        raise InvalidInput("side 应为 home 或 host")
    if a.price_class not in PRICE_CLASSES:
        raise InvalidInput("price_class 应为 visitor 或 own")
    if a.purse not in PURSES:
        raise InvalidInput("purse 应为 subsidy、cash 或 subsidy_first")
    if a.valid_to is not None and a.valid_to < a.valid_from:
        raise InvalidInput("valid_to 早于 valid_from")
    if a.home_region_id == a.host_region_id:
        raise InvalidInput("同一资金区域内就餐无需协议")
    require_region_bureau(actor, a.home_region_id if side == "home" else a.host_region_id)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        fund_of = fund_region_map(conn)
        home = _fund_region(fund_of, a.home_region_id, "home_region_id")
        host = _fund_region(fund_of, a.host_region_id, "host_region_id")
        _check_members(conn, fund_of, Unit, a.unit_ids, home, "单位")
        _check_members(conn, fund_of, Canteen, a.canteen_ids, host, "食堂")
        aid = int(
            conn.execute(
                insert(Agreement)
                .values(
                    region_id=home,
                    home_region_id=home,
                    host_region_id=host,
                    unit_ids=_ids_json(a.unit_ids),
                    canteen_ids=_ids_json(a.canteen_ids),
                    price_class=a.price_class,
                    purse=a.purse,
                    valid_from=a.valid_from,
                    valid_to=a.valid_to,
                    status="proposed",
                    proposed_by=side,
                    host_account_no=a.host_account_no,
                    host_account_name=a.host_account_name,
                    note=a.note,
                    created_at=now,
                    updated_at=now,
                )
                .returning(Agreement.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "interregion_propose",
            f"agreement:{aid}",
            {"home": home, "host": host, "side": side},
            after={
                "price_class": a.price_class,
                "purse": a.purse,
                "valid_from": a.valid_from.isoformat(),
                "valid_to": a.valid_to.isoformat() if a.valid_to else None,
                "unit_ids": _ids_json(a.unit_ids),
                "canteen_ids": _ids_json(a.canteen_ids),
            },
        )
    return aid


# Which transitions exist, and whose bureau may make them ("other": the side that did
# not propose; "either": A's or B's).
_MOVES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "accept": (("proposed",), "accepted", "other"),
    "suspend": (("accepted",), "suspended", "either"),
    "resume": (("suspended",), "accepted", "either"),
    "end": (("proposed", "accepted", "suspended"), "ended", "either"),
}


def move(ctx: Context, actor: Actor, agreement_id: int, action: str, side: str) -> str:
    """``accept`` / ``suspend`` / ``resume`` / ``end`` by ``side``'s bureau; the new state."""
    if action not in _MOVES or side not in SIDES:
        raise InvalidInput("未知操作")
    before, after, who = _MOVES[action]
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(Agreement.__table__).where(Agreement.id == agreement_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(what="就餐协议")
        require_region_bureau(actor, row.home_region_id if side == "home" else row.host_region_id)
        if who == "other" and side == row.proposed_by:
            raise Forbidden("协议须由另一方确认")
        if row.status not in before:
            raise StateConflict(f"协议当前为 {row.status}")
        conn.execute(
            update(Agreement)
            .where(Agreement.id == agreement_id)
            .values(status=after, updated_at=ctx.clock.now())
        )
        audit.record(
            conn,
            ctx,
            actor,
            f"interregion_{action}",
            f"agreement:{agreement_id}",
            {"side": side},
            before={"status": row.status},
            after={"status": after},
        )
    return after


# --- statements --------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    gross_fen: int
    payments: int
    per_unit: list[dict[str, Any]]  # {unit_id, unit, fen, payments}
    per_canteen: list[dict[str, Any]]  # {canteen_id, canteen, fen, payments}


def figures(conn: Connection, home: int, host: int, quarter: str) -> Figures:
    """What A's people paid at B's canteens in ``quarter`` (see the module contract)."""
    fund_of = fund_region_map(conn)
    home_regions = [r for r, f in fund_of.items() if f == home]
    host_regions = [r for r, f in fund_of.items() if f == host]
    start, end = quarter_bounds(quarter)
    net = Payment.amount_fen - Payment.refunded_fen
    rows = conn.execute(
        select(
            Payment.home_unit_id,
            Unit.name,
            Payment.canteen_id,
            Canteen.name,
            func.sum(net),
            func.count(),
        )
        .join(Person, Person.id == Payment.person_id)
        .join(Canteen, Canteen.id == Payment.canteen_id)
        .join(Unit, Unit.id == Payment.home_unit_id)
        .where(
            Payment.status == "approved",
            Payment.business_date >= start,
            Payment.business_date < end,
            Person.region_id.in_(home_regions),
            Canteen.region_id.in_(host_regions),
        )
        .group_by(Payment.home_unit_id, Unit.name, Payment.canteen_id, Canteen.name)
    ).all()
    units: dict[int, dict[str, Any]] = {}
    canteens: dict[int, dict[str, Any]] = {}
    gross = count = 0
    for r in rows:
        uid, uname, cid, cname = int(r[0] or 0), str(r[1]), int(r[2]), str(r[3])
        fen, n = int(r[4]), int(r[5])
        gross += fen
        count += n
        u = units.setdefault(uid, {"unit_id": uid, "unit": uname, "fen": 0, "payments": 0})
        u["fen"] += fen
        u["payments"] += n
        c = canteens.setdefault(cid, {"canteen_id": cid, "canteen": cname, "fen": 0, "payments": 0})
        c["fen"] += fen
        c["payments"] += n
    return Figures(
        gross,
        count,
        [units[k] for k in sorted(units)],
        [canteens[k] for k in sorted(canteens)],
    )


def _figures_json(f: Figures) -> str:
    return json.dumps(
        {"per_unit": f.per_unit, "per_canteen": f.per_canteen},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def compute_statement(ctx: Context, actor: Actor, home: int, host: int, quarter: str) -> int:
    """The statement of (A, B, quarter), computed (again); its id."""
    check_quarter(quarter)
    with ctx.db.begin() as conn:
        fund_of = fund_region_map(conn)
        _fund_region(fund_of, home, "home_region_id")
        _fund_region(fund_of, host, "host_region_id")
        if home == host:
            raise InvalidInput("同一资金区域无需清算")
        try:
            require_region_bureau(actor, home)
        except Forbidden:
            require_region_bureau(actor, host)
        f = figures(conn, home, host, quarter)
        body = _figures_json(f)
        now = ctx.clock.now()
        row = conn.execute(
            select(Statement.__table__)
            .where(
                Statement.home_region_id == home,
                Statement.host_region_id == host,
                Statement.quarter == quarter,
            )
            .with_for_update()
        ).first()
        if row is None:
            sid = int(
                conn.execute(
                    insert(Statement)
                    .values(
                        region_id=home,
                        home_region_id=home,
                        host_region_id=host,
                        quarter=quarter,
                        gross_fen=f.gross_fen,
                        payments=f.payments,
                        figures=body,
                        status="open",
                        attempts=0,
                        computed_at=now,
                    )
                    .returning(Statement.id)
                ).scalar_one()
            )
            changed = True
        else:
            sid = int(row.id)
            changed = row.gross_fen != f.gross_fen or row.figures != body
            if changed and row.status in ("booked", "paid", "payout_failed"):
                raise StateConflict("清算单已记账，数字不能再变")
            if changed:
                conn.execute(
                    update(Statement)
                    .where(Statement.id == sid)
                    .values(
                        gross_fen=f.gross_fen,
                        payments=f.payments,
                        figures=body,
                        status="open",
                        home_confirmed_by=None,
                        home_confirmed_at=None,
                        host_confirmed_by=None,
                        host_confirmed_at=None,
                        computed_at=now,
                    )
                )
        audit.record(
            conn,
            ctx,
            actor,
            "interregion_statement",
            f"statement:{sid}",
            {"gross_fen": f.gross_fen, "payments": f.payments, "changed": changed},
            before=None if row is None else {"gross_fen": int(row.gross_fen)},
            after={"gross_fen": f.gross_fen},
        )
    return sid


def _statement(conn: Connection, sid: int) -> Any:
    row = conn.execute(
        select(Statement.__table__).where(Statement.id == sid).with_for_update()
    ).first()
    if row is None:
        raise NotFound(what="清算单")
    return row


def confirm_statement(ctx: Context, actor: Actor, sid: int, side: str) -> str:
    """``side``'s bureau confirms the figures (once); both sides → confirmed."""
    if side not in SIDES:
        raise InvalidInput("side 应为 home 或 host")
    with ctx.db.begin() as conn:
        row = _statement(conn, sid)
        require_region_bureau(actor, row.home_region_id if side == "home" else row.host_region_id)
        if row.status != "open":
            raise StateConflict(f"清算单当前为 {row.status}")
        if getattr(row, f"{side}_confirmed_at") is not None:
            raise StateConflict("本方已确认")
        other = "host" if side == "home" else "home"
        status = "confirmed" if getattr(row, f"{other}_confirmed_at") is not None else "open"
        conn.execute(
            update(Statement)
            .where(Statement.id == sid)
            .values(
                {
                    f"{side}_confirmed_by": actor.label[:60],
                    f"{side}_confirmed_at": ctx.clock.now(),
                    "status": status,
                }
            )
        )
        audit.record(
            conn,
            ctx,
            actor,
            "interregion_confirm",
            f"statement:{sid}",
            {"side": side, "gross_fen": int(row.gross_fen)},
            after={"status": status},
        )
    return status


def order_id(sid: int, attempt: int) -> str:
    return f"{ORDER_PREFIX}{sid}-{attempt}"


def _host_account(conn: Connection, home: int, host: int) -> tuple[str, str]:
    row = conn.execute(
        select(Agreement.host_account_no, Agreement.host_account_name)
        .where(Agreement.home_region_id == home, Agreement.host_region_id == host)
        .order_by(Agreement.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound(what="就餐协议（收款账户）")
    return str(row[0]), str(row[1])


@dataclass(frozen=True)
class Booked:
    statement_id: int
    status: str
    entry_id: int | None
    order_id: str | None


def _clearing_legs(conn: Connection, row: Any, gross: int) -> list[Leg]:
    """A's bank pays B's: A owes ``gross`` less (its ``region_due``) and its bank holds
    less; B is owed less and its bank holds more. Each fund region's half balances."""
    home, host = int(row.home_region_id), int(row.host_region_id)
    return [
        Leg(system_account(conn, "region_due", home), -gross),
        Leg(system_account(conn, "bank_clearing", home), gross),
        Leg(system_account(conn, "region_due", host), gross),
        Leg(system_account(conn, "bank_clearing", host), -gross),
    ]


def book_statement(ctx: Context, actor: Actor, sid: int) -> Booked:
    """Book a confirmed statement (or one whose payout failed) and record its bank order;
    booking a booked or paid statement again changes nothing. The bank is asked after
    the commit (``send_payout``)."""
    with ctx.db.begin() as conn:
        row = _statement(conn, sid)
        require_region_bureau(actor, row.home_region_id)
        if row.status in ("booked", "paid"):
            return Booked(sid, str(row.status), row.entry_id, row.order_id)
        if row.status not in ("confirmed", "payout_failed"):
            raise StateConflict("清算单须双方确认后记账")
        gross = int(row.gross_fen)
        if gross == 0:
            conn.execute(update(Statement).where(Statement.id == sid).values(status="paid"))
            audit.record(conn, ctx, actor, "interregion_book", f"statement:{sid}", {"gross_fen": 0})
            return Booked(sid, "paid", None, None)
        attempt = int(row.attempts) + 1
        entry_id, _ = post(
            conn,
            region_id=int(row.home_region_id),
            kind="interregion_clearing",
            key=f"interregion:{sid}:{attempt}",
            legs=_clearing_legs(conn, row, gross),
            reference=f"statement:{sid}",
            memo=f"{row.quarter} 跨区域就餐清算",
            actor=actor.label,
            booked_at=ctx.clock.now(),
        )
        oid = order_id(sid, attempt)
        conn.execute(
            update(Statement)
            .where(Statement.id == sid)
            .values(status="booked", entry_id=entry_id, order_id=oid, attempts=attempt)
        )
        audit.record(
            conn,
            ctx,
            actor,
            "interregion_book",
            f"statement:{sid}",
            {"gross_fen": gross, "entry_id": entry_id, "order_id": oid},
        )
    return Booked(sid, "booked", entry_id, oid)


def send_payout(ctx: Context, sid: int) -> str | None:
    """Ask the bank to pay a booked statement (idempotent per order id); the problem when
    the bank cannot be reached (the order stays to be sent again)."""
    with ctx.db.read() as conn:
        row = conn.execute(select(Statement.__table__).where(Statement.id == sid)).first()
        if row is None:
            raise NotFound(what="清算单")
        if row.status != "booked" or row.order_id is None:
            return None
        to_no, to_name = _host_account(conn, int(row.home_region_id), int(row.host_region_id))
    try:
        gateway(ctx).pay_out(
            str(row.order_id), to_no, to_name, int(row.gross_fen), f"{row.quarter} 跨区域就餐清算"
        )
    except BankUnavailable as exc:
        return f"银行暂不可用，清算单 {sid} 待重发：{exc.message()}"
    return None


def apply_notification(ctx: Context, note: Notification) -> str:
    """The bank's verdict on a clearing payout, applied once; the statement's status."""
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(Statement.__table__).where(Statement.order_id == note.order_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(what=f"清算付款指令 {note.order_id}")
        if row.status != "booked":
            return str(row.status)
        sid, gross = int(row.id), int(row.gross_fen)
        if note.amount_fen != gross:  # as for funding's payouts: never a verdict on another sum
            raise InvalidInput(f"银行通知金额 {note.amount_fen} 与清算金额 {gross} 不符")
        if note.status == "succeeded":
            status = "paid"
        else:
            status = "payout_failed"
            post(
                conn,
                region_id=int(row.home_region_id),
                kind="interregion_unpaid",
                key=f"interregion:{sid}:{row.attempts}:failed",
                legs=_clearing_legs(conn, row, -gross),
                reference=f"statement:{sid}",
                memo=f"清算付款失败：{note.failure_reason}",
                actor="bank",
                booked_at=ctx.clock.now(),
            )
        conn.execute(update(Statement).where(Statement.id == sid).values(status=status))
        audit.record(
            conn,
            ctx,
            Actor.system("bank"),
            "interregion_payout",
            f"statement:{sid}",
            {"order_id": note.order_id, "status": note.status},
        )
    return status


def clearing_problems(conn: Connection) -> list[str]:
    """Every booked or paid statement: A's bank leg (+, money out) and B's (−, money
    in) of its live entry equal its gross, i.e. what A paid is what B received (each
    side's ``region_due`` moves by the same amount: the entry balances per region)."""
    problems: list[str] = []
    rows = conn.execute(
        select(Statement.__table__).where(Statement.status.in_(("booked", "paid")))
    ).all()
    for row in rows:
        if row.entry_id is None:
            continue
        legs = conn.execute(
            select(Account.region_id, Posting.amount)
            .join(Account, Account.id == Posting.account_id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(
                Posting.entry_id == row.entry_id,
                JournalEntry.kind == "interregion_clearing",
                Account.kind == "bank_clearing",
            )
        ).all()
        owed = sum(int(a) for r, a in legs if r == row.home_region_id)
        due = -sum(int(a) for r, a in legs if r == row.host_region_id)
        if not (owed == due == int(row.gross_fen)):
            problems.append(
                f"statement {row.id}: A booked {owed} fen owed, B {due} fen due, gross {row.gross_fen}"
            )
    return problems


# The bank's callback, return files and statements reach clearing payouts (``IR…``).
funding_notifications.PAYOUT_HANDLERS[ORDER_PREFIX] = apply_notification
