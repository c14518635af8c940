"""Quarter-end settlement with canteen operators (R-A6, R-A7) and the period close.

Contract:
- Quality rules: the owning unit sets, per canteen, score bands (``set_quality_rule``:
  score ≥ min → share paid, in basis points) and records one score per quarter
  (``record_score``). A canteen with no bands is paid 100 %.
- ``settle_quarter(ctx, actor, quarter)`` is one transaction: it closes the accounting
  period ``quarter`` (so a late offline upload lands in the next period and never
  changes this one), then for every canteen computes
    gross  = consumption booked in periods ≤ quarter (payments − reversals − refunds)
             minus everything settled before (so a negative quarter carries forward);
    fee    = 0.5 % of gross, half-up to the fen, once on the total; 0 for a canteen
             self-operated by its unit;
    net    = (gross − fee) × share of the score's band, half-up to the fen;
    withheld = gross − fee − net, owed back to the owning unit (unit_returned).
  and posts one entry: canteen_payable −gross, fee_income +fee, unit_returned(U)
  +withheld, bank_clearing +net. After commit, two bank orders: a sweep of fee + net
  from the income account to the expenditure account, then the net to the operator
  (the withheld part stays in the income account until it is returned to the unit).
  ``(canteen, quarter)`` is unique: a repeated run settles nothing again (it only
  re-sends bank orders still waiting for the bank). A quarter is settled only after it
  has ended (``funding.calendar``; ``override_calendar`` — a reason — for a real
  emergency, audited).
- ``preview`` computes the same figures without writing (the dry run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, true

from onecard.audit import records as audit
from onecard.channels.bank import EXPENDITURE_ACCOUNT, INCOME_ACCOUNT, PLATFORM_ACCOUNT_NAMES
from onecard.core.context import Context
from onecard.core.db import without_nested_loops
from onecard.core.errors import InvalidInput, MissingPayee, MissingQualityScore, NotFound
from onecard.core.money import fee_half_up, fen_from_yuan
from onecard.core.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.funding import calendar, regions
from onecard.funding.errors import check_quarter
from onecard.funding.models import BankOrder, QualityBand, QualityScore, Settlement
from onecard.funding.payouts import add_orders, payee_for, send_orders
from onecard.funding.regions import FundRegion
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.ledger.service import (
    Leg,
    NewEntry,
    account_id,
    chunked,
    close_period,
    is_closed,
    post_many,
)
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Unit

FEE_BASIS_POINTS = 50  # 0.5 % system management fee (000 §三(二)3)
FULL_SHARE_BP = 10_000
# Entry kinds of the funding runs that touch a canteen's payable; consumption is the rest.
SETTLEMENT_KINDS = ("settlement", "payout_failed", "payout_retry")


def platform_fee(gross_fen: int, self_operated: bool) -> int:
    """0.5 % of the quarter's total, rounded half-up to the fen; none if self-operated."""
    if self_operated or gross_fen <= 0:
        return 0
    return fee_half_up(gross_fen, FEE_BASIS_POINTS)


@dataclass(frozen=True)
class Figures:
    canteen_id: int
    canteen: str
    unit_id: int
    operation: str
    gross_fen: int
    fee_fen: int
    score: int | None
    share_bp: int
    withheld_fen: int
    net_fen: int


# --- quality rules ---------------------------------------------------------------------
def _canteen(conn: Connection, canteen_id: int) -> Any:
    c = conn.execute(select(Canteen.__table__).where(Canteen.id == canteen_id)).one_or_none()
    if c is None:
        raise NotFound(what="食堂")
    return c


def parse_bands(text: str) -> list[tuple[int, int]]:
    """'90:100, 80:98, 0:95' (score ≥ : percent paid, at most two decimals) →
    [(90, 10000), (80, 9800), (0, 9500)] in basis points, exactly (no float). Full-width
    '：' '，' '；' are accepted as people type them; ``set_quality_rule`` checks the rest."""
    out = []
    for part in text.replace("，", ",").replace("；", ",").replace(";", ",").split(","):
        if not part.strip():
            continue
        score, sep, share = part.replace("：", ":").strip().partition(":")
        if not sep or not score.strip().isdigit():
            raise InvalidInput(
                f"分档格式应为 分数:百分比，如 90:100, 80:98, 0:95（{part.strip()}）"
            )
        try:
            bp = fen_from_yuan(share)  # a percent with ≤ 2 decimals × 100 = basis points
        except ValueError:
            raise InvalidInput(f"支付比例不正确：{share.strip()}") from None
        out.append((int(score), bp))
    return out


def set_quality_rule(
    ctx: Context, actor: Actor, canteen_id: int, bands: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Replace a canteen's bands: [(min_score, share_bp)], e.g. [(90, 10000), (80, 9800),
    (0, 9500)]. A rule must cover every score, so one band starts at 0."""
    clean = sorted({int(m): int(s) for m, s in bands}.items(), reverse=True)
    if not clean or clean[-1][0] != 0:
        raise InvalidInput("考核分档必须包含 0 分起的一档")
    for m, s in clean:
        if not 0 <= m <= 100 or not 0 <= s <= FULL_SHARE_BP:
            raise InvalidInput("分数须在 0–100 之间，支付比例须在 0%–100% 之间")
    with ctx.db.begin() as conn:
        c = _canteen(conn, canteen_id)
        actor.require_unit(c.unit_id)
        before = conn.execute(
            select(QualityBand.min_score, QualityBand.share_bp)
            .where(QualityBand.canteen_id == canteen_id)
            .order_by(QualityBand.min_score.desc())
        ).all()
        conn.execute(delete(QualityBand).where(QualityBand.canteen_id == canteen_id))
        conn.execute(
            insert(QualityBand),
            [{"canteen_id": canteen_id, "min_score": m, "share_bp": s} for m, s in clean],
        )
        audit.record(
            conn,
            ctx,
            actor,
            "quality_rule",
            c.name,
            {"bands": len(clean)},
            unit_id=int(c.unit_id),
            before={"bands": [[int(m), int(b)] for m, b in before]} if before else None,
            after={"bands": [[m, b] for m, b in clean]},
        )
    return clean


def record_score(ctx: Context, actor: Actor, canteen_id: int, quarter: str, score: int) -> None:
    check_quarter(quarter)
    if type(score) is not int or not 0 <= score <= 100:
        raise InvalidInput("考核分数须为 0–100 的整数")
    with ctx.db.begin() as conn:
        c = _canteen(conn, canteen_id)
        actor.require_unit(c.unit_id)
        if conn.execute(
            select(Settlement.id).where(
                Settlement.canteen_id == canteen_id, Settlement.quarter == quarter
            )
        ).first():
            from onecard.core.errors import StateConflict

            raise StateConflict(f"{quarter} 已结算，考核分数不能再改")
        was = conn.execute(
            select(QualityScore.score).where(
                QualityScore.canteen_id == canteen_id, QualityScore.quarter == quarter
            )
        ).scalar()
        conn.execute(
            delete(QualityScore).where(
                QualityScore.canteen_id == canteen_id, QualityScore.quarter == quarter
            )
        )
        conn.execute(
            insert(QualityScore).values(
                canteen_id=canteen_id,
                quarter=quarter,
                score=score,
                recorded_by=actor.label,
                recorded_at=ctx.clock.now(),
            )
        )
        audit.record(
            conn,
            ctx,
            actor,
            "quality_score",
            f"{quarter} {c.name}",
            {"score": score},
            unit_id=int(c.unit_id),
            before={"score": was} if was is not None else None,
            after={"score": score},
        )


def _share(bands: Sequence[tuple[int, int]], score: int | None) -> tuple[int | None, int, bool]:
    """(score, share_bp, rule_but_no_score) from a canteen's bands, highest first."""
    if not bands:
        return score, FULL_SHARE_BP, False
    if score is None:
        return None, FULL_SHARE_BP, True
    for m, s in bands:
        if score >= m:
            return int(score), int(s), False
    return int(score), FULL_SHARE_BP, False  # unreachable: a band starts at 0


def share_for(conn: Connection, canteen_id: int, quarter: str) -> tuple[int | None, int, bool]:
    """(score, share_bp, rule_but_no_score)."""
    bands = conn.execute(
        select(QualityBand.min_score, QualityBand.share_bp)
        .where(QualityBand.canteen_id == canteen_id)
        .order_by(QualityBand.min_score.desc())
    ).all()
    score = conn.execute(
        select(QualityScore.score).where(
            QualityScore.canteen_id == canteen_id, QualityScore.quarter == quarter
        )
    ).scalar()
    return _share([(int(m), int(s)) for m, s in bands], score)


def quality_rows(ctx: Context, unit_id: int, quarter: str) -> list[dict[str, Any]]:
    """The unit's canteens with their quality score of the quarter, their bands and the
    share the score gives (the unit's quality page): two queries, whatever the number of
    canteens."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                Canteen.id,
                Canteen.name,
                Canteen.operation,
                Canteen.operator_name,
                QualityScore.score,
                QualityScore.recorded_by,
            )
            .outerjoin(
                QualityScore,
                (QualityScore.canteen_id == Canteen.id) & (QualityScore.quarter == quarter),
            )
            .where(Canteen.unit_id == unit_id)
            .order_by(Canteen.id)
        ).all()
        bands: dict[int, list[tuple[int, int]]] = {}
        for cid, low, share_bp in conn.execute(
            select(QualityBand.canteen_id, QualityBand.min_score, QualityBand.share_bp)
            .where(QualityBand.canteen_id.in_([r.id for r in rows]))
            .order_by(QualityBand.canteen_id, QualityBand.min_score.desc())
        ):
            bands.setdefault(int(cid), []).append((int(low), int(share_bp)))
    out = []
    for r in rows:
        own = bands.get(int(r.id), [])
        share, _bp, _missing = _share(own, r.score)
        out.append(
            {
                "id": int(r.id),
                "name": r.name,
                "operation": r.operation,
                "operator_name": r.operator_name,
                "score": r.score,
                "recorded_by": r.recorded_by or "",
                "bands": own,
                "share": share,
            }
        )
    return out


# --- figures ---------------------------------------------------------------------------
def _consumed(quarter: str, members: Sequence[int] | None = None) -> Any:
    """Consumption booked on canteen payables in periods ≤ quarter (the funding runs'
    own entries excluded), per payable account: one grouped scan for every canteen — of
    the fund region's member regions only when ``members`` is given (a province's city
    reads its own canteens' postings, not the province's: measured, 3.5 s a city against
    0.9 s for the same city alone)."""
    q = (
        select(Posting.account_id, func.sum(Posting.amount))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Account.kind == "canteen_payable",
            JournalEntry.period <= quarter,
            JournalEntry.kind.notin_(SETTLEMENT_KINDS),
        )
        .group_by(Posting.account_id)
    )
    if members is None:
        return q
    # By the canteens' region now (an account keeps the region it was opened in).
    return q.where(Account.owner_id.in_(select(Canteen.id).where(Canteen.region_id.in_(members))))


def gross_for(conn: Connection, canteen_id: int, quarter: str) -> int:
    payable = account_id(conn, "canteen", canteen_id, "canteen_payable")
    consumed = conn.execute(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(
            Posting.account_id == payable,
            JournalEntry.period <= quarter,
            JournalEntry.kind.notin_(SETTLEMENT_KINDS),
        )
    ).scalar_one()
    settled = conn.execute(
        select(func.coalesce(func.sum(Settlement.gross_fen), 0)).where(
            Settlement.canteen_id == canteen_id, Settlement.quarter < quarter
        )
    ).scalar_one()
    return int(consumed) - int(settled)


def _figures(c: Any, gross: int, share: tuple[int | None, int, bool]) -> tuple[Figures, bool]:
    score, bp, missing = share
    if gross <= 0:
        # Nothing to pay; a negative quarter carries forward into the next one.
        return Figures(c.id, c.name, c.unit_id, c.operation, 0, 0, score, bp, 0, 0), missing
    fee = platform_fee(gross, c.operation == "self")
    net = fee_half_up(gross - fee, bp)
    return (
        Figures(
            c.id, c.name, c.unit_id, c.operation, gross, fee, score, bp, gross - fee - net, net
        ),
        missing,
    )


def figures(conn: Connection, c: Any, quarter: str) -> tuple[Figures, bool]:
    return _figures(c, gross_for(conn, c.id, quarter), share_for(conn, c.id, quarter))


@dataclass
class _Quarter:
    """What settling ``quarter`` reads, for every canteen at once (one query each)."""

    canteens: list[Any]  # in code order
    done: dict[int, Any]  # canteen id → its settlement of this quarter
    payable: dict[int, int]  # canteen id → payable account id
    gross: dict[int, int]  # canteen id → gross (consumption − earlier settlements)
    shares: dict[int, tuple[int | None, int, bool]]  # canteen id → share_for(…)
    units: dict[int, Any]  # unit id → (name, bank_account)

    def figures(self, c: Any) -> tuple[Figures, bool]:
        if c.id not in self.payable:
            raise NotFound(what=f"account canteen:{c.id}:canteen_payable")
        return _figures(c, self.gross.get(c.id, 0), self.shares[c.id])


def _read_quarter(
    conn: Connection, quarter: str, *, every: bool = False, fund: FundRegion | None = None
) -> _Quarter:
    """Figures are computed for the fund region's canteens (every canteen when ``fund``
    is None) not settled yet for ``quarter`` (``every``: for all of them, as ``figures``
    would). Every read keeps to those canteens: a province's city reads its own
    settlements, accounts, bands, scores and units, not the province's 17,000 canteens'
    and 23,000 units'."""
    in_fund: ColumnElement[bool] = true() if fund is None else Canteen.region_id.in_(fund.members)

    def ours(column: Any) -> ColumnElement[bool]:
        """``column`` (a canteen id) names one of the fund region's canteens."""
        return true() if fund is None else column.in_(select(Canteen.id).where(in_fund))

    canteens = list(conn.execute(select(Canteen.__table__).where(in_fund).order_by(Canteen.code)))
    done = {
        int(s.canteen_id): s
        for s in conn.execute(
            select(Settlement.__table__).where(
                Settlement.quarter == quarter, ours(Settlement.canteen_id)
            )
        )
    }
    todo = canteens if every else [c for c in canteens if c.id not in done]
    payable = {
        int(o): int(a)
        for o, a in conn.execute(
            select(Account.owner_id, Account.id).where(
                Account.owner_kind == "canteen",
                Account.kind == "canteen_payable",
                ours(Account.owner_id),
            )
        )
    }
    gross: dict[int, int] = {}
    shares: dict[int, tuple[int | None, int, bool]] = {}
    if todo:
        canteen_of = {a: cid for cid, a in payable.items()}
        members = None if fund is None else fund.members
        with without_nested_loops(conn):  # a quarter's payables: hash joins (core.db)
            consumed = conn.execute(_consumed(quarter, members)).all()
        for acct, total in consumed:
            cid = canteen_of.get(int(acct))
            if cid is not None:  # (a canteen_payable account is always a canteen's)
                gross[cid] = int(total)
        for cid, total in conn.execute(
            select(Settlement.canteen_id, func.sum(Settlement.gross_fen))
            .where(Settlement.quarter < quarter, ours(Settlement.canteen_id))
            .group_by(Settlement.canteen_id)
        ):
            gross[int(cid)] = gross.get(int(cid), 0) - int(total)
        bands: dict[int, list[tuple[int, int]]] = {}
        for cid, m, s in conn.execute(
            select(QualityBand.canteen_id, QualityBand.min_score, QualityBand.share_bp)
            .where(ours(QualityBand.canteen_id))
            .order_by(QualityBand.canteen_id, QualityBand.min_score.desc())
        ):
            bands.setdefault(int(cid), []).append((int(m), int(s)))
        scores = {
            int(cid): score
            for cid, score in conn.execute(
                select(QualityScore.canteen_id, QualityScore.score).where(
                    QualityScore.quarter == quarter, ours(QualityScore.canteen_id)
                )
            )
        }
        shares = {c.id: _share(bands.get(c.id, []), scores.get(c.id)) for c in todo}
    their_units = select(Unit.id, Unit.name, Unit.bank_account).where(
        true() if fund is None else Unit.id.in_(select(Canteen.unit_id).where(in_fund))
    )
    units = {int(u.id): u for u in conn.execute(their_units)}
    return _Quarter(canteens, done, payable, gross, shares, units)


def _line(f: Figures, status: str) -> dict[str, object]:
    return {
        "canteen": f.canteen,
        "operation": f.operation,
        "gross_fen": f.gross_fen,
        "fee_fen": f.fee_fen,
        "score": f.score,
        "share_bp": f.share_bp,
        "withheld_fen": f.withheld_fen,
        "net_fen": f.net_fen,
        "status": status,
    }


def _stored(c: Any, s: Any) -> Figures:
    return Figures(
        c.id,
        c.name,
        c.unit_id,
        c.operation,
        s.gross_fen,
        s.fee_fen,
        s.score,
        s.share_bp,
        s.withheld_fen,
        s.net_fen,
    )


def settle_quarter(
    ctx: Context,
    actor: Actor,
    quarter: str,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    override_calendar: str | None = None,
    region: str | None = None,
) -> RunResult:
    """Settle the canteens of the fund region ``region`` (its code; the top's when None)
    and close the quarter for that fund region only."""
    actor.require_money_runs(of_region=True)
    check_quarter(quarter)
    override = calendar.clean_reason(override_calendar)
    res = RunResult("settle", quarter, dry_run)
    now = ctx.clock.now()
    orders: list[str] = []
    with unit_of_work(ctx, dry_run) as conn:
        fund = regions.resolve(conn, region, actor)
        res.scope = fund.scope(quarter)
        fid = None if fund.top else fund.id
        # Only after the quarter has ended (Beijing date), unless overridden with a reason.
        if not is_closed(conn, quarter, fid):
            objection = calendar.settlement_objection(ctx.clock.today(), quarter)
            calendar.guard(conn, ctx, actor, objection, override, res)
        if not dry_run:
            close_period(conn, quarter, actor.label, now, fid)
        q = _read_quarter(conn, quarter, fund=fund)
        # Validate everything first: a missing score or payee stops the whole run.
        todo: list[tuple[Any, Figures, Any]] = []
        payees: dict[int, tuple[str, str]] = {}
        for c in q.canteens:
            done = q.done.get(c.id)
            if done is not None:
                todo.append((c, _stored(c, done), done))
                continue
            f, missing = q.figures(c)
            if missing and f.gross_fen > 0:
                err = MissingQualityScore(canteen=c.name, quarter=quarter)
                if not dry_run:
                    raise err
                res.problems.append(err.message())
            if f.net_fen > 0:
                try:
                    payees[c.id] = payee_for(c, q.units[c.unit_id])
                except MissingPayee as exc:
                    if not dry_run:
                        raise
                    res.problems.append(exc.message())
            todo.append((c, f, None))
        new = [(c, f) for c, f, done in todo if done is None]
        written: dict[int, list[str]] = {}
        if new and not dry_run:
            written = _settle_many(conn, actor, q, new, payees, quarter, now, fund)
        pending = _pending_orders(
            conn, [done.id for _c, _f, done in todo if done and done.status == "payout_pending"]
        )
        for i, (c, f, done) in enumerate(todo, 1):
            if done is not None:
                res.lines.append(_line(f, done.status))
                orders.extend(pending.get(int(done.id), []))
            else:
                status = "nothing" if f.net_fen == 0 else "payout_pending"
                res.lines.append(_line(f, "new" if dry_run else status))
                orders.extend(written.get(c.id, []))
            progress(i, len(todo))
        res.totals = {
            "canteens": len(todo),
            "new": len(new),
            **{
                k: sum(int(ln[k]) for ln in res.lines)
                for k in ("gross_fen", "fee_fen", "withheld_fen", "net_fen")
            },
        }
        res.changed = bool(new) and not dry_run
        if not dry_run:
            audit.record(conn, ctx, actor, "settle", res.scope, res.totals)
    if orders:
        res.problems.extend(send_orders(ctx, orders))
    return res


def _pending_orders(conn: Connection, settlement_ids: list[int]) -> dict[int, list[str]]:
    """Bank orders (sweep, payout) of these settlements still waiting, per settlement."""
    out: dict[int, list[str]] = {}
    for part in chunked(settlement_ids):
        for ref, oid in conn.execute(
            select(BankOrder.ref_id, BankOrder.order_id)
            .where(
                BankOrder.ref_id.in_(part),
                BankOrder.kind.in_(("sweep", "settlement")),
                BankOrder.status == "pending",
            )
            .order_by(BankOrder.id)
        ):
            out.setdefault(int(ref), []).append(str(oid))
    return out


def _settle_many(
    conn: Connection,
    actor: Actor,
    q: _Quarter,
    new: list[tuple[Any, Figures]],
    payees: dict[int, tuple[str, str]],
    quarter: str,
    now: datetime,
    fund: FundRegion,
) -> dict[int, list[str]]:
    """Write the settlements of ``new`` (canteen, figures) in code order: one entry each
    (``ledger.post_many``), the Settlement rows, their bank orders. Returns the order
    ids per canteen, sweep first."""
    entries: list[NewEntry] = []
    posting = [(c, f) for c, f in new if f.gross_fen > 0]
    if posting:
        fee_income = regions.system_acct(conn, fund, "fee_income")
        clearing = regions.system_acct(conn, fund, "bank_clearing")
        returned = _accounts(
            conn,
            "unit",
            sorted({c.unit_id for c, f in posting if f.withheld_fen}),
            ("unit_returned",),
        )
        for c, f in posting:
            legs = [Leg(q.payable[c.id], -f.gross_fen)]
            if f.fee_fen:
                legs.append(Leg(fee_income, f.fee_fen))
            if f.withheld_fen:
                legs.append(
                    Leg(_need(returned, "unit", c.unit_id, "unit_returned"), f.withheld_fen)
                )
            if f.net_fen:
                legs.append(Leg(clearing, f.net_fen))
            entries.append(
                NewEntry(
                    region_id=c.region_id,
                    kind="settlement",
                    key=f"settle:{quarter}:{c.id}",
                    legs=legs,
                    reference=f"{quarter} 食堂结算 {c.name}",
                )
            )
    entry_ids = post_many(conn, entries, actor=actor.label, booked_at=now)
    rows = [
        {
            "region_id": c.region_id,
            "canteen_id": c.id,
            "quarter": quarter,
            "gross_fen": f.gross_fen,
            "fee_fen": f.fee_fen,
            "score": f.score,
            "share_bp": f.share_bp,
            "withheld_fen": f.withheld_fen,
            "net_fen": f.net_fen,
            "entry_id": entry_ids.get(f"settle:{quarter}:{c.id}"),
            "order_id": f"STL-{c.id}-{quarter}" if f.net_fen else None,
            "status": "nothing" if f.net_fen == 0 else "payout_pending",
            "settled_at": now,
            "settled_by": actor.label,
        }
        for c, f in new
    ]
    sids: list[int] = []
    for part in chunked(rows, 1000):
        sids.extend(
            int(i)
            for i in conn.execute(
                insert(Settlement).returning(Settlement.id, sort_by_parameter_order=True),
                list(part),
            ).scalars()
        )
    out: dict[int, list[str]] = {}
    bank: list[dict[str, Any]] = []
    for (c, f), row, sid in zip(new, rows, sids, strict=True):
        # The sweep moves what leaves through the expenditure line (fee and net); the
        # withheld part stays in the income account, from which it is returned to the unit.
        swept = f.fee_fen + f.net_fen
        ids = out.setdefault(c.id, [])
        if swept > 0:
            ids.append(f"SWP-{c.id}-{quarter}")
            bank.append(
                {
                    "order_id": ids[-1],
                    "kind": "sweep",
                    "amount_fen": swept,
                    "from_account": INCOME_ACCOUNT,
                    "to_account": EXPENDITURE_ACCOUNT,
                    "to_name": PLATFORM_ACCOUNT_NAMES[EXPENDITURE_ACCOUNT],
                    "purpose": "消费资金归集",
                    "ref_id": sid,
                    "entry_id": row["entry_id"],
                }
            )
        if row["order_id"] is not None:
            acct, name = payees[c.id]
            ids.append(str(row["order_id"]))
            bank.append(
                {
                    "order_id": ids[-1],
                    "kind": "settlement",
                    "amount_fen": f.net_fen,
                    "from_account": EXPENDITURE_ACCOUNT,
                    "to_account": acct,
                    "to_name": name,
                    "purpose": f"{quarter}食堂结算款",
                    "ref_id": sid,
                    "entry_id": row["entry_id"],
                }
            )
    add_orders(conn, bank, now=now)
    return out


def _accounts(
    conn: Connection, owner_kind: str, owners: Sequence[int], kinds: Sequence[str]
) -> dict[tuple[int, str], int]:
    """{(owner id, kind): account id} of these owners' accounts of these kinds."""
    out: dict[tuple[int, str], int] = {}
    for part in chunked(owners):
        for owner, kind, aid in conn.execute(
            select(Account.owner_id, Account.kind, Account.id).where(
                Account.owner_kind == owner_kind,
                Account.owner_id.in_(part),
                Account.kind.in_(kinds),
            )
        ):
            out[(int(owner), str(kind))] = int(aid)
    return out


def _need(found: dict[tuple[int, str], int], owner_kind: str, owner: int, kind: str) -> int:
    if (owner, kind) not in found:
        raise NotFound(what=f"account {owner_kind}:{owner}:{kind}")
    return found[(owner, kind)]


def preview(ctx: Context, quarter: str, region: str | None = None) -> list[Figures]:
    check_quarter(quarter)
    with ctx.db.read() as conn:
        q = _read_quarter(conn, quarter, every=True, fund=regions.resolve(conn, region))
        return [q.figures(c)[0] for c in q.canteens]


def period_closed(ctx: Context, quarter: str, region: str | None = None) -> bool:
    with ctx.db.read() as conn:
        fund = regions.resolve(conn, region)
        return is_closed(conn, quarter, None if fund.top else fund.id)
