"""The bureaus' page of cross-region dining (issue 17 §2): ``/bureau/interregion``.

Contract:
- ``GET /bureau/interregion``: the dining agreements (regions, units, canteens, price
  class, purse, dates, state) and the quarterly clearing statements (gross,
  confirmations with who and when, booking, the bank payout) that touch the actor's
  regions — everything for a reader of the whole deployment, the agreements and
  statements with one side in its regions for a region's bureau and readers
  (``scopes.region_scope``). Excel of a statement: ``…/statements/{id}.xlsx`` (a reader
  of either side).
- The page acts through ``interregion.service`` (which checks each side's bureau again,
  ``require_region_bureau``): propose an agreement (our side, home or host, and the
  other region; units and canteens by code, blank for all), accept it (the other side's
  bureau), suspend, resume, end it; compute the quarter's statement of a pair of regions
  that have an agreement (the quarter picked from the list), confirm it (each side),
  book it and send the bank order (the home side's bureau). Each form is a POST with the
  CSRF token, answered by a redirect back with a message; a refused action shows its
  error on the page in the page's language with its 4xx status, nothing changed. A
  button is shown only to a bureau that may press it.
- Starts with ``scopes.region_scope``; the page runs no SQL (``interregion.queries``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from onecard.core.clock import quarter_of
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, OneCardError
from onecard.core.tables import to_xlsx
from onecard.interregion import queries, service
from onecard.org.actors import Actor
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.pages import xlsx_response
from onecard.web.scopes import region_scope
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

PAGE = "/bureau/interregion"
Side = Literal["home", "host"]
Move = Literal["accept", "suspend", "resume", "end"]
SIDES: tuple[Side, Side] = ("home", "host")
CODES = re.compile(r"[\s,，、;；]+")


def _touches(actor: Actor, row: dict[str, Any]) -> bool:
    return actor.covers_region(row["home_region_id"]) or actor.covers_region(row["host_region_id"])


def _agreement_acts(actor: Actor, a: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, side) of each button this actor may press on agreement ``a``."""
    region = {"home": a["home_region_id"], "host": a["host_region_id"]}
    mine = [s for s in SIDES if actor.bureau_of(region[s])]
    acts: list[tuple[str, str]] = []
    if a["status"] == "proposed":
        other = "host" if a["proposed_by"] == "home" else "home"
        if other in mine:
            acts.append(("accept", other))
    if mine:
        for action, states in (
            ("suspend", ("accepted",)),
            ("resume", ("suspended",)),
            ("end", ("proposed", "accepted", "suspended")),
        ):
            if a["status"] in states:
                acts.append((action, mine[0]))
    return acts


def _statement_acts(actor: Actor, s: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, side) of each button this actor may press on statement ``s``."""
    acts: list[tuple[str, str]] = []
    if s["status"] == "open":
        for side in SIDES:
            if s[f"{side}_confirmed_at"] is None and actor.bureau_of(s[f"{side}_region_id"]):
                acts.append(("confirm", side))
    if s["status"] in ("confirmed", "payout_failed") and actor.bureau_of(s["home_region_id"]):
        acts.append(("book", "home"))
    return acts


def _page(
    request: Request,
    actor: Actor,
    ctx: Context,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    agreements = [a for a in queries.agreements(ctx) if _touches(actor, a)]
    statements = [s for s in queries.statements(ctx) if _touches(actor, s)]
    regions = queries.fund_regions(ctx)
    own = [r for r in regions if actor.bureau_of(r["id"])]
    # The pairs a statement may be made for: those with an agreement, one side ours.
    pairs: dict[str, str] = {}
    for a in agreements:
        if actor.bureau_of(a["home_region_id"]) or actor.bureau_of(a["host_region_id"]):
            key = f"{a['home_region_id']}-{a['host_region_id']}"
            pairs[key] = f"{a['home_region']} → {a['host_region']}"
    return render(
        request,
        "bureau/interregion.html",
        status_code=status_code,
        actor=actor,
        tab="interregion",
        can_run=bool(own),
        agreements=[(a, _agreement_acts(actor, a)) for a in agreements],
        statements=[(s, _statement_acts(actor, s)) for s in statements],
        regions=regions,
        own_regions=own,
        other_default=next((r["id"] for r in regions if own and r["id"] != own[0]["id"]), None),
        pairs=sorted(pairs.items(), key=lambda kv: kv[1]),
        this_quarter=quarter_of(ctx.clock.today()),
        today=ctx.clock.today().isoformat(),
        form=form or {},
        message=request.query_params.get("msg"),
        error=error,
    )


def _refused(
    request: Request,
    actor: Actor,
    ctx: Context,
    exc: OneCardError,
    form: dict[str, str] | None = None,
) -> Response:
    if status_for(exc) >= 500:
        raise exc
    return _page(
        request,
        actor,
        ctx,
        error=exc.message(request_lang(request)),
        status_code=status_for(exc),
        form=form,
    )


def _done(msg: str, anchor: str) -> Response:
    return RedirectResponse(f"{PAGE}?msg={msg}#{anchor}", status_code=303)


@router.get(PAGE)
def interregion_page(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    return _page(request, actor, ctx)


@router.get(PAGE + "/statements/{statement_id}.xlsx")
def statement_xlsx(statement_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    s = queries.statement(ctx, statement_id)
    if not _touches(actor, s):
        raise Forbidden()
    body = to_xlsx(queries.statement_table(ctx, statement_id))
    return xlsx_response(body, f"statement-{statement_id}.xlsx")


# --- agreements ---------------------------------------------------------------------------
def _day(text: str, zh: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{zh}应为日期（年-月-日）") from None


def _codes(ctx: Context, kind: str, text: str) -> list[int] | None:
    codes = [c for c in CODES.split(text.strip()) if c]
    return queries.ids_by_code(ctx, kind, codes) if codes else None


Text = Annotated[str, Form(max_length=2000)]


@router.post(PAGE + "/agreements")
def propose(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    side: Annotated[Side, Form()],
    own_region_id: IdForm,
    other_region_id: IdForm,
    price_class: Annotated[str, Form(max_length=10)],
    purse: Annotated[str, Form(max_length=20)],
    valid_from: Annotated[str, Form(max_length=10)],
    host_account_no: Annotated[str, Form(max_length=32)] = "",
    host_account_name: Annotated[str, Form(max_length=60)] = "",
    valid_to: Annotated[str, Form(max_length=10)] = "",
    unit_codes: Text = "",
    canteen_codes: Text = "",
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    region_scope(actor)
    form = {
        "side": side,
        "own_region_id": str(own_region_id),
        "other_region_id": str(other_region_id),
        "price_class": price_class,
        "purse": purse,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "unit_codes": unit_codes,
        "canteen_codes": canteen_codes,
        "host_account_no": host_account_no,
        "host_account_name": host_account_name,
        "note": note,
    }
    home, host = (
        (own_region_id, other_region_id) if side == "home" else (other_region_id, own_region_id)
    )
    try:
        if not host_account_no.strip() or not host_account_name.strip():
            raise InvalidInput("须填写供餐方收款账户的账号和户名")
        terms = service.AgreementIn(
            home_region_id=home,
            host_region_id=host,
            price_class=price_class,
            purse=purse,
            valid_from=_day(valid_from, "生效日期"),
            valid_to=_day(valid_to, "截止日期") if valid_to.strip() else None,
            host_account_no=host_account_no.strip(),
            host_account_name=host_account_name.strip(),
            unit_ids=_codes(ctx, "unit", unit_codes),
            canteen_ids=_codes(ctx, "canteen", canteen_codes),
            note=note.strip(),
        )
        service.propose(ctx, actor, side, terms)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc, form)
    return _done("proposed", "agreements")


@router.post(PAGE + "/agreements/{agreement_id}/{action}")
def move(
    request: Request,
    agreement_id: IdPath,
    action: Move,
    actor: ActorDep,
    ctx: CtxDep,
    side: Annotated[Side, Form()],
) -> Response:
    region_scope(actor)
    try:
        service.move(ctx, actor, agreement_id, action, side)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return _done(action, "agreements")


# --- statements ---------------------------------------------------------------------------
@router.post(PAGE + "/statements")
def compute(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    pair: Annotated[str, Form(pattern=r"^[0-9]{1,18}-[0-9]{1,18}$")],
    quarter: Annotated[str, Form(max_length=6)],
) -> Response:
    region_scope(actor)
    home, host = (int(x) for x in pair.split("-"))
    try:
        service.compute_statement(ctx, actor, home, host, quarter)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return _done("computed", "statements")


@router.post(PAGE + "/statements/{statement_id}/confirm")
def confirm(
    request: Request,
    statement_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    side: Annotated[Side, Form()],
) -> Response:
    region_scope(actor)
    try:
        status = service.confirm_statement(ctx, actor, statement_id, side)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return _done("confirmed" if status == "confirmed" else "confirm", "statements")


@router.post(PAGE + "/statements/{statement_id}/book")
def book(request: Request, statement_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    try:
        booked = service.book_statement(ctx, actor, statement_id)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    problem = service.send_payout(ctx, statement_id)
    if problem is not None:
        return _done("unsent", "statements")
    return _done("paid" if booked.status == "paid" else "booked", "statements")
