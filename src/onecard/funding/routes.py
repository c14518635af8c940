"""Funding API (/api/v1/funding): the money runs, statements, reconciliation, imports.

Thin: the money runs take the signed-in ``Actor`` and refuse anyone but the bureau and
its clearing operator (403); read-only views are open to the bureau, finance and audit,
and to a unit's admins for their own unit. Every run answers with its ``RunResult``
(totals first, integer fen) and takes ``dry_run``. Imports take the raw file as the body
(Excel or CSV, any content type) and answer 422 with every row error when rejected.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from onecard.audit import records as audit
from onecard.core.errors import Forbidden, ImportRejected, NotFound
from onecard.funding import (
    distribution,
    notices,
    payouts,
    reconciliation,
    settlement,
    statements,
    year_end,
)
from onecard.funding import regions as fund_regions
from onecard.funding.schemas import (
    AssignIn,
    DayRun,
    DistributionRun,
    DryRun,
    LeaveIn,
    QualityRuleIn,
    QuarterRun,
    ReconcileIn,
    RegionDryRun,
    RegionFundIn,
    RunOut,
    SettlementRun,
    YearRun,
    run_out,
)
from onecard.org import imports
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath, OptionalIdQuery
from onecard.web.errors import json_error
from onecard.web.i18n import request_lang

router = APIRouter(prefix="/api/v1/funding", tags=["funding"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILE = {"schema": {"type": "string", "format": "binary"}}
# What a statement answers in, by ``format`` (the document lists all three).
STATEMENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the statement as JSON (format=json), PDF or Excel",
        "content": {"application/json": {}, "application/pdf": _FILE, XLSX: _FILE},
    }
}
# An import's body is the raw file (Excel or CSV).
IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {XLSX: _FILE, "text/csv": {"schema": {"type": "string"}}},
    }
}


def _require_reader(actor: Actor, unit_id: int | None = None) -> None:
    if actor.can_read_everything():
        return
    if unit_id is not None and actor.manages_unit(unit_id):
        return
    raise Forbidden()


# --- notices and receipts ----------------------------------------------------------------
@router.post("/notices", response_model=RunOut, responses=ERRORS)
def post_notices(body: QuarterRun, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Issue the quarter's funding notices (缴款通知), one per unit."""
    return run_out(
        notices.issue_notices(ctx, actor, body.quarter, dry_run=body.dry_run, region=body.region)
    )


@router.get("/notices/{quarter}", responses=ERRORS)
def get_notices(
    quarter: str,
    actor: ActorDep,
    ctx: CtxDep,
    region: str | None = Query(default=None, max_length=12, description="fund region code"),
) -> list[dict[str, Any]]:
    """Each notice of the fund region's units (the top region's when ``region`` is left
    out): due, paid, paid/short/over/unpaid, late."""
    rows = notices.notice_status(ctx, quarter, region)
    if actor.can_read_everything():
        return rows
    mine = [r for r in rows if actor.manages_unit(int(r["unit_id"]))]
    if not mine:
        raise Forbidden()
    return mine


@router.post("/receipts", response_model=RunOut, responses=ERRORS)
def post_receipts(body: DayRun, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Book a day's unit payments from the bank statement into the dining fund."""
    return run_out(
        notices.import_receipts(ctx, actor, body.day, dry_run=body.dry_run, region=body.region)
    )


@router.post("/receipts/{bank_serial}/assign", response_model=RunOut, responses=ERRORS)
def post_assign_receipt(bank_serial: str, body: AssignIn, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Say whose an unmatched bank credit is; it then counts against that unit's notice."""
    return run_out(notices.assign_receipt(ctx, actor, bank_serial, body.unit_id))


@router.post("/transfers", response_model=RunOut, responses=ERRORS)
def post_transfers(body: RegionDryRun, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Pass matched receipts on from the dining fund to the system income line."""
    return run_out(notices.transfer_to_income(ctx, actor, dry_run=body.dry_run, region=body.region))


# --- distribution and people --------------------------------------------------------------
@router.post("/distributions", response_model=list[RunOut], responses=ERRORS)
def post_distributions(body: DistributionRun, actor: ActorDep, ctx: CtxDep) -> list[RunOut]:
    """Distribute the quarter to subsidy purses (one unit, or every unit)."""
    over = body.override_calendar
    if body.unit_id is not None:
        res = distribution.distribute(
            ctx, actor, body.unit_id, body.quarter, dry_run=body.dry_run, override_calendar=over
        )
        return [run_out(res)]
    actor.require_money_runs(of_region=True)
    return [
        run_out(r)
        for r in distribution.distribute_all(
            ctx,
            actor,
            body.quarter,
            dry_run=body.dry_run,
            override_calendar=over,
            region=body.region,
        )
    ]


@router.post("/people/{person_id}/leave", response_model=RunOut, responses=ERRORS)
def post_leave(person_id: IdPath, body: LeaveIn, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """A person leaves: their subsidy goes back to their unit; cash stays theirs."""
    return run_out(distribution.leave(ctx, actor, person_id, body.left_on))


@router.post("/people/{person_id}/cash-refund", response_model=RunOut, responses=ERRORS)
def post_cash_refund(person_id: IdPath, body: DryRun, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Pay a leaver's own cash to their bound savings card (the only payout to a person)."""
    return run_out(payouts.refund_leaver_cash(ctx, actor, person_id, dry_run=body.dry_run))


# --- settlement ---------------------------------------------------------------------------
@router.put("/canteens/{canteen_id}/quality-rule", responses=ERRORS)
def put_quality_rule(
    canteen_id: IdPath, body: QualityRuleIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """The owning unit's score bands: score ≥ min_score → share_bp of the net is paid."""
    bands = settlement.set_quality_rule(
        ctx, actor, canteen_id, [(b.min_score, b.share_bp) for b in body.bands]
    )
    return {"canteen_id": canteen_id, "bands": [{"min_score": m, "share_bp": s} for m, s in bands]}


@router.post("/settlements", response_model=RunOut, responses=ERRORS)
def post_settlements(body: SettlementRun, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Quarter-end settlement of every canteen; closes the accounting period. Only after
    the quarter has ended (409 ``settlement_too_early``) unless ``override_calendar``."""
    return run_out(
        settlement.settle_quarter(
            ctx,
            actor,
            body.quarter,
            dry_run=body.dry_run,
            override_calendar=body.override_calendar,
            region=body.region,
        )
    )


@router.post("/year-end", response_model=RunOut, responses=ERRORS)
def post_year_end(body: YearRun, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Year-end clearing of every subsidy purse (cash purses untouched). Only after the
    year's Q4 is settled (409 ``year_end_before_settlement``) unless ``override_calendar``."""
    return run_out(
        year_end.clear_year(
            ctx,
            actor,
            body.year,
            dry_run=body.dry_run,
            override_calendar=body.override_calendar,
            region=body.region,
        )
    )


@router.post("/returns", response_model=RunOut, responses=ERRORS)
def post_returns(body: RegionDryRun, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Pay each unit what is owed back to it (year-end leftovers, withheld parts)."""
    return run_out(payouts.return_to_units(ctx, actor, dry_run=body.dry_run, region=body.region))


@router.post("/region-funds", response_model=RunOut, responses=ERRORS)
def post_region_fund(body: RegionFundIn, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """A region keeps its own dining fund (``own``), or shares the fund above it again.
    409 ``state_conflict`` when that would split money already held (see docs/funding.md)."""
    return run_out(fund_regions.set_own_fund(ctx, actor, body.region, own=body.own))


@router.post("/reconciliations", response_model=RunOut, responses=ERRORS)
def post_reconciliation(body: ReconcileIn, actor: ActorDep, ctx: CtxDep) -> RunOut:
    """Match the bank's statement for a day against our records (nothing corrected)."""
    return run_out(reconciliation.reconcile_day(ctx, actor, body.day))


@router.get("/audit", responses=ERRORS)
def get_audit(actor: ActorDep, ctx: CtxDep, action: str | None = None) -> list[dict[str, Any]]:
    """Who ran what, when, with which totals."""
    _require_reader(actor)
    return audit.records(ctx, action)


# --- statements ---------------------------------------------------------------------------
Format = Literal["json", "pdf", "xlsx"]


def _doc_response(doc: statements.Doc, fmt: str, name: str) -> Any:
    if fmt == "pdf":
        return Response(
            statements.to_pdf(doc),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    if fmt == "xlsx":
        return Response(
            statements.to_xlsx(doc),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return {
        "title": doc.title,
        "facts": [{"label": k, "value": v} for k, v in doc.facts],
        "figures": doc.figures,
        "headers": doc.headers,
        "rows": doc.rows,
    }


def _owner_unit(ctx: Any, table: Any, row_id: int) -> int:
    with ctx.db.read() as conn:
        uid = conn.execute(select(table.unit_id).where(table.id == row_id)).scalar()
    if uid is None:
        raise NotFound(what=str(row_id))
    return int(uid)


@router.get("/statements/canteens/{canteen_id}/{quarter}", responses={**ERRORS, **STATEMENT})
def get_canteen_statement(
    canteen_id: IdPath, quarter: str, actor: ActorDep, ctx: CtxDep, format: Format = "json"
) -> Any:
    """A canteen's settlement statement (结算单) as JSON, PDF or Excel."""
    from onecard.org.models import Canteen

    _require_reader(actor, _owner_unit(ctx, Canteen, canteen_id))
    doc = statements.canteen_statement(ctx, canteen_id, quarter)
    return _doc_response(doc, format, f"canteen-{canteen_id}-{quarter}")


@router.get("/statements/units/{unit_id}/{quarter}", responses={**ERRORS, **STATEMENT})
def get_unit_statement(
    unit_id: IdPath, quarter: str, actor: ActorDep, ctx: CtxDep, format: Format = "json"
) -> Any:
    """A unit's quarterly statement: funds in, distributed, consumed, returned."""
    _require_reader(actor, unit_id)
    doc = statements.unit_statement(ctx, unit_id, quarter)
    return _doc_response(doc, format, f"unit-{unit_id}-{quarter}")


@router.get("/statements/people/{person_id}", responses={**ERRORS, **STATEMENT})
def get_person_statement(
    person_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    year: int | None = Query(default=None, ge=2000, le=2100),
    format: Format = "json",
) -> Any:
    """A person's purse statement (their own, or a person of the admin's unit)."""
    from onecard.org.models import Person

    if actor.person_id != person_id:
        _require_reader(actor, _owner_unit(ctx, Person, person_id))
    doc = statements.person_statement(ctx, person_id, year)
    return _doc_response(doc, format, f"person-{person_id}-{year or 'all'}")


# --- imports and templates ------------------------------------------------------------------
def _rejected(request: Request, exc: ImportRejected) -> JSONResponse:
    rows = [
        {"row": e.row, "column": e.column, "problem": e.problem} for e in getattr(exc, "rows", [])
    ]
    return json_error(request.scope, 422, exc.code, exc.message(request_lang(request)), rows=rows)


@router.get(
    "/unit-info/template",
    responses={
        **ERRORS,
        200: {"description": "the table", "content": {XLSX: _FILE, "text/csv": {}}},
    },
)
def get_unit_info_template(
    actor: ActorDep, ctx: CtxDep, format: Literal["xlsx", "csv"] = "xlsx"
) -> Response:
    """The unit information table (信息统计表), pre-filled, as Excel or CSV: every unit
    for the bureau and its overseers, a unit admin's own units' rows only."""
    actor.require_city_reader("unit_admin")
    units = None
    if not actor.can_read_everything():
        units = {u for r, u, _ in actor.grants if r == "unit_admin" and u is not None}
    if format == "csv":
        return Response(imports.unit_info_csv(ctx, units), media_type="text/csv; charset=utf-8")
    return Response(
        imports.unit_info_template(ctx, units),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="unit-info.xlsx"'},
    )


@router.post("/unit-info/import", responses=ERRORS, openapi_extra=IMPORT_BODY)
async def post_unit_info_import(
    request: Request, actor: ActorDep, ctx: CtxDep, dry_run: bool = False, filename: str = ""
) -> Any:
    """Import the filled-in table (raw Excel or CSV body); all rows are checked first."""
    data = await request.body()
    try:
        res = await run_in_threadpool(
            imports.import_unit_info, ctx, actor, data, filename, dry_run=dry_run
        )
    except ImportRejected as exc:
        return _rejected(request, exc)
    return res.as_dict()


@router.get(
    "/roster/template",
    responses={**ERRORS, 200: {"description": "the roster", "content": {XLSX: _FILE}}},
)
def get_roster_template(actor: ActorDep, ctx: CtxDep, unit_id: OptionalIdQuery = None) -> Response:
    """The roster as an Excel template, pre-filled with the active staff."""
    if unit_id is None:
        actor.require_bureau()
    else:
        actor.require_unit(unit_id)
    return Response(
        imports.roster_template(ctx, unit_id),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="roster.xlsx"'},
    )


@router.post("/roster/import", responses=ERRORS, openapi_extra=IMPORT_BODY)
async def post_roster_import(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    dry_run: bool = False,
    filename: str = "",
    effective: date | None = None,
) -> Any:
    """Import a roster (raw Excel or CSV body): new, changed and leaving staff."""
    data = await request.body()
    try:
        res = await run_in_threadpool(
            imports.import_roster, ctx, actor, data, filename, dry_run=dry_run, effective=effective
        )
    except ImportRejected as exc:
        return _rejected(request, exc)
    return res.as_dict()
