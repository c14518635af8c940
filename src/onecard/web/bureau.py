"""The bureau console (管理控制台): units, canteens, terminals and rollout; funding
notices; distribution, settlement and year-end runs with a dry-run preview and a
confirmation; the dashboard (ECharts) with every chart's data as Excel.

Contract: every route starts with ``scopes.bureau_scope`` (bureau admin, clearing
operator, finance, auditors; anyone else 403) — but the dashboard, the audit log and the
settlements, which also admit those granted for a region (``region_scope``) and show
only their regions (issue 17 §1). Finance and auditors read only: forms are
hidden for them and the services refuse them anyway. A money run is always shown first
as a dry run (``dry_run=True``: computed exactly as the real run, nothing written); the
real run needs the confirmation form, which repeats the same parameters. Domain errors a
run raises (a unit short of funds, a closed quarter) are shown on the page with their
4xx status, never as a 500. (Reconciliation and the bank's files: ``web.reconciliation``.)

Fund regions (issue 17 §1): the notices, runs and settlements pages work on one fund
region, chosen with ``region`` (its code; a query parameter, and a form field the run
forms repeat) among those the actor reaches (``funding.regions.pick``): a regional
bureau, finance or auditor sees the fund regions of its subtree (its own first), the
deployment-wide roles every one (the top region first); another region's code is 403.
The forms are shown to the bureau of that fund region, and every run names the region
to its service, which checks the actor again. Assigning an unmatched receipt and
retrying a payout stay the deployment-wide bureau's.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from onecard.audit import queries as audit_queries
from onecard.audit import service as audit_service
from onecard.core.clock import quarter_of
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, OneCardError
from onecard.core.runs import RunResult
from onecard.core.tables import Table, to_xlsx
from onecard.funding import (
    calendar,
    distribution,
    notices,
    settlement,
    statements,
    year_end,
)
from onecard.funding import queries as funding_queries
from onecard.funding import regions as fund_regions
from onecard.funding import summary as run_summary
from onecard.funding.errors import check_quarter
from onecard.org import listing as org_listing
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.reports import dashboard, figures
from onecard.reports import service as rollup
from onecard.reports.overview import rollout
from onecard.reports.quarter_report import quarter_report
from onecard.rollout import queries as rollout_queries
from onecard.rollout import terminals
from onecard.rollout.states import CANTEEN_ZH
from onecard.rollout.states import TERMINAL_ZH as TERMINAL_STATE_ZH
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath, OptionalIdQuery
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang, translate
from onecard.web.pages import Find, Page, paged, xlsx_response
from onecard.web.scopes import (
    bureau_scope,
    can_run_money,
    region_scope,
)
from onecard.web.templating import render

router = APIRouter(prefix="/bureau", dependencies=[Depends(csrf_protect)], include_in_schema=False)

ROLLOUT_ZH = CANTEEN_ZH
TERMINAL_ZH = TERMINAL_STATE_ZH
RUNS = {
    "notices": "下发缴款通知",
    "receipts": "导入专用账户到账流水",
    "transfer": "经费转入系统收入户",
    "distribute": "拨付到个人",
    "settle": "季度结算",
    "year_end": "年末清零",
}
# Labels for the keys of a run's totals and lines (a key without one shows as is).
TOTAL_ZH = {
    "people": "人数",
    "new_people": "本次拨付人数",
    "amount_fen": "金额（元）",
    "already_fen": "此前已拨付（元）",
    "available_fen": "可拨付余额（元）",
    "units": "单位数",
    "canteens": "食堂数",
    "new": "新增",
    "new_notices": "新下发通知",
    "amount_due_fen": "应缴（元）",
    "gross_fen": "消费总额（元）",
    "fee_fen": "系统管理费（元）",
    "withheld_fen": "考核扣减（元）",
    "net_fen": "实付（元）",
    "staff_no": "工号",
    "name": "姓名",
    "months": "计发月数",
    "standard_fen": "季度标准（元）",
    "done": "已拨付",
    "unit": "单位",
    "canteen": "食堂",
    "operation": "经营方式",
    "score": "考核分",
    "share_bp": "支付比例",
    "status": "状态",
    "reference": "通知编号",
    "headcount": "人数",
    "due_date": "截止日",
    "before": "修改前",
    "after": "修改后",
}


def _page(request: Request, actor: Actor, tab: str, template: str, **kw: Any) -> Response:
    status_code = int(kw.pop("status_code", 200))
    return render(
        request,
        template,
        status_code=status_code,
        actor=actor,
        tab=tab,
        can_run=kw.pop("can_run", can_run_money(actor)),
        is_admin=actor.has("bureau_admin"),
        **kw,
    )


def _quarter(ctx: Context, quarter: str | None) -> str:
    return check_quarter(quarter) if quarter else quarter_of(ctx.clock.today())


RegionQuery = Annotated[str, Query(max_length=20)]
RegionForm = Annotated[str, Form(max_length=20)]


def _fund(
    ctx: Context, actor: Actor, code: str | None, *, reading: bool = False
) -> tuple[fund_regions.FundRegion, dict[str, Any]]:
    """The fund region a funding page works on and what its templates need to show the
    choice (``region_scope`` first: 403 for anyone but the city's roles; ``reading``:
    ``fund_regions.choices``)."""
    region_scope(actor)
    fr, options = fund_regions.pick(ctx, actor, code, reading=reading)
    return fr, {"fund": fr, "fund_choices": options}


# --- overview: units, canteens, rollout (R-R1, R-R3) ------------------------------------
@router.get("")
def overview(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    q: Find = "",
    cp: Page = 1,
    up: Page = 1,
) -> Response:
    bureau_scope(actor)
    c_rows, u_rows = rollout(ctx)
    keep = {"cp": str(cp), "up": str(up)}
    canteens = paged(c_rows, q, cp, ("code", "name", "unit_name"), "cp", keep)
    units = paged(u_rows, q, up, ("code", "name"), "up", keep)
    # The city's figures without counting every payment (the quarter's meals come from
    # the dashboard's roll-ups).
    rollup.catch_up(ctx)
    quarter = quarter_of(ctx.clock.today())
    counts = dashboard.counts(ctx, payments=False)
    counts[figures.N_("本季就餐")] = figures.meals(ctx, quarter)
    return _page(
        request,
        actor,
        "overview",
        "bureau/overview.html",
        counts=counts,
        canteens=canteens,
        units=units,
        slow_units=sum(1 for u in u_rows if u["slow"]),
        all_units=len(u_rows),
        rollout_zh=ROLLOUT_ZH,
        terminal_zh=TERMINAL_ZH,
        message=request.query_params.get("msg"),
    )


@router.post("/canteens/{canteen_id}/rollout")
def set_rollout(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    status: Annotated[str, Form(max_length=12)],
) -> Response:
    bureau_scope(actor)
    try:
        terminals.set_rollout_status(ctx, actor, canteen_id, status)
    except OneCardError as exc:
        if status_for(exc) >= 500:
            raise
        return _error(request, actor, exc)
    return RedirectResponse("/bureau?msg=rollout", status_code=303)


def _error(request: Request, actor: Actor, exc: OneCardError) -> Response:
    return _page(
        request,
        actor,
        "overview",
        "bureau/message.html",
        status_code=status_for(exc),
        error=exc.message(request_lang(request)),
    )


@router.get("/terminals")
def terminal_list(
    request: Request, actor: ActorDep, ctx: CtxDep, q: Find = "", page: Page = 1
) -> Response:
    bureau_scope(actor)
    return _terminals_page(request, actor, ctx, q=q, page=page)


def _terminals_page(
    request: Request,
    actor: Actor,
    ctx: Context,
    new_key: tuple[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    q: str = "",
    page: int = 1,
) -> Response:
    rows = paged(rollout_queries.terminals(ctx), q, page, ("code", "name", "canteen"))
    canteens = org_queries.canteen_choices(ctx)
    return _page(
        request,
        actor,
        "terminals",
        "bureau/terminals.html",
        status_code=status_code,
        terminals=rows,
        canteens=canteens,
        terminal_zh=TERMINAL_ZH,
        new_key=new_key,
        error=error,
    )


@router.post("/terminals")
def terminal_register(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    code: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    bureau_scope(actor)
    try:
        key = terminals.register_terminal(ctx, actor, canteen_id, code.strip(), name.strip())
    except OneCardError as exc:
        if status_for(exc) >= 500:
            raise
        return _terminals_page(
            request,
            actor,
            ctx,
            error=exc.message(request_lang(request)),
            status_code=status_for(exc),
        )
    return _terminals_page(request, actor, ctx, new_key=(code.strip(), key))


@router.post("/terminals/{code}/revoke")
def terminal_revoke(request: Request, code: str, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    terminals.revoke_terminal(ctx, actor, code)
    return _terminals_page(request, actor, ctx)


# --- funding notices and payments -------------------------------------------------------
def _notices_page(
    request: Request,
    actor: Actor,
    ctx: Context,
    quarter: str,
    region: str | None = None,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    q: str = "",
    page: int = 1,
) -> Response:
    fr, choice = _fund(ctx, actor, region)
    rows = paged(
        notices.notice_status(ctx, quarter, fr.code),
        q,
        page,
        ("unit", "reference"),
        keep={"quarter": quarter, "region": fr.code},
    )
    return _page(
        request,
        actor,
        "notices",
        "bureau/notices.html",
        status_code=status_code,
        quarter=quarter,
        rows=rows,
        unmatched=funding_queries.unmatched_receipts(ctx, fr.members),
        units=funding_queries.units_of(ctx, fr.members),
        status_zh=notices.STATUS_ZH,
        message=message,
        error=error,
        can_run=actor.bureau_of(fr.id),
        # Assigning a receipt is the deployment-wide bureau's (``notices.assign_receipt``).
        can_assign=can_run_money(actor),
        **choice,
    )


@router.get("/notices")
def notice_list(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: str | None = None,
    q: Find = "",
    page: Page = 1,
    region: RegionQuery = "",
) -> Response:
    region_scope(actor)
    return _notices_page(request, actor, ctx, _quarter(ctx, quarter), region, q=q, page=page)


@router.post("/receipts/{bank_serial}/assign")
def receipt_assign(
    request: Request,
    bank_serial: str,
    actor: ActorDep,
    ctx: CtxDep,
    unit_id: IdForm,
    quarter: Annotated[str, Form(max_length=6)] = "",
    region: RegionForm = "",
) -> Response:
    """A person decides whose an unmatched credit is (``notices.assign_receipt``)."""
    bureau_scope(actor)
    q = _quarter(ctx, quarter or None)
    try:
        res = notices.assign_receipt(ctx, actor, bank_serial, unit_id)
    except OneCardError as exc:
        code = status_for(exc)
        if code >= 500:
            raise
        return _notices_page(
            request,
            actor,
            ctx,
            q,
            region,
            error=exc.message(request_lang(request)),
            status_code=code,
        )
    line = res.lines[0] if res.lines else {}
    return _notices_page(
        request,
        actor,
        ctx,
        q,
        region,
        message=f"流水 {bank_serial} 已认领给 {line.get('unit', '')}",
    )


def _audit_query(
    request: Request, person: str, unit: str, kind: str, since: str, until: str
) -> tuple[audit_queries.AuditQuery | None, str | None]:
    try:
        return audit_queries.AuditQuery.parse(person, unit, kind, since, until), None
    except InvalidInput as exc:
        return None, exc.message(request_lang(request))


AuditFilter = Annotated[str, Query(max_length=100)]


@router.get("/audit")
def audit_log(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    person: AuditFilter = "",
    unit: AuditFilter = "",
    kind: AuditFilter = "",
    since: AuditFilter = "",
    until: AuditFilter = "",
) -> Response:
    """Every change a person made and every sign-in, newest first, in Beijing time;
    filtered by person, unit, kind and date, and the same rows as Excel. A region's
    readers (issue 17 §1) see the events of their regions' units and people."""
    region_scope(actor)
    query, error = _audit_query(request, person, unit, kind, since, until)
    rows = audit_queries.search(ctx, query, reader=actor) if query else []
    params = {"person": person, "unit": unit, "kind": kind, "since": since, "until": until}
    return _page(
        request,
        actor,
        "audit",
        "bureau/audit.html",
        status_code=422 if error else 200,
        rows=rows,
        limit=audit_queries.PAGE_LIMIT,
        params=params,
        export=urlencode({k: v for k, v in params.items() if v}),
        kinds=audit_service.KINDS,
        units=[u for u in org_queries.unit_choices(ctx) if actor.covers_unit(int(u.id))],
        error=error,
    )


@router.get("/audit.xlsx")
def audit_xlsx(
    actor: ActorDep,
    ctx: CtxDep,
    person: AuditFilter = "",
    unit: AuditFilter = "",
    kind: AuditFilter = "",
    since: AuditFilter = "",
    until: AuditFilter = "",
) -> Response:
    region_scope(actor)
    query = audit_queries.AuditQuery.parse(person, unit, kind, since, until)
    rows = audit_queries.search(ctx, query, limit=audit_queries.EXPORT_LIMIT, reader=actor)
    name = f"audit-{ctx.clock.today().isoformat()}.xlsx"
    return xlsx_response(to_xlsx(audit_queries.as_table(rows)), name)


# --- money runs: preview, then confirm ----------------------------------------------------
@router.get("/runs")
def runs_page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: str | None = None,
    region: RegionQuery = "",
) -> Response:
    fr, choice = _fund(ctx, actor, region)
    q = _quarter(ctx, quarter)
    return _page(
        request,
        actor,
        "runs",
        "bureau/runs.html",
        quarter=q,
        year=int(q[:4]),
        units=funding_queries.units_of(ctx, fr.members),
        runs=RUNS,
        today=ctx.clock.today().isoformat(),
        results=None,
        params={"region": fr.code},
        kind=None,
        error=None,
        closed=settlement.period_closed(ctx, q, fr.code),
        history=run_history(ctx, actor, choice["fund_choices"]),
        can_run=actor.bureau_of(fr.id),
        **choice,
    )


def run_history(
    ctx: Context, actor: Actor, choices: list[fund_regions.FundRegion], limit: int = 20
) -> list[dict[str, Any]]:
    """The last money runs (their audit records) of the fund regions the actor reaches:
    what ran, for which fund region, when (city time), by whom."""
    return funding_queries.run_history(ctx, {f.id: f for f in choices}, limit, reader=actor)


def _run(
    ctx: Context,
    actor: Actor,
    kind: str,
    params: dict[str, str],
    dry_run: bool,
    override: str | None = None,
    fund: fund_regions.FundRegion | None = None,
) -> list[RunResult]:
    quarter = params.get("quarter", "")
    region = fund.code if fund is not None else None
    if kind == "notices":
        return [
            notices.issue_notices(
                ctx, actor, check_quarter(quarter), dry_run=dry_run, region=region
            )
        ]
    if kind == "receipts":
        day = _day(params.get("day", ""))
        return [notices.import_receipts(ctx, actor, day, dry_run=dry_run, region=region)]
    if kind == "transfer":
        return [notices.transfer_to_income(ctx, actor, dry_run=dry_run, region=region)]
    if kind == "distribute":
        unit = params.get("unit_id", "")
        if unit:
            if fund is not None and int(unit) not in {
                int(u.id) for u in funding_queries.units_of(ctx, fund.members)
            }:
                raise InvalidInput("所选单位不属于该经费区域")
            return [
                distribution.distribute(
                    ctx,
                    actor,
                    int(unit),
                    check_quarter(quarter),
                    dry_run=dry_run,
                    override_calendar=override,
                )
            ]
        return distribution.distribute_all(
            ctx,
            actor,
            check_quarter(quarter),
            dry_run=dry_run,
            override_calendar=override,
            region=region,
        )
    if kind == "settle":
        return [
            settlement.settle_quarter(
                ctx,
                actor,
                check_quarter(quarter),
                dry_run=dry_run,
                override_calendar=override,
                region=region,
            )
        ]
    if kind == "year_end":
        year = params.get("year", "")
        if not year.isdigit():
            raise InvalidInput("年份格式不正确")
        return [
            year_end.clear_year(
                ctx, actor, int(year), dry_run=dry_run, override_calendar=override, region=region
            )
        ]
    raise NotFound(what="资金运行")


@router.post("/runs/{kind}")
def run_money(
    request: Request,
    kind: str,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: Annotated[str, Form(max_length=6)] = "",
    unit_id: Annotated[str, Form(max_length=12)] = "",
    year: Annotated[str, Form(max_length=4)] = "",
    day: Annotated[str, Form(max_length=10)] = "",
    confirm: Annotated[str, Form(max_length=3)] = "",
    override: Annotated[str, Form(max_length=3)] = "",
    override_reason: Annotated[str, Form(max_length=200)] = "",
    region: RegionForm = "",
) -> Response:
    fr, choice = _fund(ctx, actor, region)
    if kind not in RUNS:
        raise NotFound(what="资金运行")
    if unit_id and not unit_id.isdigit():
        raise InvalidInput("单位参数不正确")
    params = {
        "quarter": quarter,
        "unit_id": unit_id,
        "year": year,
        "day": day,
        "region": fr.code,
    }
    dry_run = confirm != "yes"
    results: list[RunResult] | None = None
    error = None
    code = 200
    # The override is only what the person ticked and explained; the service checks the
    # reason (not blank) and records it.
    reason = override_reason if override == "yes" and not dry_run else None
    try:
        results = _run(ctx, actor, kind, params, dry_run, reason, fr)
    except OneCardError as exc:
        code = status_for(exc)
        if code >= 500:
            raise
        error = exc.message(request_lang(request))
    q = quarter if quarter else quarter_of(ctx.clock.today())
    period = year if kind == "year_end" else quarter
    summary = (
        run_summary.summarise(ctx, kind, period, results, fr.code)
        if results and (kind != "year_end" or year.isdigit())
        else []
    )
    return _page(
        request,
        actor,
        "runs",
        "bureau/runs.html",
        status_code=code,
        quarter=q,
        year=int(year) if year.isdigit() else int(q[:4]),
        units=funding_queries.units_of(ctx, fr.members),
        runs=RUNS,
        today=day or ctx.clock.today().isoformat(),
        results=results,
        params=params,
        kind=kind,
        dry_run=dry_run,
        error=error,
        total_zh=TOTAL_ZH,
        closed=False,
        summary=summary,
        history=run_history(ctx, actor, choice["fund_choices"]),
        can_run=actor.bureau_of(fr.id),
        **choice,
        # The preview says what the calendar holds against the run (a refused real run
        # already says it in its error).
        objection=calendar.run_objection(ctx, kind, params) if dry_run else None,
        previous=run_summary.previous_quarter(q)
        if kind != "year_end"
        else f"{int(year) - 1 if year.isdigit() else ''}",
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput("日期格式应为 YYYY-MM-DD") from exc


# --- settlements and their statements -------------------------------------------------------
def _settlement_reader(actor: Actor, canteen_id: int | None = None) -> None:
    """Settlements and their statements: the deployment's readers, and a region's (issue
    17 §1: its bureau, finance, auditors) for the canteens of its regions (403 others)."""
    region_scope(actor)
    if canteen_id is not None and not actor.reads_canteen(canteen_id):
        raise Forbidden()


def _settlements_of(
    ctx: Context, actor: Actor, quarter: str, members: Collection[int]
) -> list[Any]:
    """The quarter's settlements of one fund region's canteens that lie in the actor's
    regions (a township's reader of a shared fund sees its own canteens only)."""
    return [
        r
        for r in funding_queries.settlements(ctx, quarter, members)
        if actor.covers_canteen(r.canteen_id)
    ]


@router.get("/settlements")
def settlement_list(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: str | None = None,
    q: Find = "",
    page: Page = 1,
    region: RegionQuery = "",
) -> Response:
    _settlement_reader(actor)
    fr, choice = _fund(ctx, actor, region, reading=True)
    find = q
    q = _quarter(ctx, quarter)
    rows = paged(
        _settlements_of(ctx, actor, q, fr.members),
        find,
        page,
        ("canteen",),
        keep={"quarter": q, "region": fr.code},
    )
    return _page(
        request,
        actor,
        "settlements",
        "bureau/settlements.html",
        quarter=q,
        rows=rows,
        closed=settlement.period_closed(ctx, q, fr.code),
        message=request.query_params.get("msg"),
        # The retry button stays the deployment-wide bureau's (``payouts.retry``).
        **choice,
    )


@router.get("/settlements/{canteen_id}.{fmt}")
def settlement_statement(
    canteen_id: IdPath, fmt: str, actor: ActorDep, ctx: CtxDep, quarter: str | None = None
) -> Response:
    _settlement_reader(actor, canteen_id)
    q = _quarter(ctx, quarter)
    doc = statements.canteen_statement(ctx, canteen_id, q)
    if fmt == "xlsx":
        return xlsx_response(statements.to_xlsx(doc), f"settlement-{canteen_id}-{q}.xlsx")
    if fmt == "pdf":
        return Response(
            statements.to_pdf(doc),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="settlement-{canteen_id}-{q}.pdf"'
            },
        )
    raise NotFound(what="格式")


# --- dashboard (R-R2): roll-ups folded on read, then a few hundred rows per chart -------
def _within(ctx: Context, actor: Actor, region: int | None) -> frozenset[int] | None:
    """The regions the dashboard counts (issue 17 §1): the chosen ``region`` and those
    below it (403 outside the actor's regions, 404 for no such region), else the actor's
    regions (None: everything, for a reader of the whole deployment)."""
    region_scope(actor)
    if region is None:
        return actor.region_ids
    actor.require_region(region)
    found = org_queries.region_subtree(ctx, region)
    if found is None:
        raise NotFound(what="区域")
    return found


def _chart(
    ctx: Context,
    lang: str,
    key: str,
    quarter: str | None,
    day: str | None,
    top: int,
    search: str,
    within: frozenset[int] | None = None,
) -> Table:
    """The chart's table in the page's language (its JSON feeds the chart, its Excel the
    download): title, headers and labels such as "其他单位" from the catalogue."""
    if key not in dashboard.CHARTS:
        raise NotFound(what="图表")
    d = _day(day) if day else None
    q = _quarter(ctx, quarter)
    rollup.catch_up(ctx)
    table: Table = dashboard.chart(ctx, key, q, d, top, search, within)
    return table.translated(lambda text: translate(text, lang), figures.LABELS)


Top = Annotated[int, Query(ge=1, le=100)]
Search = Annotated[str, Query(max_length=40)]


@router.get("/dashboard")
def dashboard_page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: str | None = None,
    day: str | None = None,
    top: Top = figures.TOP,
    search: Search = "",
    region: OptionalIdQuery = None,
) -> Response:
    within = _within(ctx, actor, region)
    q = _quarter(ctx, quarter)
    rollup.catch_up(ctx)
    return _page(
        request,
        actor,
        "dashboard",
        "bureau/dashboard.html",
        quarter=q,
        day=_day(day).isoformat() if day else "",
        top=top,
        search=search,
        charts=dashboard.CHARTS,
        headline=figures.headline(ctx, q, within),
        previous=run_summary.previous_quarter(q),
        as_of=figures.as_of(ctx),
        qs=_query(q, day, top, search, region),
        region=region or "",
        report_qs=urlencode({"quarter": q, **({"region": str(region)} if region else {})}),
        region_options=[
            (r["id"], r["name"]) for r in org_listing.regions(ctx, within=actor.region_ids)
        ],
    )


def _query(quarter: str, day: str | None, top: int, search: str, region: int | None) -> str:
    params = {
        "quarter": quarter,
        "day": day or "",
        "top": str(top),
        "search": search,
        "region": str(region or ""),
    }
    return urlencode({k: v for k, v in params.items() if v})


@router.get("/dashboard/report.pdf")
def dashboard_report(
    actor: ActorDep, ctx: CtxDep, quarter: str | None = None, region: OptionalIdQuery = None
) -> Response:
    """The director's one-page quarterly report (``reports.quarter_report``): of the
    region chosen, else of the actor's regions (a regional reader's own region, named)."""
    _within(ctx, actor, region)
    if region is None and actor.scope is not None:
        region = actor.scope.top
    q = _quarter(ctx, quarter)
    rollup.catch_up(ctx)
    return Response(
        statements.to_pdf(quarter_report(ctx, q, region)),
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="onecard-report-'
            f'{q}{f"-region-{region}" if region else ""}.pdf"'
        },
    )


@router.get("/dashboard/{key}.json")
def dashboard_json(
    request: Request,
    key: str,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: str | None = None,
    day: str | None = None,
    top: Top = figures.TOP,
    search: Search = "",
    region: OptionalIdQuery = None,
) -> Response:
    within = _within(ctx, actor, region)
    return JSONResponse(
        _chart(ctx, request_lang(request), key, quarter, day, top, search, within).as_json()
    )


@router.get("/dashboard/{key}.xlsx")
def dashboard_xlsx(
    request: Request,
    key: str,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: str | None = None,
    day: str | None = None,
    top: Top = figures.TOP,
    search: Search = "",
    region: OptionalIdQuery = None,
) -> Response:
    within = _within(ctx, actor, region)
    table = _chart(ctx, request_lang(request), key, quarter, day, top, search, within)
    return xlsx_response(to_xlsx(table), f"{key}-{_quarter(ctx, quarter)}.xlsx")
