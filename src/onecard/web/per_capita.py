"""The bureau's per-capita page (R-S4, 人均消费): per canteen and meal over a quarter.

Contract: ``/bureau/per-capita?quarter=`` (the quarter chosen from the dashboard's list;
default this one) folds the roll-ups and reads ``reports.per_capita``: the city's
figures per meal, two charts (revenue per diner and waste per diner of the canteens
with the most diners, drawn by ``static/js/per_capita.js`` from numbers in the page)
and the table of the ``TOP`` canteens with the most diners, each meal on its own line;
``/bureau/per-capita.xlsx`` is every canteen. It says what the product does not record
(reception meals) instead of showing a figure. Ingredient cost per diner comes from the
batches each canteen's meals used (``sourcing.queries.ingredient_cost`` over the quarter,
passed to ``reports.per_capita``), "—" where a meal recorded no use. Readers:
``scopes.region_scope``: a region's readers see its regions' canteens. Linked from the
dashboard.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from onecard.core.clock import quarter_bounds, quarter_of
from onecard.core.context import Context
from onecard.core.errors import InvalidInput
from onecard.funding.errors import check_quarter
from onecard.reports import figures, per_capita
from onecard.reports import service as rollup
from onecard.sourcing import queries as sourcing_queries
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.pages import xlsx_response
from onecard.web.scopes import can_run_money, region_scope
from onecard.web.templating import render

router = APIRouter(include_in_schema=False)
TOP = 50
Quarter = Annotated[str | None, Query(max_length=6)]


def _quarter(ctx: Context, quarter: str | None) -> str:
    try:
        return check_quarter(quarter) if quarter else quarter_of(ctx.clock.today())
    except InvalidInput:
        return quarter_of(ctx.clock.today())


def _costs(ctx: Context, quarter: str) -> dict[tuple[int, str], int]:
    start, end = quarter_bounds(quarter)  # end: the next quarter's first day
    rows = sourcing_queries.ingredient_cost(ctx, start, end - timedelta(days=1))
    return {(r.canteen_id, r.meal): r.fen for r in rows}


@router.get("/bureau/per-capita")
def page(request: Request, actor: ActorDep, ctx: CtxDep, quarter: Quarter = None) -> Response:
    region_scope(actor)  # a region's readers: its regions' canteens (issue 17 §1)
    q = _quarter(ctx, quarter)
    rollup.catch_up(ctx)
    pc = per_capita.per_capita(ctx, q, _costs(ctx, q), actor.region_ids)
    top = pc.canteens[:TOP]
    shown = {r.canteen_id for r in top}
    return render(
        request,
        "bureau/per_capita.html",
        actor=actor,
        tab="dashboard",
        can_run=can_run_money(actor),
        quarter=q,
        pc=pc,
        top=top,
        rows=[r for r in pc.rows if r.canteen_id in shown],
        order={r.canteen_id: i for i, r in enumerate(top)},
        total=len(pc.canteens),
        limit=TOP,
        chart=[[r.canteen, r.per_diner_fen or 0, r.waste_per_diner_g] for r in pc.canteens[:30]],
        not_recorded=per_capita.NOT_RECORDED,
        as_of=figures.as_of(ctx),
    )


@router.get("/bureau/per-capita.xlsx")
def xlsx(actor: ActorDep, ctx: CtxDep, quarter: Quarter = None) -> Response:
    region_scope(actor)  # a region's readers: its regions' canteens (issue 17 §1)
    q = _quarter(ctx, quarter)
    rollup.catch_up(ctx)
    pc = per_capita.per_capita(ctx, q, _costs(ctx, q), actor.region_ids)
    return xlsx_response(per_capita.to_xlsx(pc), f"per-capita-{q}.xlsx")
