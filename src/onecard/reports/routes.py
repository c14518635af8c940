"""Reports API (/api/v1/reports): the per-capita figures per canteen and meal (R-S4).

Thin: folds the roll-ups (``reports.service.catch_up``), then reads
``reports.per_capita`` (a few thousand roll-up rows, never the payments). The city's
readers only; a quarter that is not ``YYYYQn`` is 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from onecard.core.clock import quarter_of
from onecard.core.errors import Forbidden
from onecard.funding.errors import check_quarter
from onecard.org.actors import CITY_READERS
from onecard.pay.schemas import ErrorOut
from onecard.reports import figures, per_capita
from onecard.reports import service as rollup
from onecard.reports.schemas import PerCapitaOut
from onecard.web.deps import ActorDep, CtxDep

router = APIRouter(prefix="/api/v1", tags=["reports"])
ERRORS: dict[int | str, dict[str, object]] = {s: {"model": ErrorOut} for s in (401, 403, 422)}
Quarter = Annotated[str | None, Query(max_length=6, pattern=r"^20[0-9]{2}Q[1-4]$")]


@router.get("/reports/per-capita", response_model=PerCapitaOut, responses=ERRORS)
def get_per_capita(actor: ActorDep, ctx: CtxDep, quarter: Quarter = None) -> Any:
    """Per canteen and meal for a quarter (default: this one): diners, revenue, revenue
    per diner, visitors and their share, leftovers per diner; per canteen, per meal and
    the city. Reception meals are not recorded; ingredient cost per canteen and meal is
    ``GET /api/v1/sourcing/cost`` (``not_recorded`` says both)."""
    if not actor.holds(*CITY_READERS):  # a region's readers: its regions' canteens
        raise Forbidden()
    q = check_quarter(quarter) if quarter else quarter_of(ctx.clock.today())
    rollup.catch_up(ctx)
    pc = per_capita.per_capita(ctx, q, within=actor.region_ids)
    return {
        "quarter": q,
        "as_of": figures.as_of(ctx),
        "city": pc.city.as_dict(),
        "meals": [r.as_dict() for r in pc.meals],
        "canteens": [r.as_dict() for r in pc.canteens],
        "rows": [r.as_dict() for r in pc.rows],
        "not_recorded": [*per_capita.NOT_RECORDED, per_capita.NO_COST_NOTE],
    }
