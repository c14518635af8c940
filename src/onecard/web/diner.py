"""The diner's pages (手机端): balances, payment code, transactions, rating, card, top-up.

Contract: every route acts for the signed-in person only and goes through the same
service functions and read models as the JSON API (pay.queries, pay.cards,
pay.paycode_keys, pay.topup, feedback.service, waste.service; also org.queries,
feedback.queries, waste.queries, surveys.queries: the open surveys not yet answered are
listed on /me, answered on /me/surveys). The clean-plate check-in (光盘打卡, R-S5) is a photo
upload on /me, once per meal a day, with the streak shown beside it.
Reporting a card lost stops the card; reporting the phone lost rotates the payment-code
secret and ends the person's sessions.
The payment code page makes its codes in the browser from the on-device secret
(static/js/paycode.js), so it keeps working when the network is gone.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from onecard.channels.sandbox import open_demo_card
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import (
    AlreadyRated,
    InvalidInput,
    NotFound,
    NotRateable,
    OneCardError,
    StarsNotChosen,
)
from onecard.feedback import dish_queries
from onecard.feedback import queries as feedback_queries
from onecard.feedback import service as feedback
from onecard.feedback.models import ASPECTS
from onecard.funding import notifications
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.pay import cards, paycode_keys, topup
from onecard.pay.queries import my_balances, my_transactions, person_cards
from onecard.pay.statement import kind_words, statement, statement_years
from onecard.surveys import queries as survey_queries
from onecard.waste import queries as waste_queries
from onecard.waste import service as waste
from onecard.waste.models import MAX_PHOTO
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdPath
from onecard.web.forms import parse_yuan
from onecard.web.i18n import request_lang, translate
from onecard.web.templating import render

router = APIRouter(prefix="/me", dependencies=[Depends(csrf_protect)], include_in_schema=False)

ASPECT_NAMES = {"taste": "口味", "hygiene": "卫生", "service": "服务", "value": "性价比"}
CARD_STATUS = {"active": "正常", "lost": "已挂失", "cancelled": "已注销"}
PAY_STATUS = {"approved": "成功", "refused": "失败", "reversed": "已冲正"}
STATEMENT_PAGE = 20  # rows a page of /me/transactions


def _person_id(actor: ActorDep) -> int:
    assert actor.person_id is not None
    return actor.person_id


def _my_cards(ctx: Context, person_id: int) -> list[dict[str, str]]:
    rows = person_cards(ctx, person_id, include_cancelled=False)
    return [{"card_no": r.card_no, "status": r.status} for r in rows]


def _transactions(
    ctx: Context, person_id: int, limit: int, payment_id: int | None = None
) -> list[dict[str, object]]:
    txs = my_transactions(ctx, person_id, limit, payment_id)
    rated = feedback_queries.rated_payment_ids(ctx, [int(str(t["payment_id"])) for t in txs])
    for t in txs:
        t["rated"] = t["payment_id"] in rated
        t["rateable"] = (
            t["status"] == "approved"
            and not t["rated"]
            and int(str(t["refunded_fen"])) < int(str(t["amount_fen"]))
        )
    return txs


@router.get("")
def home(request: Request, actor: ActorDep, ctx: CtxDep, msg: str | None = None) -> Response:
    return _home_page(request, actor, ctx, msg)


def _home_page(
    request: Request,
    actor: Actor,
    ctx: Context,
    msg: str | None = None,
    plate_error: str | None = None,
    status_code: int = 200,
) -> Response:
    """/me, also re-drawn with a clean-plate check-in's refusal (not query parameters:
    a caller must not choose the status or the error shown)."""
    pid = _person_id(actor)
    recent = statement(ctx, pid, None, 1, 10).rows
    return render(
        request,
        "diner/home.html",
        status_code=status_code,
        actor=actor,
        plates=waste_queries.clean_plates(ctx, pid, ctx.clock.today()),
        surveys=[
            s for s in survey_queries.open_for(ctx, pid, ctx.clock.today()) if not s["answered"]
        ],
        meals=waste.MEALS,
        plate_error=plate_error,
        me=org_queries.person_name(ctx, pid),
        bal=my_balances(ctx, pid),
        cards=_my_cards(ctx, pid),
        txs=recent,
        dish_lines=_dish_lines(ctx, recent),
        kind_words=kind_words,
        card_status=CARD_STATUS,
        pay_status=PAY_STATUS,
        msg=msg,
    )


@router.get("/transactions")
def transactions(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The statement, a Beijing year at a time (this year unless asked), page by page."""
    pid = _person_id(actor)
    year = year or to_local(ctx.clock.now()).year
    st = statement(ctx, pid, year, page, STATEMENT_PAGE)
    years = statement_years(ctx, pid)
    if year not in years:
        years = sorted({*years, year}, reverse=True)
    return render(
        request,
        "diner/transactions.html",
        actor=actor,
        st=st,
        txs=st.rows,
        dish_lines=_dish_lines(ctx, st.rows),
        years=years,
        kind_words=kind_words,
        bal=my_balances(ctx, pid),
        pay_status=PAY_STATUS,
    )


def _dish_lines(ctx: Context, rows: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """Which of these payments have dish lines: (dishes, of them rated) — the link to
    rate each dish (``web.dishes``)."""
    return dish_queries.lines_summary(
        ctx, [int(str(r["payment_id"])) for r in rows if r.get("payment_id")]
    )


@router.get("/code")
def code_page(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    pid = _person_id(actor)
    return render(
        request,
        "diner/code.html",
        actor=actor,
        me=org_queries.person_name(ctx, pid),
        bal=my_balances(ctx, pid),
    )


def _payment_for_rating(ctx: Context, person_id: int, payment_id: int) -> dict[str, object]:
    for t in _transactions(ctx, person_id, 1, payment_id):
        return t
    raise NotFound(what="交易")


@router.get("/rate/{payment_id}")
def rate_form(request: Request, payment_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    pid = _person_id(actor)
    tx = _payment_for_rating(ctx, pid, payment_id)
    return render(
        request,
        "diner/rate.html",
        actor=actor,
        tx=tx,
        aspects=ASPECTS,
        names=ASPECT_NAMES,
        error=None,
        done=bool(tx["rated"]),
        chosen={},
        comment="",
    )


@router.post("/rate/{payment_id}")
def rate_submit(
    request: Request,
    payment_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    taste: Annotated[int | None, Form(ge=1, le=5)] = None,
    hygiene: Annotated[int | None, Form(ge=1, le=5)] = None,
    service: Annotated[int | None, Form(ge=1, le=5)] = None,
    value: Annotated[int | None, Form(ge=1, le=5)] = None,
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The stars start unchosen: an aspect left without one is named in the error and
    the form comes back with what was chosen and written."""
    pid = _person_id(actor)
    scores = {"taste": taste, "hygiene": hygiene, "service": service, "value": value}
    lang = request_lang(request)
    error = None
    try:
        missing = [a for a in ASPECTS if scores[a] is None]
        if missing:
            names = ("、" if lang != "en" else ", ").join(_aspect_name(a, lang) for a in missing)
            raise StarsNotChosen(aspects=names)
        feedback.rate_meal(ctx, pid, payment_id, scores, comment)
    except (InvalidInput, AlreadyRated, NotRateable) as exc:
        error = exc.message(lang)
    tx = _payment_for_rating(ctx, pid, payment_id)
    return render(
        request,
        "diner/rate.html",
        status_code=422 if error else 200,
        actor=actor,
        tx=tx,
        aspects=ASPECTS,
        names=ASPECT_NAMES,
        error=error,
        done=error is None,
        chosen=scores,
        comment=comment,
    )


def _aspect_name(aspect: str, lang: str) -> str:
    return translate(ASPECT_NAMES[aspect], lang)


@router.post("/cards/{card_no}/lost")
def card_lost(card_no: str, actor: ActorDep, ctx: CtxDep) -> Response:
    cards.report_lost(ctx, actor, card_no, holder_only=True)
    return RedirectResponse("/me?msg=lost", status_code=303)


@router.post("/paycode/rotate")
def paycode_rotate(actor: ActorDep, ctx: CtxDep) -> Response:
    """A new payment-code secret (e.g. a code was photographed); this device fetches it
    the next time the code page opens."""
    paycode_keys.rotate(ctx, actor, _person_id(actor))
    return RedirectResponse("/me?msg=rotated", status_code=303)


@router.post("/phone-lost")
def phone_lost(actor: ActorDep, ctx: CtxDep) -> Response:
    """The phone is lost: its codes stop working and every session of this person ends."""
    done = paycode_keys.rotate(ctx, actor, _person_id(actor), phone_lost=True)
    if done.sessions_ended:  # this session too: the sign-in page says so
        return RedirectResponse("/login?ended=1", status_code=303)
    return RedirectResponse("/me?msg=phone_lost", status_code=303)


@router.post("/cards/{card_no}/unfreeze")
def card_unfreeze(card_no: str, actor: ActorDep, ctx: CtxDep) -> Response:
    cards.unfreeze(ctx, actor, card_no, holder_only=True)
    return RedirectResponse("/me?msg=unfrozen", status_code=303)


@router.post("/clean-plate")
def clean_plate(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    meal: Annotated[str, Form(max_length=20)],
    photo: Annotated[UploadFile, File()],
) -> Response:
    """Today's clean plate (光盘打卡) for a meal, with its photo (JPEG or PNG, ≤ 2 MB)."""
    data = photo.file.read(MAX_PHOTO + 1)  # one byte more: too large is refused, not cut
    try:
        waste.check_in(ctx, actor, meal, data)
    except OneCardError as exc:
        code = 409 if exc.code == "state_conflict" else 422
        return _home_page(request, actor, ctx, None, exc.message(request_lang(request)), code)
    return RedirectResponse("/me?msg=plate#plate", status_code=303)


@router.get("/topup")
def topup_form(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    pid = _person_id(actor)
    return render(
        request,
        "diner/topup.html",
        actor=actor,
        bal=my_balances(ctx, pid),
        order=None,
        error=None,
    )


@router.post("/topup")
def topup_submit(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    amount: Annotated[str, Form(max_length=20)],
) -> Response:
    pid = _person_id(actor)
    order = None
    error = None
    try:
        fen = parse_yuan(amount)
        open_demo_card(ctx, pid)
        req = topup.request_topup(ctx, pid, fen)
        notifications.deliver_sandbox_notifications(ctx)
        order = topup.order_of(ctx, req.order_id)
    except OneCardError as exc:
        error = exc.message(request_lang(request))
    return render(
        request,
        "diner/topup.html",
        status_code=422 if error else 200,
        actor=actor,
        bal=my_balances(ctx, pid),
        order=order,
        error=error,
    )
