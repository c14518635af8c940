"""The canteen till (收银台): a canteen manager takes payments in the browser.

Contract: the till acts as its canteen's first active terminal and pays through
``pay.service.pay`` — by meal period, by amount, or by item lines (dishes and shop
goods) — the very path a hardware terminal's request takes — with a fresh
``txn_id`` per press of Enter, so limits, prices, refusals and the ledger are the same.
The page lists the day's payments the terminal took (``pay.till_queries.day_payments``,
from the database, not the browser) with a "冲正" button on each one ``pay.reversal``
would still reverse; ``/till/reverse`` reverses the payment named by ``txn_id`` (or, with
none, the last one this session took) through ``pay.reversal.reverse`` — the terminal's
own payments only, within the window, an audit event. ``/till/report`` is the shift
report (``shift_report``: count and totals by meal period and purse), printable. The
day's count and total are the terminal's (``terminal_day``). ``/till/face`` takes a face
payment (刷脸) through ``pay.face_pay.face_pay`` as the same terminal, when it declared
liveness detection (the block "Face pay at the till" below). Only someone who manages
the canteen (its manager, the owning unit's admin, the bureau) may open any of it.
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from onecard.core.clock import local_text
from onecard.core.context import Context
from onecard.core.errors import (
    FaceNotAttested,
    FacePayNotEnabled,
    InvalidInput,
    OneCardError,
    StateConflict,
)
from onecard.core.tables import Table, to_xlsx
from onecard.faces.queries import takes_faces
from onecard.feedback.queries import canteen_averages, recent_comments
from onecard.org.actors import Actor
from onecard.pay import ecny
from onecard.pay.cashiers import taken_by
from onecard.pay.decide import TerminalIdentity
from onecard.pay.face_pay import NEED_DIGITS, FacePayment, face_pay
from onecard.pay.reversal import reverse, terminal_day
from onecard.pay.service import AfterRecord, PaymentRequest, pay
from onecard.pay.till_queries import (
    ShiftReport,
    day_payments,
    meal_board,
    shift_report,
    sold_items,
    till_terminal,
)
from onecard.reports.dish_forecast import canteen_dish_forecast
from onecard.reports.forecast import canteen_forecast
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, OptionalIdQuery, QtyForm, SkuForm
from onecard.web.errors import status_for
from onecard.web.forms import parse_yuan
from onecard.web.i18n import request_lang
from onecard.web.scopes import till_scope
from onecard.web.templating import render

router = APIRouter(prefix="/till", dependencies=[Depends(csrf_protect)], include_in_schema=False)

# The till lists the latest this many of the day's payments (the shift report has all).
TODAY_ROWS = 100
REPORT_ROWS = 5000  # a printed report lists at most this many payments


def _item_lines(skus: list[str], qtys: list[str]) -> tuple[tuple[str, int], ...]:
    lines = []
    for sku, qty in zip(skus, qtys, strict=False):
        q = qty.strip()
        if not q or q == "0":
            continue
        if not q.isdigit():
            raise InvalidInput(f"商品 {sku} 数量必须为整数")
        lines.append((sku, int(q)))
    if not lines:
        raise InvalidInput("请填写商品数量")
    return tuple(lines)


def _page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen: dict[str, Any],
    mine: list[dict[str, Any]],
    result: dict[str, Any] | None,
    mode: str = "meal",
    meal: str | None = None,
    status_code: int = 200,
) -> Response:
    terminal = till_terminal(ctx, canteen["id"])
    day_text, count, total = terminal_day(ctx, terminal)
    day = date.fromisoformat(day_text)
    ctx_: dict[str, Any] = {
        "payments": day_payments(ctx, terminal, day, TODAY_ROWS),
        "today_rows": TODAY_ROWS,
        "window_minutes": ctx.settings.reversal_window_seconds // 60,
        "canteen": canteen,
        "canteens": mine,
        "terminal": terminal,
        "meals": meal_board(ctx, canteen["id"]),
        "items": sold_items(ctx, canteen["id"]),
        "mode": mode,
        "meal": meal,
        "day": day,
        "count": count,
        "total": total,
        "result": result,
        "faces": takes_faces(ctx, terminal.id),
    }
    if request.headers.get("hx-request"):
        return render(
            request, "till/_result.html", status_code=status_code, actor=actor, oob=True, **ctx_
        )
    return render(request, "till/till.html", status_code=status_code, actor=actor, **ctx_)


@router.get("")
def till_page(
    request: Request, actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None
) -> Response:
    canteen, mine = till_scope(ctx, actor, canteen_id)
    return _page(request, ctx, actor, canteen, mine, None)


@router.post("/pay")
def till_pay(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    credential: Annotated[str, Form(max_length=40)],
    mode: Annotated[str, Form(pattern="^(meal|amount|items)$")] = "meal",
    meal: Annotated[str, Form(max_length=20)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    sku: SkuForm = None,
    qty: QtyForm = None,
) -> Response:
    canteen, mine = till_scope(ctx, actor, canteen_id)
    terminal = till_terminal(ctx, canteen["id"])
    lang = request_lang(request)
    result: dict[str, Any]
    try:
        req = PaymentRequest(
            txn_id=_txn_id(),
            credential=credential.strip(),
            **_charge(mode, meal, amount, sku, qty),
        )
        if is_ecny_code(req.credential):  # e-CNY: the block "e-CNY at the till" below
            return _page(request, ctx, actor, canteen, mine, _ecny_pay(ctx, terminal, req, lang))
        outcome = pay(ctx, terminal, req, also=_cashier(actor))
        result = dict(outcome.data)
        if outcome.approved:
            _remember(request, canteen["id"], req.txn_id)
    except OneCardError as exc:
        # Bad input never reaches the ledger or the decision records: show why.
        result = {"result": "refused", "code": exc.code, "message": exc.message(lang)}
    return _page(request, ctx, actor, canteen, mine, result, mode, meal or None)


def _charge(
    mode: str, meal: str, amount: str, sku: list[str] | None, qty: list[str] | None
) -> dict[str, Any]:
    """What the till charges, as the payment request's fields: the meal period, the
    amount in yuan, or the item lines — whichever the form's ``mode`` says (a card, a
    code and a face are charged alike)."""
    if mode == "meal":
        if not meal:
            raise InvalidInput("请选择餐次")
        return {"meal": meal}
    if mode == "items":
        return {"items": _item_lines(sku or [], qty or [])}
    return {"amount_fen": parse_yuan(amount)}


def _cashier(actor: Actor, *, face_attested: bool = False) -> AfterRecord | None:
    """Who is at the till, kept with the payment (``pay.cashiers``)."""
    if actor.person_id is None:
        return None
    return taken_by(actor.person_id, face_attested=face_attested)


def _remember(request: Request, canteen_id: int, txn_id: str) -> None:
    """The last payment this session took at the canteen (``/till/reverse`` without a txn)."""
    last = dict(request.session.get("till_last") or {})
    last[str(canteen_id)] = txn_id
    request.session["till_last"] = last


TXN_RE = r"web-[0-9a-f]{20}"


def _txn_id() -> str:
    return "web-" + secrets.token_hex(10)


# --- Face pay at the till (刷脸) ------------------------------------------------------------
# The cashier takes a still of the diner (the device camera, or a file input with
# ``capture="user"``) and ticks 收银员已核验本人在场: a browser has no liveness detector,
# so at this attended till the cashier's attestation is the liveness verdict sent to
# ``pay.face_pay.face_pay`` — only when the till's terminal declared liveness detection
# (``faces.queries.takes_faces``; else 403 with the reason, nothing read or written).
# Unticked is ``FaceNotAttested`` (422), nothing written: a till never sends a failed
# verdict, so it never records ``face_not_live``. ``need_digits`` (recorded nowhere) comes
# back with its ``txn_id`` in the form (``face_txn``): the cashier types the diner's last
# 4 digits and the browser sends the same picture again with the same ``txn_id`` — the
# credential is a hash of the picture, the verdict and the digits, so a repeat of that
# answer replays its stored outcome. No descriptor ever leaves the server.
@router.post("/face")
def till_face(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    photo: Annotated[UploadFile | None, File()] = None,
    attested: Annotated[str, Form(max_length=3)] = "",
    face_txn: Annotated[str, Form(pattern=f"^({TXN_RE})?$")] = "",
    digits: Annotated[str, Form(max_length=8)] = "",
    mode: Annotated[str, Form(pattern="^(meal|amount|items)$")] = "meal",
    meal: Annotated[str, Form(max_length=20)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    sku: SkuForm = None,
    qty: QtyForm = None,
) -> Response:
    """Take a face payment: the picture, the cashier's attestation, what is charged (as
    ``/till/pay``), and — after ``need_digits`` — the same ``face_txn`` with ``digits``."""
    canteen, mine = till_scope(ctx, actor, canteen_id)
    terminal = till_terminal(ctx, canteen["id"])
    lang = request_lang(request)
    status = 200
    result: dict[str, Any]
    try:
        if attested != "yes":
            raise FaceNotAttested()
        if not takes_faces(ctx, terminal.id):
            raise FacePayNotEnabled()
        fp = FacePayment(
            txn_id=face_txn or _txn_id(),
            liveness=True,  # the cashier's attestation (above)
            image=photo.file.read() if photo is not None else b"",
            digits=digits.strip() or None,
            **_charge(mode, meal, amount, sku, qty),
        )
        outcome = face_pay(ctx, terminal, fp, also=_cashier(actor, face_attested=True))
        # A replay (the same request again) carries the stored bytes only.
        result = dict(outcome.data) if outcome.data else json.loads(outcome.body)
        if result.get("result") == "need_digits":
            result["message"] = NEED_DIGITS["en" if lang == "en" else "zh-CN"]
            result["digits_txn"] = fp.txn_id
        if outcome.approved:
            _remember(request, canteen["id"], fp.txn_id)
    except OneCardError as exc:
        # Nothing written: no face, no attestation, bad input — or no liveness here. The
        # picture stays in the form (``kept``), and a digits retry keeps its txn_id.
        status = status_for(exc)
        result = {"result": "refused", "code": exc.code, "message": exc.message(lang)}
        result["kept"] = True
        if face_txn:
            result["digits_txn"] = face_txn
    result["channel"] = "face"
    return _page(request, ctx, actor, canteen, mine, result, mode, meal or None, status)


# --- e-CNY at the till (数字人民币) ---------------------------------------------------------
# The cashier scans the diner's e-CNY payment code (19 digits starting 01) into the same
# input as a card: the till charges it through ``pay.ecny.pay`` — the same decision (meal
# or amount, the guest price), the acquirer asked after the intent is committed. An answer
# still unknown shows as pending with a button that asks again (``/till/ecny/check`` →
# ``pay.ecny.stored_answer``, which asks the acquirer first).
def is_ecny_code(credential: str) -> bool:
    plain = credential.replace(" ", "")
    return len(plain) == ECNY_CODE_LEN and plain.startswith("01") and plain.isdigit()


ECNY_CODE_LEN = 19


def _ecny_result(ctx: Context, got: ecny.EcnyOutcome, lang: str) -> dict[str, Any]:
    """The order's answer in the page's language (the stored one is in the region's)."""
    row = ecny.order_row(ctx, got.order_no)
    data: dict[str, Any] = json.loads(ecny.answer_of(SimpleNamespace(**row), lang))
    data["channel"] = "ecny"
    return data


def _ecny_pay(
    ctx: Context, terminal: TerminalIdentity, req: PaymentRequest, lang: str
) -> dict[str, Any]:
    try:
        return _ecny_result(ctx, ecny.pay(ctx, terminal, req), lang)
    except OneCardError as exc:
        return {
            "result": "refused",
            "channel": "ecny",
            "code": exc.code,
            "message": exc.message(lang),
        }


@router.post("/ecny/check")
def till_ecny_check(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    txn_id: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    """Ask again about a pending e-CNY payment this till's terminal took."""
    canteen, mine = till_scope(ctx, actor, canteen_id)
    terminal = till_terminal(ctx, canteen["id"])
    lang = request_lang(request)
    result: dict[str, Any]
    try:
        result = _ecny_result(ctx, ecny.stored_answer(ctx, terminal, txn_id.strip()), lang)
    except OneCardError as exc:
        result = {
            "result": "refused",
            "channel": "ecny",
            "code": exc.code,
            "message": exc.message(lang),
        }
    return _page(request, ctx, actor, canteen, mine, result)


@router.post("/reverse")
def till_reverse(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    txn_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Reverse the payment ``txn_id`` this till's terminal took (a row of the day's list),
    or without one the last payment this session took."""
    canteen, mine = till_scope(ctx, actor, canteen_id)
    terminal = till_terminal(ctx, canteen["id"])
    last = dict(request.session.get("till_last") or {})
    txn = txn_id.strip() or last.get(str(canteen["id"]))
    result: dict[str, Any]
    try:
        if not txn:
            raise StateConflict("本次登录还没有可冲正的交易")
        rev = reverse(ctx, terminal, txn, actor)
        if last.get(str(canteen["id"])) == txn:
            last.pop(str(canteen["id"]), None)
            request.session["till_last"] = last
        result = {"result": "reversed", "amount_fen": rev.amount_fen, "txn_id": rev.txn_id}
    except OneCardError as exc:
        result = {
            "result": "refused",
            "code": exc.code,
            "message": exc.message(request_lang(request)),
        }
    return _page(request, ctx, actor, canteen, mine, result)


@router.get("/ratings")
def till_ratings(
    request: Request, actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None
) -> Response:
    """What diners say about this canteen: average scores and the latest comments."""
    canteen, mine = till_scope(ctx, actor, canteen_id)
    return render(
        request,
        "till/ratings.html",
        actor=actor,
        canteen=canteen,
        canteens=mine,
        avg=canteen_averages(ctx).get(canteen["id"]),
        comments=recent_comments(ctx, canteen["id"], 30),
    )


# The forecast page shows tomorrow and this many days after it.
FORECAST_DAYS = 7


@router.get("/forecast")
def till_forecast(
    request: Request, actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None
) -> Response:
    """Tomorrow's diners per meal and the week after, with a range, and tomorrow's
    portions of each dish on the menu with a range and its pre-orders (R-S4)."""
    canteen, mine = till_scope(ctx, actor, canteen_id)
    today = ctx.clock.today()
    return render(
        request,
        "till/forecast.html",
        actor=actor,
        canteen=canteen,
        canteens=mine,
        today=today,
        forecast=canteen_forecast(ctx, canteen["id"], today, FORECAST_DAYS),
        dishes=canteen_dish_forecast(ctx, canteen["id"], today),
    )


@router.get("/report")
def till_report(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: OptionalIdQuery = None,
    day: Annotated[date | None, Query()] = None,
    fmt: Annotated[str, Query(pattern="^(html|xlsx)$")] = "html",
) -> Response:
    """The shift report (交班报表) of this till's terminal for a Beijing day (default today):
    count and totals by meal period and by purse, reversals and refunds; printable, or
    with ``fmt=xlsx`` the same figures as an Excel sheet (money as yuan numbers)."""
    canteen, mine = till_scope(ctx, actor, canteen_id)
    terminal = till_terminal(ctx, canteen["id"])
    today = ctx.clock.today()
    day = day or today
    if day > today:
        raise InvalidInput("不能查看未来日期的交班报表")
    report = shift_report(ctx, terminal, day)
    if fmt == "xlsx":
        return Response(
            to_xlsx(report_table(report, canteen["name"], terminal.code)),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={
                "Content-Disposition": f'attachment; filename="shift-{terminal.code}-{day}.xlsx"'
            },
        )
    return render(
        request,
        "till/report.html",
        actor=actor,
        canteen=canteen,
        canteens=mine,
        terminal=terminal,
        report=report,
        payments=day_payments(ctx, terminal, day, limit=REPORT_ROWS),
        printed_at=ctx.clock.now(),
        today=today,
    )


def report_table(report: ShiftReport, canteen: str, terminal_code: str) -> Table:
    """The shift report's figures as one sheet: a line per meal period, the total, the
    reversals, then a line per cashier (money in fen here; ``to_xlsx`` writes yuan
    numbers)."""
    table = Table(
        key="shift",
        title=f"交班报表 {local_text(report.day)}",
        headers=["食堂", "消费机", "餐次", "笔数", "金额", "补贴支付", "自费支付", "已退款"],
        money_cols={4, 5, 6, 7},
    )
    for m in report.by_meal:
        table.rows.append(
            [
                canteen,
                terminal_code,
                m["meal"] or "按金额/商品",
                m["count"],
                m["total_fen"],
                m["subsidy_fen"],
                m["cash_fen"],
                m["refunded_fen"],
            ]
        )
    table.rows.append(
        [
            canteen,
            terminal_code,
            "合计",
            report.count,
            report.total_fen,
            report.subsidy_fen,
            report.cash_fen,
            report.refunded_fen,
        ]
    )
    table.rows.append(
        [canteen, terminal_code, "已冲正", report.reversed_count, report.reversed_fen, 0, 0, 0]
    )
    # Who took them (``pay.cashiers``): count and total per cashier, the split left blank.
    for c in report.by_cashier:
        who = f"收银员 {c['cashier']}" if c["cashier"] else "消费机自助"
        table.rows.append(
            [canteen, terminal_code, who, c["count"], c["total_fen"], None, None, None]
        )
    return table
