"""Rollout and acceptance pages (R-R1, R-R3): the bureau's 上线验收 console, and the
unit admin's acknowledgement of a notice.

Contract:
- ``/bureau/rollout``: card issuing progress (per unit and the city), the supervision
  list (units behind the plan, how far), the terminal plan per canteen, the notices and
  the form to send one; each list 50 rows a page (``cp``, ``sp``, ``kp``, ``np``) under
  one search ``q`` (canteen or unit code and name, a notice's text), the city's figures
  on top are SQL aggregates (``queries.plan_totals``); ``/bureau/rollout/supervision.xlsx`` exports the list and the
  notices. ``/bureau/rollout/canteens/{id}``: the canteen's terminals with the next move
  each may make, the inspection form (the standard checklist, each item passed or not),
  the inspections, the go-live button with what still blocks it, every move recorded.
- Every page starts with ``scopes.bureau_scope`` (the bureau and its overseers read;
  forms only for who may act, and the services refuse anyone else anyway). A domain
  error is shown on the page with its 4xx status, nothing changed.
- ``POST /unit/{unit_id}/rollout/notices/{notice_id}/ack``: the unit's admin
  acknowledges; the block on the unit page (``web.unit``'s roster) is the partial
  ``rollout/_unit_notices.html`` with ``rollout.queries.notices(ctx, unit_id)``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from onecard.core.context import Context
from onecard.core.errors import InvalidInput, OneCardError
from onecard.org.actors import Actor
from onecard.rollout import queries, service
from onecard.rollout import states as st
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.pages import PAGE_SIZE, Find, Page, Paged, paged, xlsx_response
from onecard.web.scopes import bureau_scope, can_run_money, unit_scope
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

# The move each terminal state offers next on the page (revoking is offered apart).
NEXT = {st.PLANNED: st.INSTALLED, st.INSTALLED: st.ACCEPTED, st.ACCEPTED: st.LIVE}
MOVE_ZH = {st.INSTALLED: "标记已安装", st.ACCEPTED: "验收通过", st.LIVE: "启用收款"}
Move = Literal["installed", "accepted", "live", "revoked"]


def _page(request: Request, actor: Actor, template: str, **kw: Any) -> Response:
    status_code = int(kw.pop("status_code", 200))
    return render(
        request,
        template,
        status_code=status_code,
        actor=actor,
        tab="rollout",
        can_run=can_run_money(actor),
        is_admin=actor.has("bureau_admin"),
        can_move=actor.is_bureau,
        terminal_zh=st.TERMINAL_ZH,
        canteen_zh=st.CANTEEN_ZH,
        notice_zh=service.NOTICE_ZH,
        **kw,
    )


def _overview(
    request: Request,
    actor: Actor,
    ctx: Context,
    error: str | None = None,
    status_code: int = 200,
    *,
    q: str = "",
    cp: int = 1,
    sp: int = 1,
    kp: int = 1,
    np: int = 1,
) -> Response:
    # Each list a page at a time under one search (a city's 1,205 canteens and 1,679
    # units made this page 1 MB); the figures at the top are SQL aggregates.
    keep = {"cp": str(cp), "sp": str(sp), "kp": str(kp), "np": str(np)}
    q = q.strip()
    units, city = queries.card_progress(ctx)
    supervision = queries.supervision(ctx, cards=units)
    found = queries.plan_page(ctx, q, cp, PAGE_SIZE)
    return _page(
        request,
        actor,
        "rollout/overview.html",
        status_code=status_code,
        totals=queries.plan_totals(ctx),
        plan=Paged(found.rows, found.page, found.pages, found.total, q, "cp", keep),
        cards=paged(units, q, kp, ("code", "name"), "kp", keep),
        city=city,
        behind=sum(1 for u in supervision if u.behind),
        supervision=paged(supervision, q, sp, ("code", "name"), "sp", keep),
        notices=paged(queries.notices(ctx), q, np, ("unit_code", "unit_name", "text"), "np", keep),
        per_terminal=service.DINERS_PER_TERMINAL,
        message=request.query_params.get("msg"),
        error=error,
    )


@router.get("/bureau/rollout")
def overview(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    q: Find = "",
    cp: Page = 1,
    sp: Page = 1,
    kp: Page = 1,
    np: Page = 1,
) -> Response:
    bureau_scope(actor)
    return _overview(request, actor, ctx, q=q, cp=cp, sp=sp, kp=kp, np=np)


@router.get("/bureau/rollout/supervision.xlsx")
def supervision_xlsx(actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return xlsx_response(queries.supervision_xlsx(ctx), "supervision.xlsx")


@router.post("/bureau/rollout/plan")
def plan_all(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    try:
        made = service.plan_city(ctx, actor)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return RedirectResponse(
        f"/bureau/rollout?msg=planned:{sum(len(v) for v in made.values())}", status_code=303
    )


@router.post("/bureau/rollout/notices")
def notice_issue(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    unit_id: IdForm,
    kind: Annotated[str, Form(max_length=10)],
    text: Annotated[str, Form(max_length=1000)],
) -> Response:
    bureau_scope(actor)
    try:
        service.issue_notice(ctx, actor, unit_id, kind, text)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return RedirectResponse("/bureau/rollout?msg=notice#notices", status_code=303)


def _refused(
    request: Request, actor: Actor, ctx: Context, exc: OneCardError, canteen_id: int | None = None
) -> Response:
    if status_for(exc) >= 500:
        raise exc
    msg = exc.message(request_lang(request))
    if canteen_id is None:
        return _overview(request, actor, ctx, error=msg, status_code=status_for(exc))
    return _canteen(request, actor, ctx, canteen_id, error=msg, status_code=status_for(exc))


# --- one canteen ------------------------------------------------------------------------------
def _canteen(
    request: Request,
    actor: Actor,
    ctx: Context,
    canteen_id: int,
    *,
    new_key: tuple[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    c = queries.canteen_plan(ctx, canteen_id)
    blockers = queries.go_live_blockers(ctx, c)
    return _page(
        request,
        actor,
        "rollout/canteen.html",
        status_code=status_code,
        c=c,
        terminals=queries.terminals(ctx, canteen_id),
        inspections=queries.inspections(ctx, canteen_id),
        moves=queries.transitions(ctx, canteen_id),
        blockers=blockers,
        checklist=service.CHECKLIST,
        today=ctx.clock.today().isoformat(),
        next_move=NEXT,
        move_zh=MOVE_ZH,
        new_key=new_key,
        error=error,
        message=request.query_params.get("msg"),
    )


@router.get("/bureau/rollout/canteens/{canteen_id}")
def canteen_page(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return _canteen(request, actor, ctx, canteen_id)


@router.post("/bureau/rollout/canteens/{canteen_id}/plan")
def canteen_plan(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    try:
        made = service.plan_terminals(ctx, actor, canteen_id)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, canteen_id)
    return RedirectResponse(
        f"/bureau/rollout/canteens/{canteen_id}?msg=planned:{len(made)}", status_code=303
    )


@router.post("/bureau/rollout/canteens/{canteen_id}/terminals/{terminal_id}/{move}")
def terminal_move(
    request: Request,
    canteen_id: IdPath,
    terminal_id: IdPath,
    move: Annotated[Move, Path()],
    actor: ActorDep,
    ctx: CtxDep,
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    bureau_scope(actor)
    try:
        if not any(t["id"] == terminal_id for t in queries.terminals(ctx, canteen_id)):
            raise InvalidInput("该消费机不属于此食堂")
        key = service.move_terminal(ctx, actor, terminal_id, move, note.strip())
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, canteen_id)
    if key is not None:  # the device key is shown once, on this answer only
        code = next(t["code"] for t in queries.terminals(ctx, canteen_id) if t["id"] == terminal_id)
        return _canteen(request, actor, ctx, canteen_id, new_key=(code, key))
    return RedirectResponse(
        f"/bureau/rollout/canteens/{canteen_id}?msg={move}#terminals", status_code=303
    )


@router.post("/bureau/rollout/canteens/{canteen_id}/inspections")
async def inspection_record(
    request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    """Form: ``inspected_on`` (YYYY-MM-DD), ``note``, and for each checklist item
    ``item`` (its text, repeated) and ``passed`` (the indexes of the items that passed,
    repeated; an item not listed failed)."""
    bureau_scope(actor)
    form = await request.form()
    try:
        try:
            on = date.fromisoformat(str(form.get("inspected_on", "")))
        except ValueError:
            raise InvalidInput("检查日期格式应为 2026-03-01") from None
        items = [str(v) for v in form.getlist("item")]
        passed = {str(v) for v in form.getlist("passed")}
        note = str(form.get("note", ""))
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(
            service.record_inspection,
            ctx,
            actor,
            canteen_id,
            on,
            [(text, str(i) in passed) for i, text in enumerate(items)],
            note.strip(),
        )
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, canteen_id)
    return RedirectResponse(
        f"/bureau/rollout/canteens/{canteen_id}?msg=inspected#inspections", status_code=303
    )


@router.post("/bureau/rollout/canteens/{canteen_id}/live")
def canteen_live(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    try:
        service.make_canteen_live(ctx, actor, canteen_id)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, canteen_id)
    return RedirectResponse(f"/bureau/rollout/canteens/{canteen_id}?msg=live", status_code=303)


# --- the unit admin acknowledges ----------------------------------------------------------------
@router.post("/unit/{unit_id}/rollout/notices/{notice_id}/ack")
def notice_ack(
    request: Request, unit_id: IdPath, notice_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit_scope(ctx, actor, unit_id)
    try:
        service.acknowledge_notice(ctx, actor, notice_id, unit_id)
    except OneCardError as exc:
        if status_for(exc) >= 500:
            raise
        return render(
            request,
            "bureau/message.html",
            status_code=status_for(exc),
            actor=actor,
            tab="",
            can_run=False,
            error=exc.message(request_lang(request)),
        )
    return RedirectResponse(f"/unit/{unit_id}?msg=notice#rollout-notices", status_code=303)
