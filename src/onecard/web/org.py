"""Organisation pages (机构管理): regions, units, canteens and their administrators, for
the bureau (``/bureau/org…``) and for a unit's admin, their own unit (``/unit/{id}/org…``).

Contract: every route starts with its scope check (``scopes.bureau_scope``: the bureau,
finance and auditors read; ``scopes.unit_scope``: the unit's admin, and the bureau's
readers) and then calls the ``org`` services, which check the actor again and own their
transactions. A refused write re-renders the page with the reason, the values the
person typed, and the error's 4xx status; a change that succeeds redirects (303) to the
page, which says what was saved. The same templates serve both frames (the bureau's
tabs or the unit's), so a unit admin sees their unit as the bureau does, with the
bureau-only fields (bank accounts, codes, names, region, owner unit) read-only.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from onecard.core.context import Context
from onecard.core.errors import NotFound, OneCardError
from onecard.core.money import yuan
from onecard.funding import payees
from onecard.org import admin, grants, listing, retirement
from onecard.org import queries as org_queries
from onecard.org.actors import BUREAU_ROLES, Actor
from onecard.org.fields import (
    CANTEEN_FIELDS,
    GUEST_ACCESS_ZH,
    LEVEL_ZH,
    REGION_FIELDS,
    UNIT_FIELDS,
    Spec,
)
from onecard.org.models import CITY_ROLES, UNIT_ROLES
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.pages import Frame
from onecard.web.scopes import (
    bureau_scope,
    can_run_money,
    region_canteen_scope,
    region_scope,
    region_unit_scope,
    unit_scope,
)

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

ROLLOUT_ZH = {"planned": "计划", "installed": "已安装", "live": "已上线"}


def region_options(ctx: Context, actor: Actor) -> list[tuple[int, str]]:
    """(id, name) of the regions a unit or region may be placed in (not retired), of the
    actor's regions."""
    return [(r["id"], r["name"]) for r in listing.regions(ctx, within=actor.region_ids)]


def unit_options(ctx: Context, actor: Actor) -> list[tuple[int, str]]:
    units = listing.units(ctx, within=actor.region_ids)
    return [(u["id"], f"{u['code']} {u['name']}") for u in units]


def _error_text(request: Request, exc: OneCardError) -> str:
    return exc.message(request_lang(request))


def _refusal(exc: OneCardError) -> int:
    """The status a refused write is shown with; a server fault is raised, not shown."""
    code = status_for(exc)
    if code >= 500:
        raise exc
    return code


async def _fields(request: Request, specs: dict[str, Spec]) -> dict[str, str]:
    """The form's values for the fields it carries (disabled inputs are not sent)."""
    form = await request.form()
    return {k: str(v) for k, v in form.items() if k in specs}


def _editable(actor: Actor, specs: dict[str, Spec], writable: bool) -> dict[str, bool]:
    """Which fields the actor may change (none on a page they only read)."""
    bureau = actor.holds(*BUREAU_ROLES)
    return {k: writable and (bureau or not s.bureau_only) for k, s in specs.items()}


def _see_other(url: str, saved: str, **extra: object) -> RedirectResponse:
    query = "&".join([f"saved={saved}", *(f"{k}={v}" for k, v in extra.items())])
    return RedirectResponse(f"{url}?{query}", status_code=303)


# --- the bureau's list: regions and units ----------------------------------------------------
def _units_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    q = request.query_params.get("q", "")
    show = request.query_params.get("show", "")
    regions = listing.regions(ctx, include_retired=show == "all", within=actor.region_ids)
    return Frame(ctx, actor).render(
        request,
        "bureau/org_units.html",
        status_code=status_code,
        regions=regions,
        region_names={r["id"]: r["name"] for r in regions},
        region_options=region_options(ctx, actor),
        level_options=[("", "与所属区域一致"), *LEVEL_ZH.items()],
        units=listing.units(ctx, include_retired=show == "all", q=q, within=actor.region_ids),
        q=q,
        show=show,
        error=error,
        form=form or {},
        creating=request.query_params.get("new", ""),
    )


@router.get("/bureau/org")
def org_home(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    return _units_page(request, ctx, actor)


@router.post("/bureau/org/regions")
async def region_create(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    values = await _fields(request, REGION_FIELDS)
    try:
        admin.create_region(ctx, actor, values)
    except OneCardError as exc:
        return _units_page(
            request,
            ctx,
            actor,
            error=_error_text(request, exc),
            form=values,
            status_code=_refusal(exc),
        )
    return _see_other("/bureau/org", "created")


@router.post("/bureau/org/regions/{region_id}")
async def region_edit(
    request: Request, region_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    region_scope(actor)
    values = await _fields(request, {k: REGION_FIELDS[k] for k in ("code", "name")})
    try:
        ch = admin.update_region(ctx, actor, region_id, values)
    except OneCardError as exc:
        return _units_page(
            request, ctx, actor, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other("/bureau/org", "saved" if ch.changed else "nothing")


@router.post("/bureau/org/regions/{region_id}/retire")
def region_retire(request: Request, region_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    try:
        retirement.retire_region(ctx, actor, region_id)
    except OneCardError as exc:
        return _units_page(
            request, ctx, actor, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other("/bureau/org", "retired")


@router.post("/bureau/org/units")
async def unit_create(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    values = await _fields(request, UNIT_FIELDS)
    if not values.get("level"):
        values.pop("level", None)  # "the region's level"
    try:
        ch = admin.create_unit(ctx, actor, values)
    except OneCardError as exc:
        return _units_page(
            request,
            ctx,
            actor,
            error=_error_text(request, exc),
            form=values,
            status_code=_refusal(exc),
        )
    return _see_other(f"/bureau/org/units/{ch.id}", "created")


# --- one unit ----------------------------------------------------------------------------------
def _unit_page(
    request: Request,
    frame: Frame,
    unit_id: IdPath,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    canteen_form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx, actor = frame.ctx, frame.actor
    row = listing.unit(ctx, unit_id)
    can_edit = actor.manages_unit(unit_id) and row["retired_at"] is None
    return frame.render(
        request,
        "bureau/org_unit.html",
        status_code=status_code,
        row=row,
        vals={
            **row,
            "default_standard_fen": yuan(row["default_standard_fen"]),
            "has_canteen": "true" if row["has_canteen"] else "false",
        },
        form=form or {},
        canteen_form=canteen_form or {},
        editable=_editable(actor, UNIT_FIELDS, can_edit),
        can_edit=can_edit,
        save_url=frame.unit_url(unit_id),
        unit_canteens=listing.canteens(ctx, unit_id=unit_id, include_retired=True),
        region_options=region_options(ctx, actor),
        level_options=list(LEVEL_ZH.items()),
        rollout_zh=ROLLOUT_ZH,
        admins=grants.administrators(ctx, actor, unit_id),
        role_zh=grants.ROLE_ZH,
        unit_roles=UNIT_ROLES,
        blockers=retirement.blockers(ctx, "unit", unit_id) if row["retired_at"] is None else [],
        error=error,
    )


@router.get("/bureau/org/units/{unit_id}")
def bureau_unit(request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    region_unit_scope(actor, unit_id)
    return _unit_page(request, Frame(ctx, actor), unit_id)


@router.get("/unit/{unit_id}/org")
def own_unit(request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    return _unit_page(request, Frame(ctx, actor, unit), unit_id)


def _frame_for(ctx: Context, actor: Actor, unit_id: int, own: bool) -> Frame:
    if own:
        return Frame(ctx, actor, unit_scope(ctx, actor, unit_id))
    region_unit_scope(actor, unit_id)
    return Frame(ctx, actor)


async def _save_unit(request: Request, frame: Frame, unit_id: int) -> Response:
    values = await _fields(request, UNIT_FIELDS)
    try:
        ch = payees.update_unit(frame.ctx, frame.actor, unit_id, values)
    except OneCardError as exc:
        return _unit_page(
            request,
            frame,
            unit_id,
            error=_error_text(request, exc),
            form=values,
            status_code=_refusal(exc),
        )
    return _see_other(
        frame.unit_url(unit_id), "saved" if ch.changed else "nothing", retried=len(ch.retried)
    )


@router.post("/bureau/org/units/{unit_id}")
async def bureau_unit_save(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return await _save_unit(request, _frame_for(ctx, actor, unit_id, False), unit_id)


@router.post("/unit/{unit_id}/org")
async def own_unit_save(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return await _save_unit(request, _frame_for(ctx, actor, unit_id, True), unit_id)


@router.post("/bureau/org/units/{unit_id}/retire")
def unit_retire(request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    frame = _frame_for(ctx, actor, unit_id, False)
    try:
        retirement.retire_unit(ctx, actor, unit_id)
    except OneCardError as exc:
        return _unit_page(
            request, frame, unit_id, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other(frame.unit_url(unit_id), "retired")


@router.post("/bureau/org/units/{unit_id}/canteens")
async def canteen_create(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    frame = _frame_for(ctx, actor, unit_id, False)
    values = await _fields(request, CANTEEN_FIELDS)
    values["unit_id"] = str(unit_id)
    try:
        ch = admin.create_canteen(ctx, actor, values)
    except OneCardError as exc:
        return _unit_page(
            request,
            frame,
            unit_id,
            error=_error_text(request, exc),
            canteen_form=values,
            status_code=_refusal(exc),
        )
    return _see_other(frame.canteen_url(ch.id), "created")


# --- one canteen --------------------------------------------------------------------------------
def _canteen_page(
    request: Request,
    frame: Frame,
    canteen_id: IdPath,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx, actor = frame.ctx, frame.actor
    row = listing.canteen(ctx, canteen_id)
    if frame.unit is not None and row["unit_id"] != frame.unit.id:
        raise NotFound(what="食堂")
    can_edit = actor.manages_unit(int(row["unit_id"])) and row["retired_at"] is None
    return frame.render(
        request,
        "bureau/org_canteen.html",
        status_code=status_code,
        row=row,
        vals=row,
        form=form or {},
        editable=_editable(actor, CANTEEN_FIELDS, can_edit),
        can_edit=can_edit,
        save_url=frame.canteen_url(canteen_id),
        unit_options=unit_options(ctx, actor)
        if actor.holds(*BUREAU_ROLES)
        else [(row["unit_id"], row["unit_name"])],
        rollout_zh=ROLLOUT_ZH,
        guest_access_zh=GUEST_ACCESS_ZH,
        failed=listing.failed_payouts(ctx, canteen_id),
        can_retry=can_run_money(actor),
        blockers=retirement.blockers(ctx, "canteen", canteen_id)
        if row["retired_at"] is None
        else [],
        error=error,
    )


@router.get("/bureau/org/canteens/{canteen_id}")
def bureau_canteen(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    region_canteen_scope(actor, canteen_id)
    return _canteen_page(request, Frame(ctx, actor), canteen_id)


@router.get("/unit/{unit_id}/org/canteens/{canteen_id}")
def own_canteen(
    request: Request, unit_id: IdPath, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return _canteen_page(request, _frame_for(ctx, actor, unit_id, True), canteen_id)


async def _save_canteen(request: Request, frame: Frame, canteen_id: int) -> Response:
    if frame.unit is not None and org_queries.canteen_owner(frame.ctx, canteen_id) != frame.unit.id:
        raise NotFound(what="食堂")
    values = await _fields(request, CANTEEN_FIELDS)
    try:
        ch = payees.update_canteen(frame.ctx, frame.actor, canteen_id, values)
    except OneCardError as exc:
        return _canteen_page(
            request,
            frame,
            canteen_id,
            error=_error_text(request, exc),
            form=values,
            status_code=_refusal(exc),
        )
    return _see_other(
        frame.canteen_url(canteen_id), "saved" if ch.changed else "nothing", retried=len(ch.retried)
    )


@router.post("/bureau/org/canteens/{canteen_id}")
async def bureau_canteen_save(
    request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    region_canteen_scope(actor, canteen_id)
    return await _save_canteen(request, Frame(ctx, actor), canteen_id)


@router.post("/unit/{unit_id}/org/canteens/{canteen_id}")
async def own_canteen_save(
    request: Request, unit_id: IdPath, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return await _save_canteen(request, _frame_for(ctx, actor, unit_id, True), canteen_id)


@router.post("/bureau/org/canteens/{canteen_id}/retire")
def canteen_retire(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    region_canteen_scope(actor, canteen_id)
    frame = Frame(ctx, actor)
    try:
        retirement.retire_canteen(ctx, actor, canteen_id)
    except OneCardError as exc:
        return _canteen_page(
            request, frame, canteen_id, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other(frame.canteen_url(canteen_id), "retired")


@router.post("/bureau/org/canteens/{canteen_id}/payouts/retry")
def canteen_retry(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    frame = Frame(ctx, actor)
    try:
        done = payees.retry_failed_payouts(ctx, actor, canteen_id)
    except OneCardError as exc:
        return _canteen_page(
            request, frame, canteen_id, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other(frame.canteen_url(canteen_id), "saved", retried=len(done))


# --- administrators ---------------------------------------------------------------------------
def _admins_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return Frame(ctx, actor).render(
        request,
        "bureau/org_admins.html",
        status_code=status_code,
        admins=grants.administrators(ctx, actor),
        role_zh=grants.ROLE_ZH,
        city_roles=CITY_ROLES,
        unit_roles=UNIT_ROLES,
        all_units=listing.units(ctx, within=actor.region_ids),
        all_canteens=listing.canteens(ctx, within=actor.region_ids),
        region_options=region_options(ctx, actor),
        form=form or {},
        error=error,
    )


@router.get("/bureau/org/admins")
def admins(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    return _admins_page(request, ctx, actor)


def _opt_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _appointment(form: dict[str, str]) -> grants.Appointment:
    return grants.Appointment(
        staff_no=form.get("staff_no", "").strip(),
        role=form.get("role", ""),
        unit_id=_opt_int(form.get("unit_id", "")),
        canteen_id=_opt_int(form.get("canteen_id", "")),
        name=form.get("name") or None,
        person_unit_id=_opt_int(form.get("person_unit_id", "")),
        phone=form.get("phone") or None,
        region_id=_opt_int(form.get("region_id", "")),
    )


APPOINT_FIELDS = (
    "staff_no",
    "role",
    "unit_id",
    "canteen_id",
    "name",
    "person_unit_id",
    "phone",
    "region_id",
)


async def _appoint_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(form.get(k) or "")[:100] for k in APPOINT_FIELDS}


@router.post("/bureau/org/admins")
async def appoint(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    form = await _appoint_form(request)
    role = form["role"]
    # One form for every role: the scope field that does not apply to the role is ignored.
    if role in CITY_ROLES:
        form.update(unit_id="", canteen_id="")
    elif role == "unit_admin":
        form.update(canteen_id="", region_id="")
    elif role == "canteen_manager":
        form.update(unit_id="", region_id="")
    try:
        grants.appoint(ctx, actor, _appointment(form))
    except OneCardError as exc:
        return _admins_page(
            request,
            ctx,
            actor,
            error=_error_text(request, exc),
            form=form,
            status_code=_refusal(exc),
        )
    return _see_other("/bureau/org/admins", "appointed")


@router.post("/bureau/org/grants/{grant_id}/revoke")
def revoke(request: Request, grant_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    try:
        grants.revoke(ctx, actor, grant_id)
    except OneCardError as exc:
        return _admins_page(
            request, ctx, actor, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other("/bureau/org/admins", "revoked")


async def _unit_appoint(request: Request, frame: Frame, unit_id: int) -> Response:
    """A unit's admins and canteen managers, appointed from the unit's page."""
    form = await _appoint_form(request)
    form["region_id"] = ""
    if form["role"] == "canteen_manager":
        form["unit_id"] = ""
    else:
        form.update(unit_id=str(unit_id), canteen_id="")
    try:
        grants.appoint(frame.ctx, frame.actor, _appointment(form))
    except OneCardError as exc:
        return _unit_page(
            request, frame, unit_id, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other(frame.unit_url(unit_id), "appointed")


def _unit_revoke(request: Request, frame: Frame, unit_id: int, grant_id: int) -> Response:
    mine = {int(g["id"]) for g in grants.administrators(frame.ctx, frame.actor, unit_id)}
    if grant_id not in mine:
        raise NotFound(what="授权")
    try:
        grants.revoke(frame.ctx, frame.actor, grant_id)
    except OneCardError as exc:
        return _unit_page(
            request, frame, unit_id, error=_error_text(request, exc), status_code=_refusal(exc)
        )
    return _see_other(frame.unit_url(unit_id), "revoked")


@router.post("/unit/{unit_id}/org/admins")
async def own_unit_appoint(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return await _unit_appoint(request, _frame_for(ctx, actor, unit_id, True), unit_id)


@router.post("/bureau/org/units/{unit_id}/admins")
async def bureau_unit_appoint(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return await _unit_appoint(request, _frame_for(ctx, actor, unit_id, False), unit_id)


@router.post("/unit/{unit_id}/org/grants/{grant_id}/revoke")
def own_unit_revoke(
    request: Request, unit_id: IdPath, grant_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return _unit_revoke(request, _frame_for(ctx, actor, unit_id, True), unit_id, grant_id)


@router.post("/bureau/org/units/{unit_id}/grants/{grant_id}/revoke")
def bureau_unit_revoke(
    request: Request, unit_id: IdPath, grant_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    return _unit_revoke(request, _frame_for(ctx, actor, unit_id, False), unit_id, grant_id)


# --- the settlement page's retry ------------------------------------------------------------------
@router.post("/bureau/settlements/{settlement_id}/retry")
def settlement_retry(
    settlement_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: Annotated[str, Form(max_length=6)] = "",
    region: Annotated[str, Form(max_length=12, pattern=r"^[0-9A-Za-z]*$")] = "",
) -> Response:
    """Pay a failed settlement again (``funding.payouts.retry_settlement_payout``); a
    refusal (no account to pay, say) is shown on the error page with its status. Back to
    the page of the same quarter and fund region."""
    from onecard.funding.errors import check_quarter
    from onecard.funding.payouts import retry_settlement_payout

    bureau_scope(actor)
    q = check_quarter(quarter) if quarter else ""
    res = retry_settlement_payout(ctx, actor, settlement_id)
    note = "retried" if res.changed else "unchanged"
    back = urlencode({"quarter": q, "region": region, "msg": note})
    return RedirectResponse(f"/bureau/settlements?{back}", status_code=303)
