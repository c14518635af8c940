"""The unit's own funding page (单位就餐经费): what the unit was asked to pay, what it
paid and when, what was distributed to whom, what came back — and its Excel.

Contract: ``GET /unit/{unit_id}/funding?year=`` and ``GET /unit/{unit_id}/funding.xlsx``
start with ``scopes.unit_scope`` (the unit's own admin, or the bureau and its read-only
overseers; 403 for anyone else, also another unit's admin) and read through
``funding.unit_view.unit_funding``, which checks the actor again. Reads only. Money is
shown in yuan (from integer fen); the Excel has it as numbers (format 0.00) with a
合计 row under each table; the page prints on A4 (the print stylesheet hides the
navigation and forms).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from onecard.funding import unit_view
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdPath
from onecard.web.pages import unit_page as _page
from onecard.web.pages import xlsx_response
from onecard.web.scopes import unit_scope

router = APIRouter(prefix="/unit", dependencies=[Depends(csrf_protect)], include_in_schema=False)

Year = Query(default=None, ge=2000, le=2100)


@router.get("/{unit_id}/funding")
def funding_page(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    year: int | None = Year,
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    view = unit_view.unit_funding(ctx, actor, unit_id, year or ctx.clock.today().year)
    return _page(request, ctx, actor, unit, "funding", "unit/funding.html", view=view)


@router.get("/{unit_id}/funding.xlsx")
def funding_xlsx(
    unit_id: IdPath, actor: ActorDep, ctx: CtxDep, year: int | None = Year
) -> Response:
    unit_scope(ctx, actor, unit_id)
    y = year or ctx.clock.today().year
    data = unit_view.to_xlsx(unit_view.unit_funding(ctx, actor, unit_id, y))
    return xlsx_response(data, f"unit-{unit_id}-funding-{y}.xlsx")
