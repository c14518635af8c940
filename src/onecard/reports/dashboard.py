"""The bureau dashboard's charts (``chart``, read from the roll-ups by ``reports.figures``)
and the live GROUP BY over the payments each roll-up must equal (``payments_per_day``,
``cross_unit_matrix``, ``revenue_per_canteen``, ``lunch_rush``: the reference the roll-up
tests compare with, and what the fail-over test reads on a standby).

Contract: every function reads only, through ``ctx.reports_db.read()`` (a standby when
``ONECARD_REPORTS_DATABASE_URL`` names one: its figures may trail the primary by the
replication delay), and works on SQLite and PostgreSQL alike (plain GROUP BY on
columns, no dialect date functions). Only approved
payments count; amounts are net of refunds (``amount_fen - refunded_fen``). Dates are the
payments' ``business_date`` (the city's local date), so a quarter is a date range.
The live functions read every payment of the range: seconds at a city's 7.5 M payments a
quarter, which is why the pages read the roll-ups (docs/web.md, "The dashboard").
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from onecard.core.clock import from_local, to_local
from onecard.core.context import Context
from onecard.core.tables import Table
from onecard.org.models import Canteen, Person, Terminal, Unit
from onecard.pay.models import Payment
from onecard.reports import figures
from onecard.terminals.queries import debt_by_payment

CHARTS = ("daily", "rush", "matrix", "revenue", "ratings")
# An offline record applied after the purses ran short: the canteen was credited its
# whole amount in the ledger, the payment row holds what the purses paid, and the rest
# is the person's debt (``terminals.debts``). The canteen's figures count both.
DEBTS = debt_by_payment()
_NET = Payment.amount_fen + func.coalesce(DEBTS.c.debt_fen, 0) - Payment.refunded_fen


def _range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def payments_per_day(ctx: Context, start: date, end: date) -> Table:
    """Approved payments per business day in [start, end): count and net amount."""
    with ctx.reports_db.read() as conn:
        rows = conn.execute(
            select(Payment.business_date, func.count(), func.coalesce(func.sum(_NET), 0))
            .outerjoin(DEBTS, DEBTS.c.payment_id == Payment.id)
            .where(
                Payment.status == "approved",
                Payment.business_date >= start,
                Payment.business_date < end,
            )
            .group_by(Payment.business_date)
        ).all()
    by_day = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    t = Table("daily", "每日交易", ["日期", "笔数", "金额（元）"], money_cols={2})
    for d in _range(start, end):
        n, fen = by_day.get(d, (0, 0))
        t.rows.append([d.isoformat(), n, fen])
    return t


def latest_business_day(ctx: Context, start: date, end: date) -> date:
    """The last day in [start, end) with an approved payment (else the range's last day,
    or today if that is earlier)."""
    with ctx.reports_db.read() as conn:
        d = conn.execute(
            select(func.max(Payment.business_date)).where(
                Payment.status == "approved",
                Payment.business_date >= start,
                Payment.business_date < end,
            )
        ).scalar()
    if isinstance(d, date):
        return d
    return min(end - timedelta(days=1), ctx.clock.today())


def lunch_rush(ctx: Context, day: date, bucket_minutes: int = 5) -> Table:
    """Payments per ``bucket_minutes`` between 10:30 and 14:00 local time on ``day``."""
    lo, hi = time(10, 30), time(14, 0)
    start_utc = from_local(datetime.combine(day, lo))
    end_utc = from_local(datetime.combine(day, hi))
    with ctx.reports_db.read() as conn:
        stamps = conn.execute(
            select(Payment.created_at).where(
                Payment.status == "approved",
                Payment.created_at >= start_utc,
                Payment.created_at < end_utc,
            )
        ).scalars()
        counts: Counter[str] = Counter()
        for at in stamps:
            local = to_local(at)
            minute = (local.hour * 60 + local.minute) // bucket_minutes * bucket_minutes
            counts[f"{minute // 60:02d}:{minute % 60:02d}"] += 1
    t = Table("rush", f"午餐高峰 {day.isoformat()}", ["时间", "笔数"])
    m = lo.hour * 60 + lo.minute
    while m < hi.hour * 60 + hi.minute:
        label = f"{m // 60:02d}:{m % 60:02d}"
        t.rows.append([label, counts.get(label, 0)])
        m += bucket_minutes
    return t


def cross_unit_matrix(ctx: Context, start: date, end: date) -> Table:
    """Home unit × canteen: how many meals staff of each unit ate at each canteen."""
    with ctx.reports_db.read() as conn:
        rows = conn.execute(
            select(
                Unit.name,
                Canteen.name,
                func.count(),
                func.coalesce(func.sum(_NET), 0),
            )
            .select_from(Payment)
            .join(Unit, Unit.id == Payment.home_unit_id)
            .join(Canteen, Canteen.id == Payment.canteen_id)
            .outerjoin(DEBTS, DEBTS.c.payment_id == Payment.id)
            .where(
                Payment.status == "approved",
                Payment.business_date >= start,
                Payment.business_date < end,
            )
            .group_by(Unit.name, Canteen.name)
            .order_by(Unit.name, Canteen.name)
        ).all()
    t = Table(
        "matrix",
        "跨单位就餐（单位 → 食堂）",
        ["职工所在单位", "食堂", "笔数", "金额（元）"],
        money_cols={3},
    )
    t.rows = [[r[0], r[1], int(r[2]), int(r[3])] for r in rows]
    return t


def revenue_per_canteen(ctx: Context, start: date, end: date) -> Table:
    """Every canteen's net takings in the range, with how much came from visitors."""
    with ctx.reports_db.read() as conn:
        canteens = conn.execute(select(Canteen.id, Canteen.name).order_by(Canteen.id)).all()
        rows = conn.execute(
            select(
                Payment.canteen_id,
                Payment.diner_class,
                func.count(),
                func.coalesce(func.sum(_NET), 0),
            )
            .outerjoin(DEBTS, DEBTS.c.payment_id == Payment.id)
            .where(
                Payment.status == "approved",
                Payment.business_date >= start,
                Payment.business_date < end,
            )
            .group_by(Payment.canteen_id, Payment.diner_class)
        ).all()
    total: dict[int, list[int]] = {int(c.id): [0, 0, 0] for c in canteens}
    for cid, klass, n, fen in rows:
        agg = total.setdefault(int(cid), [0, 0, 0])
        agg[0] += int(n)
        agg[1] += int(fen)
        if klass != "own":
            agg[2] += int(fen)
    t = Table(
        "revenue",
        "各食堂营业额",
        ["食堂", "笔数", "金额（元）", "其中外单位及来宾（元）"],
        money_cols={2, 3},
    )
    t.rows = [[c.name, *total[int(c.id)]] for c in canteens]
    return t


def chart(
    ctx: Context,
    key: str,
    quarter: str,
    day: date | None = None,
    top: int = figures.TOP,
    search: str = "",
    within: frozenset[int] | None = None,
) -> Table:
    """The table behind one dashboard chart (``key`` in ``CHARTS``) for ``quarter``, read
    from the roll-ups (``reports.figures``; the caller folds first with
    ``reports.service.catch_up``); ``within`` regions: of those regions only."""
    if key == "daily":
        return figures.daily(ctx, quarter, within)
    if key == "rush":
        return figures.rush(ctx, day or figures.latest_day(ctx, quarter, within), within=within)
    if key == "matrix":
        return figures.matrix(ctx, quarter, top, search, within)
    if key == "revenue":
        return figures.revenue(ctx, quarter, within)
    if key == "ratings":
        return figures.ratings(ctx, quarter, within)
    raise KeyError(key)


def counts(ctx: Context, payments: bool = True) -> dict[str, int]:
    """How many units, canteens, people, terminals and (``payments``) payments there are
    (status page, bureau console; counting millions of payments takes a while, so the
    console reads the quarter's meals from the roll-ups instead)."""
    models: list[tuple[str, Any]] = [
        (figures.N_("单位"), Unit),
        (figures.N_("食堂"), Canteen),
        (figures.N_("人员"), Person),
        (figures.N_("消费机"), Terminal),
    ]
    if payments:
        models.append((figures.N_("交易"), Payment))
    with ctx.db.read() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in models
        }
