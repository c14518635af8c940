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
  re-sends bank orders still waiting for the bank).
- ``preview`` computes the same figures without writing (the dry run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from onecard.channels.bank import EXPENDITURE_ACCOUNT, INCOME_ACCOUNT, PLATFORM_ACCOUNT_NAMES
from onecard.core.context import Context
from onecard.core.errors import InvalidInput, NotFound
from onecard.core.money import fee_half_up, fen_from_yuan
from onecard.funding import audit
from onecard.funding.errors import MissingPayee, MissingQualityScore, check_quarter
from onecard.funding.models import BankOrder, QualityBand, QualityScore, Settlement
from onecard.funding.payouts import add_order, send_orders
from onecard.funding.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.ledger.models import JournalEntry, Posting
from onecard.ledger.service import Leg, account_id, close_period, is_closed, post, system_account
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
            raise InvalidInput("分数须在 0–100 之间，支付比例须在 0–10000 基点之间")
    with ctx.db.begin() as conn:
        c = _canteen(conn, canteen_id)
        actor.require_unit(c.unit_id)
        conn.execute(delete(QualityBand).where(QualityBand.canteen_id == canteen_id))
        conn.execute(
            insert(QualityBand),
            [{"canteen_id": canteen_id, "min_score": m, "share_bp": s} for m, s in clean],
        )
        audit.record(conn, ctx, actor, "quality_rule", c.name, {"bands": len(clean)})
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
        audit.record(conn, ctx, actor, "quality_score", f"{quarter} {c.name}", {"score": score})


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
    if not bands:
        return score, FULL_SHARE_BP, False
    if score is None:
        return None, FULL_SHARE_BP, True
    for m, s in bands:
        if score >= m:
            return int(score), int(s), False
    return int(score), FULL_SHARE_BP, False  # unreachable: a band starts at 0


# --- figures ---------------------------------------------------------------------------
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


def figures(conn: Connection, c: Any, quarter: str) -> tuple[Figures, bool]:
    gross = gross_for(conn, c.id, quarter)
    score, share, missing = share_for(conn, c.id, quarter)
    if gross <= 0:
        # Nothing to pay; a negative quarter carries forward into the next one.
        return Figures(c.id, c.name, c.unit_id, c.operation, 0, 0, score, share, 0, 0), missing
    fee = platform_fee(gross, c.operation == "self")
    net = fee_half_up(gross - fee, share)
    return (
        Figures(
            c.id, c.name, c.unit_id, c.operation, gross, fee, score, share, gross - fee - net, net
        ),
        missing,
    )


def payee_of(conn: Connection, c: Any) -> tuple[str, str]:
    """(bank account, account name) the operator is paid to.

    An outsourced canteen is paid to its operator's account; a canteen its unit runs
    itself, to the operator account if one is registered, else to the unit's own account.
    """
    unit = conn.execute(select(Unit.name, Unit.bank_account).where(Unit.id == c.unit_id)).one()
    if c.operator_bank_account:
        return str(c.operator_bank_account), str(c.operator_name or unit.name)
    if c.operation == "self" and unit.bank_account:
        return str(unit.bank_account), str(unit.name)
    raise MissingPayee(canteen=c.name)


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


def settle_quarter(
    ctx: Context,
    actor: Actor,
    quarter: str,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
) -> RunResult:
    actor.require_money_runs()
    check_quarter(quarter)
    res = RunResult("settle", quarter, dry_run)
    now = ctx.clock.now()
    orders: list[str] = []
    with unit_of_work(ctx, dry_run) as conn:
        if not dry_run:
            close_period(conn, quarter, actor.label, now)
        canteens = conn.execute(select(Canteen.__table__).order_by(Canteen.code)).all()
        # Validate everything first: a missing score or payee stops the whole run.
        todo: list[tuple[Any, Figures, Any]] = []
        for c in canteens:
            done = conn.execute(
                select(Settlement.__table__).where(
                    Settlement.canteen_id == c.id, Settlement.quarter == quarter
                )
            ).one_or_none()
            if done is not None:
                f = Figures(
                    c.id,
                    c.name,
                    c.unit_id,
                    c.operation,
                    done.gross_fen,
                    done.fee_fen,
                    done.score,
                    done.share_bp,
                    done.withheld_fen,
                    done.net_fen,
                )
                todo.append((c, f, done))
                continue
            f, missing = figures(conn, c, quarter)
            if missing and f.gross_fen > 0:
                err = MissingQualityScore(canteen=c.name, quarter=quarter)
                if not dry_run:
                    raise err
                res.problems.append(err.message())
            if f.net_fen > 0:
                try:
                    payee_of(conn, c)
                except MissingPayee as exc:
                    if not dry_run:
                        raise
                    res.problems.append(exc.message())
            todo.append((c, f, None))
        new = 0
        for i, (c, f, done) in enumerate(todo, 1):
            if done is not None:
                res.lines.append(_line(f, done.status))
                if done.status == "payout_pending":
                    orders.extend(_orders_of(conn, done.id))
                progress(i, len(todo))
                continue
            status = "nothing" if f.net_fen == 0 else "payout_pending"
            res.lines.append(_line(f, "new" if dry_run else status))
            new += 1
            if dry_run:
                progress(i, len(todo))
                continue
            orders.extend(_settle_one(conn, ctx, actor, c, f, quarter, status))
            progress(i, len(todo))
        res.totals = {
            "canteens": len(todo),
            "new": new,
            **{
                k: sum(int(ln[k]) for ln in res.lines)
                for k in ("gross_fen", "fee_fen", "withheld_fen", "net_fen")
            },
        }
        res.changed = new > 0 and not dry_run
        if not dry_run:
            audit.record(conn, ctx, actor, "settle", quarter, res.totals)
    if orders:
        res.problems.extend(send_orders(ctx, orders))
    return res


def _orders_of(conn: Connection, settlement_id: int) -> list[str]:
    return list(
        conn.execute(
            select(BankOrder.order_id)
            .where(
                BankOrder.ref_id == settlement_id,
                BankOrder.kind.in_(("sweep", "settlement")),
                BankOrder.status == "pending",
            )
            .order_by(BankOrder.id)
        ).scalars()
    )


def _settle_one(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    c: Any,
    f: Figures,
    quarter: str,
    status: str,
) -> list[str]:
    now = ctx.clock.now()
    entry_id: int | None = None
    if f.gross_fen > 0:
        legs = [Leg(account_id(conn, "canteen", c.id, "canteen_payable"), -f.gross_fen)]
        if f.fee_fen:
            legs.append(Leg(system_account(conn, "fee_income"), f.fee_fen))
        if f.withheld_fen:
            legs.append(Leg(account_id(conn, "unit", c.unit_id, "unit_returned"), f.withheld_fen))
        if f.net_fen:
            legs.append(Leg(system_account(conn, "bank_clearing"), f.net_fen))
        entry_id, _ = post(
            conn,
            region_id=c.region_id,
            kind="settlement",
            key=f"settle:{quarter}:{c.id}",
            legs=legs,
            actor=actor.label,
            booked_at=now,
            reference=f"{quarter} 食堂结算 {c.name}",
        )
    order_id = f"STL-{c.id}-{quarter}" if f.net_fen else None
    sid = int(
        conn.execute(
            insert(Settlement)
            .values(
                region_id=c.region_id,
                canteen_id=c.id,
                quarter=quarter,
                gross_fen=f.gross_fen,
                fee_fen=f.fee_fen,
                score=f.score,
                share_bp=f.share_bp,
                withheld_fen=f.withheld_fen,
                net_fen=f.net_fen,
                entry_id=entry_id,
                order_id=order_id,
                status=status,
                settled_at=now,
                settled_by=actor.label,
            )
            .returning(Settlement.id)
        ).scalar_one()
    )
    out: list[str] = []
    # The sweep moves what leaves through the expenditure line (fee and net); the
    # withheld part stays in the income account, from which it is returned to the unit.
    swept = f.fee_fen + f.net_fen
    if swept > 0:
        sweep = f"SWP-{c.id}-{quarter}"
        add_order(
            conn,
            order_id=sweep,
            kind="sweep",
            amount_fen=swept,
            from_account=INCOME_ACCOUNT,
            to_account=EXPENDITURE_ACCOUNT,
            to_name=PLATFORM_ACCOUNT_NAMES[EXPENDITURE_ACCOUNT],
            purpose="消费资金归集",
            ref_id=sid,
            entry_id=entry_id,
            now=now,
        )
        out.append(sweep)
    if order_id is not None:
        acct, name = payee_of(conn, c)
        add_order(
            conn,
            order_id=order_id,
            kind="settlement",
            amount_fen=f.net_fen,
            from_account=EXPENDITURE_ACCOUNT,
            to_account=acct,
            to_name=name,
            purpose=f"{quarter}食堂结算款",
            ref_id=sid,
            entry_id=entry_id,
            now=now,
        )
        out.append(order_id)
    return out


def preview(ctx: Context, quarter: str) -> list[Figures]:
    check_quarter(quarter)
    with ctx.db.read() as conn:
        return [
            figures(conn, c, quarter)[0]
            for c in conn.execute(select(Canteen.__table__).order_by(Canteen.code))
        ]


def period_closed(ctx: Context, quarter: str) -> bool:
    with ctx.db.read() as conn:
        return is_closed(conn, quarter)
