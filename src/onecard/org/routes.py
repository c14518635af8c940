"""Organisation administration API (/api/v1/org): regions, units, canteens, their
administrators, and the city's information table (信息统计表).

Thin: the services take the signed-in ``Actor`` and refuse what its grants do not cover
(403) — the bureau for everything, a unit's admin for its own unit's rows. Reads are for
the bureau and its overseers (finance, auditors), and a unit's admin for their own
unit. Every change answers with what it did (``ChangeOut``: before and after, as in the
audit record); a bad value is 422 and a code in use 409, with nothing written.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from onecard.core.errors import Forbidden, ImportRejected
from onecard.funding import payees
from onecard.org import admin, grants, imports, listing, retirement
from onecard.org.actors import CITY_READERS, Actor
from onecard.org.schemas import (
    AppointIn,
    AppointOut,
    CanteenIn,
    CanteenOut,
    CanteenPatch,
    ChangeOut,
    GrantOut,
    RegionIn,
    RegionOut,
    RegionPatch,
    RevokeOut,
    RunOut,
    UnitIn,
    UnitOut,
    UnitPatch,
)
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath, OptionalIdQuery
from onecard.web.errors import error_body
from onecard.web.i18n import request_lang

router = APIRouter(prefix="/api/v1/org", tags=["organisation"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _reader(actor: Actor, unit_id: int | None = None) -> None:
    """A city reader (of the whole deployment, or of a region: listings then keep its
    subtree), or for one unit whoever reads that unit (``Actor.reads_unit``)."""
    if unit_id is None and actor.holds(*CITY_READERS):
        return
    if unit_id is not None and actor.reads_unit(unit_id):
        return
    raise Forbidden()


def _change(ch: admin.Change) -> ChangeOut:
    return ChangeOut(**ch.as_dict())


# --- regions ------------------------------------------------------------------------------
@router.get("/regions", response_model=list[RegionOut], responses=ERRORS)
def get_regions(actor: ActorDep, ctx: CtxDep, include_retired: bool = False) -> Any:
    """The city, its counties and townships."""
    _reader(actor)
    return listing.regions(ctx, include_retired=include_retired, within=actor.region_ids)


@router.post("/regions", response_model=ChangeOut, status_code=201, responses=ERRORS)
def post_region(body: RegionIn, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Create a county under the city, or a township under a county (bureau)."""
    return _change(admin.create_region(ctx, actor, body.given()))


@router.patch("/regions/{region_id}", response_model=ChangeOut, responses=ERRORS)
def patch_region(region_id: IdPath, body: RegionPatch, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Rename or re-code a region (bureau)."""
    return _change(admin.update_region(ctx, actor, region_id, body.given()))


@router.post("/regions/{region_id}/retire", response_model=ChangeOut, responses=ERRORS)
def post_region_retire(region_id: IdPath, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Retire a region with no unit or region left in it (409 ``retire_refused``)."""
    return _change(retirement.retire_region(ctx, actor, region_id))


# --- units --------------------------------------------------------------------------------
@router.get("/units", response_model=list[UnitOut], responses=ERRORS)
def get_units(
    actor: ActorDep,
    ctx: CtxDep,
    q: str = "",
    region_id: OptionalIdQuery = None,
    include_retired: bool = False,
) -> Any:
    """Units (a unit admin sees their own), with people and canteens counted."""
    rows = listing.units(
        ctx, include_retired=include_retired, q=q, region_id=region_id, within=actor.region_ids
    )
    if actor.holds(*CITY_READERS):
        return rows
    mine = [r for r in rows if actor.manages_unit(int(r["id"]))]
    if not mine and not actor.has("unit_admin"):
        raise Forbidden()
    return mine


@router.get("/units/{unit_id}", response_model=UnitOut, responses=ERRORS)
def get_unit(unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """One unit, with what stands in the way of retiring it."""
    _reader(actor, unit_id)
    return {
        **listing.unit(ctx, unit_id),
        "retire_blockers": retirement.blockers(ctx, "unit", unit_id),
    }


@router.post("/units", response_model=ChangeOut, status_code=201, responses=ERRORS)
def post_unit(body: UnitIn, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Create a unit with its ledger accounts (bureau)."""
    return _change(admin.create_unit(ctx, actor, body.given()))


@router.patch("/units/{unit_id}", response_model=ChangeOut, responses=ERRORS)
def patch_unit(unit_id: IdPath, body: UnitPatch, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Edit a unit (its admin: contact, phone, canteen flag, standard; the bureau: all)."""
    return _change(payees.update_unit(ctx, actor, unit_id, body.given()))


@router.post("/units/{unit_id}/retire", response_model=ChangeOut, responses=ERRORS)
def post_unit_retire(unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Retire a unit with no people, money or canteen left (409 ``retire_refused``)."""
    return _change(retirement.retire_unit(ctx, actor, unit_id))


# --- canteens -----------------------------------------------------------------------------
@router.get("/canteens", response_model=list[CanteenOut], responses=ERRORS)
def get_canteens(
    actor: ActorDep, ctx: CtxDep, unit_id: OptionalIdQuery = None, include_retired: bool = False
) -> Any:
    """Canteens of the city, or of one unit."""
    _reader(actor, unit_id)
    return listing.canteens(
        ctx, unit_id=unit_id, include_retired=include_retired, within=actor.region_ids
    )


@router.get("/canteens/{canteen_id}", response_model=CanteenOut, responses=ERRORS)
def get_canteen(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """One canteen, with what stands in the way of retiring it."""
    row = listing.canteen(ctx, canteen_id)
    _reader(actor, int(row["unit_id"]))
    return {**row, "retire_blockers": retirement.blockers(ctx, "canteen", canteen_id)}


@router.post("/canteens", response_model=ChangeOut, status_code=201, responses=ERRORS)
def post_canteen(body: CanteenIn, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Create a canteen of a unit, "planned" until its terminals are in (bureau)."""
    return _change(admin.create_canteen(ctx, actor, body.given()))


@router.patch("/canteens/{canteen_id}", response_model=ChangeOut, responses=ERRORS)
def patch_canteen(
    canteen_id: IdPath, body: CanteenPatch, actor: ActorDep, ctx: CtxDep
) -> ChangeOut:
    """Edit a canteen; a corrected operator account re-sends its failed payouts."""
    return _change(payees.update_canteen(ctx, actor, canteen_id, body.given()))


@router.post("/canteens/{canteen_id}/retire", response_model=ChangeOut, responses=ERRORS)
def post_canteen_retire(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> ChangeOut:
    """Retire a canteen with nothing unsettled and no terminal in use (409 otherwise)."""
    return _change(retirement.retire_canteen(ctx, actor, canteen_id))


@router.post("/canteens/{canteen_id}/payouts/retry", response_model=list[RunOut], responses=ERRORS)
def post_payout_retry(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """Send again the canteen's settlement payouts the bank returned (bureau)."""
    return [r.as_dict() for r in payees.retry_failed_payouts(ctx, actor, canteen_id)]


# --- administrators -------------------------------------------------------------------------
@router.get("/admins", response_model=list[GrantOut], responses=ERRORS)
def get_admins(actor: ActorDep, ctx: CtxDep, unit_id: OptionalIdQuery = None) -> Any:
    """Every role held (the city's, or one unit's and its canteens')."""
    return grants.administrators(ctx, actor, unit_id)


@router.post("/admins", response_model=AppointOut, status_code=201, responses=ERRORS)
def post_admin(body: AppointIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Give a person a role, creating the person when the staff number is new."""
    return grants.appoint(ctx, actor, grants.Appointment(**body.given()))


@router.post("/grants/{grant_id}/revoke", response_model=RevokeOut, responses=ERRORS)
def post_revoke(grant_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """Take a role away; the person's next request no longer has it."""
    return grants.revoke(ctx, actor, grant_id)


# --- the information table --------------------------------------------------------------------
@router.get("/info-table/template", responses=ERRORS)
def get_info_table(
    actor: ActorDep, ctx: CtxDep, format: Literal["xlsx", "csv"] = "xlsx"
) -> Response:
    """The city's 信息统计表 (units, and canteens on their own sheet), pre-filled."""
    _reader(actor)  # a region's readers: its units only
    if format == "csv":
        return Response(
            imports.unit_info_csv(ctx, actor.unit_ids), media_type="text/csv; charset=utf-8"
        )
    return Response(
        imports.unit_info_template(ctx, actor.unit_ids),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="info-table.xlsx"'},
    )


@router.post("/info-table/import", responses=ERRORS)
async def post_info_table(
    request: Request, actor: ActorDep, ctx: CtxDep, dry_run: bool = False, filename: str = ""
) -> Any:
    """The whole city from one file (raw Excel or CSV body): new units and canteens are
    created, the rest updated; any bad row → 422 with every row error, nothing written."""
    data = await request.body()
    try:
        res = await run_in_threadpool(
            imports.import_unit_info, ctx, actor, data, filename, dry_run=dry_run
        )
    except ImportRejected as exc:
        rows = [e.as_dict() for e in getattr(exc, "rows", [])]
        return JSONResponse(
            error_body(exc.code, exc.message(request_lang(request)), rows=rows), status_code=422
        )
    return res.as_dict()
