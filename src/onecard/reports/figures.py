"""The dashboard's figures read from the roll-ups (``reports.models``), never from the
payments: each chart reads at most a few thousand rows whatever the quarter's size.

Contract: reads only, through ``ctx.reports_db.read()``; the caller folds first
(``reports.service.catch_up``), so figures are as of ``as_of(ctx)``. Each function
returns a ``Table`` (the same rows feed the chart, its table and its Excel):
- ``daily(ctx, q)`` — payments and net amount per day of the quarter;
- ``rush(ctx, day)`` — payments per five minutes, 10:30–14:00 local time;
- ``matrix(ctx, q, top, search)`` — payer's unit → canteen, the ``top`` units (by meals;
  or those whose name contains ``search``) × their ``top`` canteens, the rest summed as
  "其他单位" / "其他食堂", so it stays readable at 22 units and at 1,679;
- ``revenue(ctx, q)`` — every canteen's takings and the visitors' part, largest first;
- ``ratings(ctx, q)`` — ratings given in the quarter, per canteen;
- ``headline(ctx, q)`` — meals, diners, revenue, visitors' share, subsidy distributed
  and not yet spent, each with last quarter's figure.

Regions (issue 17 §1): every chart and ``headline`` take ``within`` (a set of region
ids, e.g. a region and those below it; None = everything) and then count only the meals
eaten at canteens of those regions (``daily`` from ``report_meal_days``, ``rush`` from
``report_canteen_slots``), and, for "diners" and the two subsidy figures, the people of
those regions (who ate; the subsidy distributed to them, and what of it they did not
spend in the quarter's meals, from ``report_diners``). So a region's figures are the sum
of its subtree's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from onecard.core.clock import from_local, previous_quarter, quarter_bounds
from onecard.core.context import Context
from onecard.core.tables import Table
from onecard.feedback.models import Rating
from onecard.org.models import Canteen, Person, Unit
from onecard.reports.models import (
    LUNCH_SLOTS,
    ReportCanteen,
    ReportCanteenSlot,
    ReportDay,
    ReportDiner,
    ReportFund,
    ReportMealDay,
    ReportPair,
    ReportSlot,
    ReportUnit,
    ReportWatermark,
)

TOP = 20


def N_(text: str) -> str:
    """Marks a label for the pages' catalogue (``pybabel extract -k N_``); the page
    translates it where it is shown."""
    return text


OTHER_UNITS = N_("其他单位")
OTHER_CANTEENS = N_("其他食堂")
GUESTS = N_("来宾（无单位）")
# The text cells a page translates (``Table.translated``); every other cell is a name.
LABELS = frozenset({OTHER_UNITS, OTHER_CANTEENS, GUESTS})


def as_of(ctx: Context) -> datetime | None:
    """When the roll-ups were last folded (UTC), None before the first fold."""
    with ctx.reports_db.read() as conn:
        at = conn.execute(select(func.min(ReportWatermark.folded_at))).scalar()
    return at if isinstance(at, datetime) else None


def daily(ctx: Context, quarter: str, within: frozenset[int] | None = None) -> Table:
    start, end = quarter_bounds(quarter)
    with ctx.reports_db.read() as conn:
        if within is None:
            q = select(
                ReportDay.business_date,
                func.sum(ReportDay.payments),
                func.sum(ReportDay.amount_fen),
            ).where(ReportDay.business_date >= start, ReportDay.business_date < end)
            day_col: Any = ReportDay.business_date
        else:
            q = select(
                ReportMealDay.business_date,
                func.sum(ReportMealDay.payments),
                func.sum(ReportMealDay.amount_fen),
            ).where(
                ReportMealDay.business_date >= start,
                ReportMealDay.business_date < end,
                ReportMealDay.canteen_id.in_(canteens_in(within)),
            )
            day_col = ReportMealDay.business_date
        rows = conn.execute(q.group_by(day_col)).all()
    by_day = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    t = Table("daily", N_("每日交易"), [N_("日期"), N_("笔数"), N_("金额（元）")], money_cols={2})
    for i in range((end - start).days):
        d = start + timedelta(days=i)
        n, fen = by_day.get(d, (0, 0))
        t.rows.append([d.isoformat(), n, fen])
    return t


def latest_day(ctx: Context, quarter: str, within: frozenset[int] | None = None) -> date:
    """The quarter's last day with a payment (``within``: at those regions' canteens;
    else its last day, or today if earlier)."""
    start, end = quarter_bounds(quarter)
    with ctx.reports_db.read() as conn:
        if within is None:
            q = select(func.max(ReportDay.business_date)).where(
                ReportDay.business_date >= start,
                ReportDay.business_date < end,
                ReportDay.payments > 0,
            )
        else:
            q = select(func.max(ReportMealDay.business_date)).where(
                ReportMealDay.business_date >= start,
                ReportMealDay.business_date < end,
                ReportMealDay.payments > 0,
                ReportMealDay.canteen_id.in_(canteens_in(within)),
            )
        d = conn.execute(q).scalar()
    if isinstance(d, date):
        return d
    return min(end - timedelta(days=1), ctx.clock.today())


def rush(
    ctx: Context, day: date, bucket_minutes: int = 5, within: frozenset[int] | None = None
) -> Table:
    lo, hi = LUNCH_SLOTS
    with ctx.reports_db.read() as conn:
        if within is None:
            q = select(ReportSlot.slot, ReportSlot.payments).where(
                ReportSlot.business_date == day, ReportSlot.slot >= lo, ReportSlot.slot < hi
            )
        else:
            q = select(ReportCanteenSlot.slot, ReportCanteenSlot.payments).where(
                ReportCanteenSlot.business_date == day,
                ReportCanteenSlot.canteen_id.in_(canteens_in(within)),
            )
        rows = conn.execute(q).all()
    counts: dict[int, int] = {}
    for slot, n in rows:
        b = int(slot) // bucket_minutes * bucket_minutes
        counts[b] = counts.get(b, 0) + int(n)
    t = Table("rush", N_("午餐高峰"), [N_("时间"), N_("笔数")], note=day.isoformat())
    for m in range(lo, hi, bucket_minutes):
        t.rows.append([f"{m // 60:02d}:{m % 60:02d}", counts.get(m, 0)])
    return t


def _names(conn: Connection, model: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        int(i): str(n)
        for i, n in conn.execute(select(model.id, model.name).where(model.id.in_(sorted(ids))))
    }


def canteens_in(within: frozenset[int]) -> Any:
    """The canteens of the regions ``within`` (a subquery)."""
    return select(Canteen.id).where(Canteen.region_id.in_(sorted(within)))


def matrix(
    ctx: Context,
    quarter: str,
    top: int = TOP,
    search: str = "",
    within: frozenset[int] | None = None,
) -> Table:
    """Payer's unit → canteen, readable at any city size (see the contract); ``within``:
    the meals eaten at the canteens of those regions, whoever's unit paid."""
    top = max(1, min(top, 100))
    with ctx.reports_db.read() as conn:
        here: tuple[Any, ...] = ()
        if within is None:
            uq = select(ReportUnit.home_unit_id, ReportUnit.payments, ReportUnit.amount_fen).where(
                ReportUnit.quarter == quarter, ReportUnit.payments != 0
            )
            unit_col, order = ReportUnit.home_unit_id, ReportUnit.payments.desc()
        else:
            here = (ReportPair.canteen_id.in_(canteens_in(within)),)
            meals_of = func.sum(ReportPair.payments)
            uq = (
                select(ReportPair.home_unit_id, meals_of, func.sum(ReportPair.amount_fen))
                .where(ReportPair.quarter == quarter, *here)
                .group_by(ReportPair.home_unit_id)
                .having(meals_of != 0)
            )
            unit_col, order = ReportPair.home_unit_id, meals_of.desc()
        if search.strip():
            matching = select(Unit.id).where(Unit.name.contains(search.strip(), autoescape=True))
            uq = uq.where(unit_col.in_(matching))
        units = conn.execute(uq.order_by(order, unit_col).limit(top)).all()
        shown_units = [int(u[0]) for u in units]
        # The shown units' top canteens, summed in the database (a unit's staff may eat
        # in hundreds of canteens over a quarter), then only the cells that are drawn.
        in_units = (
            ReportPair.quarter == quarter,
            ReportPair.home_unit_id.in_(shown_units),
            ReportPair.payments != 0,
            *here,
        )
        shown_canteens = [
            int(r[0])
            for r in conn.execute(
                select(ReportPair.canteen_id, func.sum(ReportPair.payments).label("n"))
                .where(*in_units)
                .group_by(ReportPair.canteen_id)
                .order_by(func.sum(ReportPair.payments).desc(), ReportPair.canteen_id)
                .limit(top)
            )
        ]
        cells = conn.execute(
            select(
                ReportPair.home_unit_id,
                ReportPair.canteen_id,
                ReportPair.payments,
                ReportPair.amount_fen,
            ).where(*in_units, ReportPair.canteen_id.in_(shown_canteens))
        ).all()
        canteen_totals = {
            int(r[0]): (int(r[1]), int(r[2]))
            for r in conn.execute(
                select(
                    ReportCanteen.canteen_id,
                    func.sum(ReportCanteen.payments),
                    func.sum(ReportCanteen.amount_fen),
                )
                .where(
                    ReportCanteen.quarter == quarter,
                    ReportCanteen.canteen_id.in_(shown_canteens),
                )
                .group_by(ReportCanteen.canteen_id)
            )
        }
        unit_names = _names(conn, Unit, set(shown_units))
        canteen_names = _names(conn, Canteen, set(shown_canteens))
    unit_names[0] = GUESTS
    t = Table(
        "matrix",
        N_("跨单位就餐（单位 → 食堂）"),
        [N_("职工所在单位"), N_("食堂"), N_("笔数"), N_("金额（元）")],
        money_cols={3},
    )
    keep = set(shown_canteens)
    in_shown: dict[int, list[int]] = {c: [0, 0] for c in shown_canteens}
    by_cell = {(int(c[0]), int(c[1])): (int(c[2]), int(c[3])) for c in cells}
    for uid, u_n, u_fen in units:
        uid = int(uid)
        rest_n, rest_fen = int(u_n), int(u_fen)
        for cid in shown_canteens:
            n, fen = by_cell.get((uid, cid), (0, 0))
            if n:
                t.rows.append(
                    [unit_names.get(uid, str(uid)), canteen_names.get(cid, str(cid)), n, fen]
                )
                in_shown[cid][0] += n
                in_shown[cid][1] += fen
                rest_n, rest_fen = rest_n - n, rest_fen - fen
        if (rest_n or rest_fen) and keep:
            t.rows.append([unit_names.get(uid, str(uid)), OTHER_CANTEENS, rest_n, rest_fen])
    if not search.strip():
        for cid in shown_canteens:
            tot_n, tot_fen = canteen_totals.get(cid, (0, 0))
            n, fen = tot_n - in_shown[cid][0], tot_fen - in_shown[cid][1]
            if n or fen:
                t.rows.append([OTHER_UNITS, canteen_names.get(cid, str(cid)), n, fen])
    return t


def revenue(ctx: Context, quarter: str, within: frozenset[int] | None = None) -> Table:
    with ctx.reports_db.read() as conn:
        cq = select(Canteen.id, Canteen.name).order_by(Canteen.id)
        rq = select(
            ReportCanteen.canteen_id,
            ReportCanteen.diner_class,
            ReportCanteen.payments,
            ReportCanteen.amount_fen,
        ).where(ReportCanteen.quarter == quarter)
        if within is not None:
            cq = cq.where(Canteen.region_id.in_(sorted(within)))
            rq = rq.where(ReportCanteen.canteen_id.in_(canteens_in(within)))
        canteens = conn.execute(cq).all()
        rows = conn.execute(rq).all()
    total: dict[int, list[int]] = {int(c.id): [0, 0, 0] for c in canteens}
    for cid, klass, n, fen in rows:
        agg = total.setdefault(int(cid), [0, 0, 0])
        agg[0] += int(n)
        agg[1] += int(fen)
        if klass != "own":
            agg[2] += int(fen)
    t = Table(
        "revenue",
        N_("各食堂营业额"),
        [N_("食堂"), N_("笔数"), N_("金额（元）"), N_("其中外单位及来宾（元）")],
        money_cols={2, 3},
    )
    names = {int(c.id): c.name for c in canteens}
    order = sorted(total, key=lambda k: (-total[k][1], k))
    t.rows = [[names.get(k, str(k)), *total[k]] for k in order]
    return t


def ratings(ctx: Context, quarter: str, within: frozenset[int] | None = None) -> Table:
    """Ratings given during the quarter (local dates), per canteen, most rated first."""
    start, end = quarter_bounds(quarter)
    lo, hi = from_local(datetime.combine(start, time())), from_local(datetime.combine(end, time()))
    here = () if within is None else (Rating.canteen_id.in_(canteens_in(within)),)
    with ctx.reports_db.read() as conn:
        rows = conn.execute(
            select(
                Rating.canteen_id,
                func.count(),
                func.avg(Rating.taste),
                func.avg(Rating.hygiene),
                func.avg(Rating.service),
                func.avg(Rating.value),
            )
            .where(Rating.created_at >= lo, Rating.created_at < hi, *here)
            .group_by(Rating.canteen_id)
        ).all()
        names = _names(conn, Canteen, {int(r[0]) for r in rows})
    t = Table(
        "ratings",
        N_("各食堂满意度"),
        [N_("食堂"), N_("评价数"), N_("口味"), N_("卫生"), N_("服务"), N_("性价比"), N_("综合")],
    )
    for r in sorted(rows, key=lambda r: (-int(r[1]), int(r[0]))):
        aspects = [round(float(x), 2) for x in r[2:6]]
        overall = round(sum(float(x) for x in r[2:6]) / 4, 2)
        t.rows.append([names.get(int(r[0]), str(r[0])), int(r[1]), *aspects, overall])
    return t


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    now: int
    before: int
    money: bool = False
    percent: bool = False  # now/before are basis points

    @property
    def change(self) -> float | None:
        """Relative change against last quarter (None when last quarter had nothing)."""
        return None if not self.before else (self.now - self.before) / abs(self.before)


def _quarter_sums(conn: Connection, quarter: str) -> dict[str, int]:
    start, end = quarter_bounds(quarter)
    rows = conn.execute(
        select(
            ReportDay.diner_class,
            func.sum(ReportDay.payments),
            func.sum(ReportDay.amount_fen),
            func.sum(ReportDay.subsidy_fen),
        )
        .where(ReportDay.business_date >= start, ReportDay.business_date < end)
        .group_by(ReportDay.diner_class)
    ).all()
    out = {"meals": 0, "revenue": 0, "visitors": 0, "subsidy": 0}
    for klass, n, fen, sub in rows:
        out["meals"] += int(n)
        out["revenue"] += int(fen)
        out["subsidy"] += int(sub)
        if klass != "own":
            out["visitors"] += int(fen)
    out["diners"] = int(
        conn.execute(
            select(func.count()).where(ReportDiner.quarter == quarter, ReportDiner.payments > 0)
        ).scalar_one()
    )
    # Subsidy distributed into people's purses by the quarter's distribution entries
    # (folded from the journal: a live sum scanned every entry of the quarter).
    out["distributed"] = int(
        conn.execute(
            select(func.coalesce(func.sum(ReportFund.distributed_fen), 0)).where(
                ReportFund.quarter == quarter
            )
        ).scalar_one()
    )
    return out


def _region_sums(conn: Connection, quarter: str, within: frozenset[int]) -> dict[str, int]:
    """The quarter's meals, revenue and visitors' part at the regions' canteens, and the
    regions' people who ate, the subsidy distributed to them and the subsidy they spent
    (from the per-canteen and per-diner roll-ups)."""
    rows = conn.execute(
        select(
            ReportCanteen.diner_class,
            func.sum(ReportCanteen.payments),
            func.sum(ReportCanteen.amount_fen),
        )
        .where(ReportCanteen.quarter == quarter, ReportCanteen.canteen_id.in_(canteens_in(within)))
        .group_by(ReportCanteen.diner_class)
    ).all()
    out = {"meals": 0, "revenue": 0, "visitors": 0}
    for klass, n, fen in rows:
        out["meals"] += int(n)
        out["revenue"] += int(fen)
        if klass != "own":
            out["visitors"] += int(fen)
    people = conn.execute(
        select(
            func.coalesce(func.sum(case((ReportDiner.payments > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(ReportDiner.distributed_fen), 0),
            func.coalesce(func.sum(ReportDiner.subsidy_fen), 0),
        )
        .select_from(ReportDiner)
        .join(Person, Person.id == ReportDiner.person_id)
        .where(ReportDiner.quarter == quarter, Person.region_id.in_(sorted(within)))
    ).one()
    out["diners"], out["distributed"], out["subsidy"] = (int(v) for v in people)
    return out


def meals(ctx: Context, quarter: str) -> int:
    """The quarter's meals (approved payments net of reversals)."""
    start, end = quarter_bounds(quarter)
    with ctx.reports_db.read() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.sum(ReportDay.payments), 0)).where(
                    ReportDay.business_date >= start, ReportDay.business_date < end
                )
            ).scalar_one()
        )


def headline(ctx: Context, quarter: str, within: frozenset[int] | None = None) -> list[Figure]:
    """The quarter's headline figures; ``within``: of those regions (see the contract)."""
    before_q = previous_quarter(quarter)
    with ctx.reports_db.read() as conn:
        if within is None:
            now, before = _quarter_sums(conn, quarter), _quarter_sums(conn, before_q)
        else:
            now, before = _region_sums(conn, quarter, within), _region_sums(conn, before_q, within)

    def share(s: dict[str, int]) -> int:
        return s["visitors"] * 10000 // s["revenue"] if s["revenue"] else 0

    return [
        Figure("meals", N_("就餐笔数"), now["meals"], before["meals"]),
        Figure("diners", N_("就餐人数"), now["diners"], before["diners"]),
        Figure("revenue", N_("营业额（元）"), now["revenue"], before["revenue"], money=True),
        Figure("visitors", N_("外单位及来宾占比"), share(now), share(before), percent=True),
        Figure(
            "distributed",
            N_("本季拨付补贴（元）"),
            now["distributed"],
            before["distributed"],
            money=True,
        ),
        Figure(
            "left",
            N_("本季补贴未消费（元）"),
            now["distributed"] - now["subsidy"],
            before["distributed"] - before["subsidy"],
            money=True,
        ),
    ]
