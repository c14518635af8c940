"""Community canteen pages for the civil affairs bureau (issue 17 §4, R-C4).

Contract:
- ``/bureau/community``: real-time supervision of a month (``?month=2026-03``, default
  this month, Beijing time): meals, prices, wallet parts, subsidies and delivery
  subsidies per canteen per day, the anomalies listed for review
  (``community.queries.anomalies``), the canteens, the claims, and the form to open a
  canteen's claim for a month.
- ``/bureau/community/claims/{id}``: the claim's lines (who, when, what, category,
  subsidy, status and reason) with approve / reject (with a reason) per line and the
  approval of the whole claim; ``…/{id}.xlsx`` the claim as Excel.
- Every page starts with ``scopes.bureau_scope`` (the bureau, finance, auditors read);
  forms are shown to the bureau only and the services refuse anyone else anyway. A domain
  error is shown on the page with its 4xx status, nothing changed. The page runs no SQL.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from onecard.community import claims, queries
from onecard.core.context import Context
from onecard.core.errors import InvalidInput, OneCardError
from onecard.core.tables import to_xlsx
from onecard.org.actors import Actor
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.pages import xlsx_response
from onecard.web.scopes import bureau_scope, can_run_money
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

Month = Annotated[str, Form(pattern=r"^\d{4}-\d{2}$")]


def _page(request: Request, actor: Actor, template: str, **kw: Any) -> Response:
    status_code = int(kw.pop("status_code", 200))
    return render(
        request,
        template,
        status_code=status_code,
        actor=actor,
        tab="community",
        can_run=can_run_money(actor),
        can_decide=actor.is_bureau,
        **kw,
    )


def _overview(
    request: Request,
    actor: Actor,
    ctx: Context,
    month: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    month = month or ctx.clock.today().strftime("%Y-%m")
    first, last = claims.month_bounds(month)
    return _page(
        request,
        actor,
        "bureau/community.html",
        status_code=status_code,
        month=month,
        seen=queries.supervision(ctx, first, last),
        canteens=queries.canteens(ctx),
        claims=queries.claims(ctx),
        rules=queries.rules(ctx),
        error=error,
    )


@router.get("/bureau/community")
def overview(request: Request, actor: ActorDep, ctx: CtxDep, month: str = "") -> Response:
    bureau_scope(actor)
    try:
        return _overview(request, actor, ctx, month or None)
    except InvalidInput as exc:
        return _overview(
            request, actor, ctx, error=exc.message(request_lang(request)), status_code=422
        )


@router.post("/bureau/community/claims")
def claim_open(
    request: Request, actor: ActorDep, ctx: CtxDep, canteen_id: IdForm, month: Month
) -> Response:
    bureau_scope(actor)
    try:
        claim_id = claims.build_claim(ctx, actor, canteen_id, month)
    except OneCardError as exc:
        if status_for(exc) >= 500:
            raise
        msg = exc.message(request_lang(request))
        return _overview(request, actor, ctx, month, error=msg, status_code=status_for(exc))
    return RedirectResponse(f"/bureau/community/claims/{claim_id}", status_code=303)


def _claim(
    request: Request,
    actor: Actor,
    ctx: Context,
    claim_id: int,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return _page(
        request,
        actor,
        "bureau/community_claim.html",
        status_code=status_code,
        claim=queries.claim(ctx, claim_id),
        error=error,
        message=request.query_params.get("msg"),
    )


@router.get("/bureau/community/claims/{claim_id}.xlsx")
def claim_xlsx(claim_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    view = queries.claim(ctx, claim_id)
    return xlsx_response(to_xlsx(queries.claim_table(view)), f"claim-{view.month}-{claim_id}.xlsx")


@router.get("/bureau/community/claims/{claim_id}")
def claim_page(request: Request, claim_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return _claim(request, actor, ctx, claim_id)


@router.post("/bureau/community/claims/{claim_id}/lines/{line_id}")
def line_decide(
    request: Request,
    claim_id: IdPath,
    line_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    bureau_scope(actor)
    try:
        claims.decide_line(ctx, actor, line_id, decision == "approve", reason)
    except OneCardError as exc:
        if status_for(exc) >= 500:
            raise
        msg = exc.message(request_lang(request))
        return _claim(request, actor, ctx, claim_id, error=msg, status_code=status_for(exc))
    return RedirectResponse(f"/bureau/community/claims/{claim_id}#line-{line_id}", status_code=303)


@router.post("/bureau/community/claims/{claim_id}/approve")
def claim_approve(request: Request, claim_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    try:
        claims.approve_claim(ctx, actor, claim_id)
    except OneCardError as exc:
        if status_for(exc) >= 500:
            raise
        msg = exc.message(request_lang(request))
        return _claim(request, actor, ctx, claim_id, error=msg, status_code=status_for(exc))
    return RedirectResponse(f"/bureau/community/claims/{claim_id}?msg=approved", status_code=303)
