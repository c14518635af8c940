"""Unit admin pages (单位管理): roster and its import, the unit information table, its
canteens' rules and meal prices, the quarterly quality assessment of its canteen
operator, and its reports.

Contract: every route starts with ``scopes.unit_scope`` (403 outside the unit; the
bureau, finance and auditors may read). Writes go through the service functions
(``pay.rules``, ``funding.settlement.record_score``, ``org.imports``), which check the
actor again and own their transactions; a refused write re-renders the page with the
reason and a 4xx status.
"""

from __future__ import annotations

import base64
import binascii
from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from onecard.core.clock import quarter_of
from onecard.core.context import Context
from onecard.core.errors import Conflict, ImportRejected, InvalidInput, NotFound, OneCardError
from onecard.core.money import yuan
from onecard.faces import queries as face_queries
from onecard.faces import service as face_service
from onecard.funding import distribution, settlement, statements
from onecard.funding import queries as funding_queries
from onecard.funding.errors import check_quarter
from onecard.org import imports
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.org.fields import FIELD_NAMES_ZH
from onecard.pay import cards, paycode_keys, rules
from onecard.pay.models import DINER_CLASSES
from onecard.pay.queries import card_owner, my_balances, my_transactions, person_cards
from onecard.reports import directory
from onecard.rollout import queries as rollout_queries
from onecard.terminals import queries as offline_queries
from onecard.waste import service as waste_service
from onecard.web import account_activation as activation
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.forms import parse_yuan
from onecard.web.i18n import request_lang
from onecard.web.pages import unit_page as _page
from onecard.web.pages import xlsx_response
from onecard.web.scopes import unit_scope

router = APIRouter(prefix="/unit", dependencies=[Depends(csrf_protect)], include_in_schema=False)

CATEGORY = {"staff": "在编", "contract": "合同", "retired": "退休", "guest": "来宾"}
STATUS = {"active": "在职", "left": "离职"}
CLASS_ZH = {"own": "本单位", "visitor": "外单位", "guest": "来宾"}
# Roster fields as the import shows what changed ("standard_fen" values are fen).
FIELD_ZH = {
    "name": "姓名",
    "category": "人员类别",
    "phone": "手机号",
    "standard_fen": "季度就餐标准（元）",
    "bank_card_no": "银行卡号",
}
PURSE_ORDER = {"subsidy_first": "先扣补贴，再扣自费", "cash_first": "先扣自费，再扣补贴"}


def _quarter(ctx: Context, quarter: str | None) -> str:
    return check_quarter(quarter) if quarter else quarter_of(ctx.clock.today())


@router.get("/{unit_id}")
def roster(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    q: str = "",
    show: str = "active",
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    people, counts = org_queries.roster(ctx, unit_id, q, show)
    return _page(
        request,
        ctx,
        actor,
        unit,
        "roster",
        "unit/roster.html",
        people=people,
        counts=counts,
        rollout_notices=rollout_queries.notices(ctx, unit_id),
        offline_debts=offline_queries.unit_debts(ctx, unit_id),
        can_ack_notices=any(r == "unit_admin" and u == unit_id for r, u, _ in actor.grants),
        q=q,
        show=show,
        category=CATEGORY,
        status=STATUS,
        accounts=activation.activation_state(ctx, [int(p.id) for p in people]),
        account_zh=activation.ACCOUNT_ZH,
    )


@router.get("/{unit_id}/info")
def info(request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    row = funding_queries.unit_info(ctx, unit_id)
    return _page(
        request,
        ctx,
        actor,
        unit,
        "info",
        "unit/info.html",
        info=row,
        listed=directory.canteens(ctx, unit_id=unit_id),
    )


def _own_canteen(ctx: Context, unit_id: int, canteen_id: int) -> dict[str, Any]:
    for c in directory.canteens(ctx, unit_id=unit_id):
        if c["id"] == canteen_id:
            return c
    raise NotFound(what="食堂")


def _rules_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    unit: Any,
    canteen_id: int,
    error: str | None = None,
    saved: str | None = None,
) -> Response:
    canteen = _own_canteen(ctx, unit.id, canteen_id)
    return _page(
        request,
        ctx,
        actor,
        unit,
        "rules",
        "unit/rules.html",
        status_code=422 if error else 200,
        canteen=canteen,
        meals=rules.meal_table(ctx, canteen_id),
        classes=DINER_CLASSES,
        class_zh=CLASS_ZH,
        purse_order=PURSE_ORDER,
        error=error,
        saved=saved,
    )


@router.get("/{unit_id}/canteens/{canteen_id}")
def canteen_rules(
    request: Request, unit_id: IdPath, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    return _rules_page(request, ctx, actor, unit, canteen_id)


@router.post("/{unit_id}/canteens/{canteen_id}/rules")
def save_rules(
    request: Request,
    unit_id: IdPath,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    purse_order: Annotated[str, Form(max_length=20)],
    serves_visitors: Annotated[bool, Form()] = False,
    serves_guests: Annotated[bool, Form()] = False,
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    _own_canteen(ctx, unit_id, canteen_id)
    try:
        rules.set_canteen_rules(
            ctx,
            actor,
            canteen_id,
            serves_visitors=serves_visitors,
            serves_guests=serves_guests,
            purse_order=purse_order,
        )
    except InvalidInput as exc:
        return _rules_page(
            request, ctx, actor, unit, canteen_id, exc.message(request_lang(request))
        )
    return RedirectResponse(f"/unit/{unit_id}/canteens/{canteen_id}?saved=rules", status_code=303)


def _hhmm(text: str) -> time:
    try:
        h, m = text.strip().split(":")
        return time(int(h), int(m))
    except ValueError as exc:
        raise InvalidInput(f"时间格式应为 HH:MM：{text}") from exc


@router.post("/{unit_id}/canteens/{canteen_id}/periods")
def save_period(
    request: Request,
    unit_id: IdPath,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    code: Annotated[str, Form(max_length=20)],
    name: Annotated[str, Form(max_length=20)],
    starts: Annotated[str, Form(max_length=5)],
    ends: Annotated[str, Form(max_length=5)],
    per_person_limit: Annotated[int, Form(ge=0, le=20)] = 1,
    own: Annotated[str, Form(max_length=12)] = "",
    visitor: Annotated[str, Form(max_length=12)] = "",
    guest: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    _own_canteen(ctx, unit_id, canteen_id)
    try:
        prices = {
            klass: parse_yuan(text)
            for klass, text in (("own", own), ("visitor", visitor), ("guest", guest))
            if text.strip()
        }
        spec = rules.PeriodSpec(
            code=code.strip(),
            name=name.strip(),
            starts=_hhmm(starts),
            ends=_hhmm(ends),
            per_person_limit=per_person_limit,
            prices=prices,
        )
        rules.set_meal_period(ctx, actor, canteen_id, spec)
    except OneCardError as exc:
        if not isinstance(exc, InvalidInput):
            raise
        return _rules_page(
            request, ctx, actor, unit, canteen_id, exc.message(request_lang(request))
        )
    return RedirectResponse(f"/unit/{unit_id}/canteens/{canteen_id}?saved=period", status_code=303)


def _quality_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    unit: Any,
    quarter: str,
    error: str | None = None,
) -> Response:
    return _page(
        request,
        ctx,
        actor,
        unit,
        "quality",
        "unit/quality.html",
        status_code=422 if error else 200,
        quarter=quarter,
        rows=settlement.quality_rows(ctx, unit.id, quarter),
        error=error,
    )


@router.get("/{unit_id}/quality")
def quality(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep, quarter: str | None = None
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    return _quality_page(request, ctx, actor, unit, _quarter(ctx, quarter))


@router.post("/{unit_id}/quality")
def save_quality(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    quarter: Annotated[str, Form(max_length=6)],
    score: Annotated[int, Form(ge=0, le=100)],
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    _own_canteen(ctx, unit_id, canteen_id)
    q = _quarter(ctx, quarter)
    try:
        # The assessment less the quarter's waste deduction (waste.score), as the API's
        # /waste/…/quality-score does: a page must not be a way around it.
        waste_service.record_quality_score(ctx, actor, canteen_id, q, score)
    except OneCardError as exc:
        if isinstance(exc, InvalidInput | Conflict):
            return _quality_page(request, ctx, actor, unit, q, exc.message(request_lang(request)))
        raise
    return RedirectResponse(f"/unit/{unit_id}/quality?quarter={q}", status_code=303)


@router.post("/{unit_id}/quality/bands")
def save_bands(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    bands: Annotated[str, Form(max_length=200)],
    quarter: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    _own_canteen(ctx, unit_id, canteen_id)
    q = _quarter(ctx, quarter or None)
    try:
        settlement.set_quality_rule(ctx, actor, canteen_id, settlement.parse_bands(bands))
    except InvalidInput as exc:
        return _quality_page(request, ctx, actor, unit, q, exc.message(request_lang(request)))
    return RedirectResponse(f"/unit/{unit_id}/quality?quarter={q}", status_code=303)


@router.get("/{unit_id}/reports")
def reports(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep, quarter: str | None = None
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    q = _quarter(ctx, quarter)
    doc = statements.unit_statement(ctx, unit_id, q)
    return _page(request, ctx, actor, unit, "reports", "unit/reports.html", quarter=q, doc=doc)


@router.get("/{unit_id}/reports.xlsx")
def reports_xlsx(
    unit_id: IdPath, actor: ActorDep, ctx: CtxDep, quarter: str | None = None
) -> Response:
    unit_scope(ctx, actor, unit_id)
    q = _quarter(ctx, quarter)
    data = statements.to_xlsx(statements.unit_statement(ctx, unit_id, q))
    return xlsx_response(data, f"unit-{unit_id}-{q}.xlsx")


# --- roster import: upload → preview (dry run) → confirm --------------------------------
def _import_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    unit: Any,
    *,
    what: str = "roster",
    result: Any = None,
    errors: list[Any] | None = None,
    message: str | None = None,
    payload: str = "",
    filename: str = "",
    status_code: int = 200,
) -> Response:
    return _page(
        request,
        ctx,
        actor,
        unit,
        "info" if what == "info" else "import",
        "unit/import.html",
        status_code=status_code,
        what="info" if what == "info" else "roster",
        result=result,
        errors=errors,
        message=message,
        payload=payload,
        filename=filename,
        category=CATEGORY,
        field_zh=FIELD_ZH,
        cell_notes=imports.CELL_NOTES,
        org_field_zh=FIELD_NAMES_ZH,
    )


@router.get("/{unit_id}/import")
def import_form(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep, what: str = "roster"
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    return _import_page(request, ctx, actor, unit, what=what)


@router.get("/{unit_id}/roster.xlsx")
def roster_xlsx(unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    unit_scope(ctx, actor, unit_id)
    return xlsx_response(imports.roster_template(ctx, unit_id), f"roster-{unit_id}.xlsx")


@router.get("/{unit_id}/info.xlsx")
def info_xlsx(unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    """The information table to fill in, with this unit's row only (the full table with
    every unit is the bureau's)."""
    unit_scope(ctx, actor, unit_id)
    return xlsx_response(imports.unit_info_template(ctx, unit_id), f"unit-info-{unit_id}.xlsx")


@router.post("/{unit_id}/import")
async def import_upload(
    request: Request, unit_id: IdPath, actor: ActorDep, ctx: CtxDep, what: str = "roster"
) -> Response:
    """The first step (a file upload) previews; the second (``confirm=yes`` with the same
    file carried back as base64) applies. Both go through ``org.imports`` (the roster, or
    with ``?what=info`` the unit information table), which validates every row again, so
    the carried file needs no trust."""
    unit = unit_scope(ctx, actor, unit_id)
    importer = imports.import_unit_info if what == "info" else imports.import_roster
    form = await request.form()
    try:
        confirm = form.get("confirm") == "yes"
        upload = form.get("file")
        filename = str(form.get("filename") or "")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read()
            filename = upload.filename
        else:
            try:
                data = base64.b64decode(str(form.get("payload") or ""), validate=True)
            except (binascii.Error, ValueError):
                data = b""
    finally:
        await form.close()  # uploaded files are spooled to temporary files
    if not data:
        return _import_page(
            request,
            ctx,
            actor,
            unit,
            what=what,
            message="请选择要导入的文件（Excel 或 CSV）",
            status_code=422,
        )
    payload = base64.b64encode(data).decode()
    try:
        result = await run_in_threadpool(importer, ctx, actor, data, filename, dry_run=not confirm)
    except ImportRejected as exc:
        return _import_page(
            request,
            ctx,
            actor,
            unit,
            what=what,
            errors=list(getattr(exc, "rows", [])),
            message=exc.message(request_lang(request)),
            filename=filename,
            status_code=422,
        )
    except InvalidInput as exc:
        return _import_page(
            request,
            ctx,
            actor,
            unit,
            what=what,
            message=exc.message(request_lang(request)),
            filename=filename,
            status_code=422,
        )
    return _import_page(
        request,
        ctx,
        actor,
        unit,
        what=what,
        result=result,
        payload=payload if not confirm else "",
        filename=filename,
    )


# --- one person: balances, cards, leaving -----------------------------------------------
CARD_ACTIONS = {"lost": "挂失", "unfreeze": "解挂", "replace": "补卡", "cancel": "注销"}


def _person_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    unit: Any,
    person_id: int,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    p = org_queries.member(ctx, unit.id, person_id)
    cards = person_cards(ctx, person_id)
    return _page(
        request,
        ctx,
        actor,
        unit,
        "roster",
        "unit/person.html",
        status_code=status_code,
        person=p,
        bal=my_balances(ctx, person_id),
        txs=my_transactions(ctx, person_id, 20),
        cards=cards,
        actions=CARD_ACTIONS,
        category=CATEGORY,
        status=STATUS,
        message=message,
        error=error,
        security=activation.person_security(ctx, actor, person_id),
        face=face_queries.face_status(ctx, person_id),
        face_notice=face_service.NOTICE,
    )


@router.get("/{unit_id}/people/{person_id}")
def person(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    return _person_page(request, ctx, actor, unit, person_id)


@router.post("/{unit_id}/people/{person_id}/cards")
def person_card(
    request: Request,
    unit_id: IdPath,
    person_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    action: Annotated[str, Form(max_length=10)],
    card_no: Annotated[str, Form(max_length=20)] = "",
) -> Response:

    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    if action != "issue" and card_owner(ctx, card_no) != person_id:
        raise NotFound(what="卡")
    try:
        if action == "issue":
            done = f"已发卡 {cards.issue_card(ctx, actor, person_id)}"
        elif action == "lost":
            cards.report_lost(ctx, actor, card_no)
            done = f"卡 {card_no} 已挂失"
        elif action == "unfreeze":
            cards.unfreeze(ctx, actor, card_no)
            done = f"卡 {card_no} 已解挂"
        elif action == "replace":
            done = f"已补卡 {cards.replace_card(ctx, actor, card_no)}，原卡 {card_no} 已注销"
        elif action == "cancel":
            cards.cancel_card(ctx, actor, card_no)
            done = f"卡 {card_no} 已注销"
        else:
            raise InvalidInput("未知操作")
    except (InvalidInput, Conflict) as exc:
        return _person_page(
            request,
            ctx,
            actor,
            unit,
            person_id,
            error=exc.message(request_lang(request)),
            status_code=status_for(exc),
        )
    return _person_page(request, ctx, actor, unit, person_id, message=done)


@router.post("/{unit_id}/people/{person_id}/paycode")
def person_paycode(
    request: Request,
    unit_id: IdPath,
    person_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    action: Annotated[str, Form(max_length=12)],
) -> Response:
    """Rotate the person's payment-code secret; ``phone_lost`` also ends their sessions."""
    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    if action not in ("rotate", "phone_lost"):
        raise InvalidInput("未知操作")
    got = paycode_keys.rotate(ctx, actor, person_id, phone_lost=action == "phone_lost")
    done = "已挂失手机：" if action == "phone_lost" else ""
    done += "付款码密钥已更换，旧付款码失效"
    if got.sessions_ended:
        done += "；该人员已退出所有登录"
    return _person_page(request, ctx, actor, unit, person_id, message=done)


@router.post("/{unit_id}/people/{person_id}/leave")
def person_leave(
    request: Request,
    unit_id: IdPath,
    person_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    try:
        res = distribution.leave(ctx, actor, person_id)
    except (InvalidInput, Conflict) as exc:
        return _person_page(
            request,
            ctx,
            actor,
            unit,
            person_id,
            error=exc.message(request_lang(request)),
            status_code=status_for(exc),
        )
    back = int(res.totals.get("subsidy_returned_fen", 0))
    return _person_page(
        request,
        ctx,
        actor,
        unit,
        person_id,
        message=f"已办理离职，补贴余额 {yuan(back)} 元退回单位",
    )


# --- one person's face for face pay (the same services as ``/api/v1/people/{id}/face``) ---
# The unit's admin enrols a face for someone who signed the paper notice (purpose and
# retention shown on the page): the box records that consent (``given_via`` admin) with
# the template in one transaction; withdrawing deletes the template at once. A photo with
# no face, or no consent, is answered on the page (422) with nothing written.
@router.post("/{unit_id}/people/{person_id}/face")
async def person_face(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    form = await request.form()
    try:
        upload = form.get("photo")
        photo = await upload.read() if isinstance(upload, UploadFile) else b""
        consent = form.get("consent") == "paper"
    finally:
        await form.close()
    try:
        await run_in_threadpool(
            face_service.enrol, ctx, actor, person_id, image=photo, consent=consent
        )
    except OneCardError as exc:
        return _person_page(
            request,
            ctx,
            actor,
            unit,
            person_id,
            error=exc.message(request_lang(request)),
            status_code=status_for(exc),
        )
    return _person_page(request, ctx, actor, unit, person_id, message="人脸已登记")


@router.post("/{unit_id}/people/{person_id}/face/withdraw")
def person_face_withdraw(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    face_service.withdraw(ctx, actor, person_id)
    return _person_page(request, ctx, actor, unit, person_id, message="已撤回同意，人脸信息已删除")
