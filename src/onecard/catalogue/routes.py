"""The catalogue API (/api/v1/catalogue, R-F5, R-A11): dishes and goods, reference
prices, stock, shop rules.

Thin: ``catalogue.service`` checks the actor again and holds every rule; reads come from
``catalogue.queries``. A good priced above its reference is 422 ``above_reference_price``
with the reference in the message, a stock move below zero (the till's sales counted)
409 ``stock_short``, a
reference-price file with bad rows 422 ``import_rejected`` with every row error —
nothing written in each case.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from onecard.catalogue import imports, queries, service
from onecard.catalogue.schemas import (
    CatalogueOut,
    DishIn,
    GoodIn,
    OverOut,
    PublishIn,
    ReferenceOut,
    SavedOut,
    ShopRuleIn,
    StockEventOut,
    StockIn,
    StockOut,
)
from onecard.core.errors import Forbidden, ImportRejected, NotFound
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath, OptionalIdQuery
from onecard.web.errors import error_body
from onecard.web.i18n import request_lang

router = APIRouter(prefix="/api/v1/catalogue", tags=["catalogue"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
SkuPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]


def _may_read(actor: Actor, canteen_id: int, unit_id: int) -> None:
    if not (actor.can_read_everything() or actor.manages_canteen(canteen_id, unit_id)):
        raise Forbidden()


@router.get("/canteens/{canteen_id}", response_model=CatalogueOut, responses=ERRORS)
def get_catalogue(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """A canteen's dishes and goods (each good with its reference price in force)."""
    got = queries.canteen_items(ctx, canteen_id)
    if not got:
        raise NotFound(what="食堂")
    _may_read(actor, canteen_id, got["unit_id"])
    return {
        "canteen_id": got["id"],
        "canteen": got["name"],
        "dishes": got["dishes"],
        "goods": got["goods"],
    }


@router.put("/canteens/{canteen_id}/dishes/{sku}", response_model=SavedOut, responses=ERRORS)
def put_dish(canteen_id: IdPath, sku: SkuPath, body: DishIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Create or change a dish (price, category, portion, allergens, nutrition)."""
    spec = service.DishSpec(sku=sku, **body.model_dump())
    return SavedOut(id=service.save_dish(ctx, actor, canteen_id, spec), sku=sku)


@router.put("/canteens/{canteen_id}/goods/{sku}", response_model=SavedOut, responses=ERRORS)
def put_good(canteen_id: IdPath, sku: SkuPath, body: GoodIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Create or change a good; refused (422) above its large-store reference price."""
    spec = service.GoodSpec(sku=sku, **body.model_dump())
    return SavedOut(id=service.save_good(ctx, actor, canteen_id, spec), sku=sku)


@router.post("/goods/{item_id}/stock", response_model=StockOut, responses=ERRORS)
def post_stock(item_id: IdPath, body: StockIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Stock in, out, or a stock-take (``count``: the counted stock); never below zero."""
    after = service.move_stock(ctx, actor, item_id, body.kind, body.qty, body.note)
    return StockOut(item_id=item_id, stock_qty=after)


@router.get("/goods/{item_id}/stock", response_model=list[StockEventOut], responses=ERRORS)
def get_stock(
    item_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """A good's stock moves and till sales, newest first (at most ``limit``)."""
    canteen_id = queries.item_canteen(ctx, item_id)
    got = queries.canteen_items(ctx, canteen_id) if canteen_id is not None else {}
    if not got or item_id not in {g["id"] for g in got["goods"]}:
        raise NotFound(what="商品")
    _may_read(actor, int(got["id"]), got["unit_id"])
    return queries.stock_history(ctx, item_id, limit)


@router.get("/reference-prices", response_model=list[ReferenceOut], responses=ERRORS)
def get_references(actor: ActorDep, ctx: CtxDep) -> Any:
    """Every reference price published, newest first, with the ones in force marked."""
    if not (actor.can_read_everything() or actor.has("canteen_manager", "unit_admin")):
        raise Forbidden()
    return queries.reference_list(ctx)


@router.post("/reference-prices", response_model=list[OverOut], responses=ERRORS)
def post_references(body: PublishIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Publish the city's large-store prices from ``valid_from`` (the bureau); answers
    the goods now priced above their reference."""
    rows = [service.ReferenceRow(**p.model_dump()) for p in body.prices]
    region = _region(ctx)
    over = service.publish_references(ctx, actor, region, body.valid_from, rows)
    return [asdict(o) for o in over]


def _region(ctx: Any) -> int:
    region = queries.city_id(ctx)
    if region is None:
        raise NotFound(what="城市")
    return region


@router.post("/reference-prices/import", responses=ERRORS)
async def post_reference_import(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    valid_from: Annotated[date, Query()],
    dry_run: bool = True,
    filename: str = "",
) -> Any:
    """A reference-price file (raw Excel or CSV body): ``dry_run`` (default) previews the
    rows and the goods that would be over; any bad row → 422 with every row error."""
    data = await request.body()
    try:
        res = await run_in_threadpool(
            lambda: imports.import_references(
                ctx, actor, data, valid_from, filename=filename, dry_run=dry_run
            )
        )
    except ImportRejected as exc:
        rows = [e.as_dict() for e in getattr(exc, "rows", [])]
        return JSONResponse(
            error_body(exc.code, exc.message(request_lang(request)), rows=rows), status_code=422
        )
    return res.as_dict()


@router.get("/over-reference", response_model=list[OverOut], responses=ERRORS)
def get_over(actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None) -> Any:
    """The goods priced above their reference today (the city's, or one canteen's)."""
    if canteen_id is None:
        if not actor.can_read_everything():
            raise Forbidden()
    else:
        got = queries.canteen_items(ctx, canteen_id)
        if not got:
            raise NotFound(what="食堂")
        _may_read(actor, canteen_id, got["unit_id"])
    return [asdict(o) for o in queries.goods_over_reference(ctx, canteen_id)]


@router.put("/units/{unit_id}/shop-rule", status_code=204, responses=ERRORS)
def put_shop_rule(unit_id: IdPath, body: ShopRuleIn, actor: ActorDep, ctx: CtxDep) -> None:
    """May the subsidy purse pay for goods in this unit's canteens (default: cash only)."""
    service.set_shop_rule(ctx, actor, unit_id, goods_from_subsidy=body.goods_from_subsidy)
