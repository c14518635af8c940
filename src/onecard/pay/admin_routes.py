"""Administration API for cards, terminals and canteen rules (unit admins, the bureau).

Thin: each route checks nothing itself — the service it calls takes the signed-in
``Actor`` and refuses what the actor's grants do not cover (403). Card numbers and
terminal codes are path parameters; a terminal's device key is returned once, at
registration, and never again.
"""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from onecard.org import terminals
from onecard.pay import cards, paycode_keys, rules
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card_no: StrictStr | None = Field(
        default=None, pattern=r"^[0-9]{8,16}$", description="leave out to get a new number"
    )


class CardOut(BaseModel):
    card_no: str
    status: Literal["active", "lost", "cancelled"]


@router.post("/people/{person_id}/cards", response_model=CardOut, responses=ERRORS)
def post_issue_card(person_id: IdPath, body: CardIn, actor: ActorDep, ctx: CtxDep) -> CardOut:
    """Issue a card (发卡) to a person of the admin's unit."""
    return CardOut(card_no=cards.issue_card(ctx, actor, person_id, body.card_no), status="active")


@router.post("/cards/{card_no}/lost", response_model=CardOut, responses=ERRORS)
def post_card_lost(card_no: str, actor: ActorDep, ctx: CtxDep) -> CardOut:
    """Report a card lost (挂失): refused at every terminal from now on."""
    cards.report_lost(ctx, actor, card_no)
    return CardOut(card_no=card_no, status="lost")


@router.post("/cards/{card_no}/unfreeze", response_model=CardOut, responses=ERRORS)
def post_card_unfreeze(card_no: str, actor: ActorDep, ctx: CtxDep) -> CardOut:
    """Unfreeze a lost card that turned up (解挂)."""
    cards.unfreeze(ctx, actor, card_no)
    return CardOut(card_no=card_no, status="active")


@router.post("/cards/{card_no}/replace", response_model=CardOut, responses=ERRORS)
def post_card_replace(card_no: str, body: CardIn, actor: ActorDep, ctx: CtxDep) -> CardOut:
    """Replace a card (补卡): the old one is cancelled, the balance stays on the person."""
    return CardOut(card_no=cards.replace_card(ctx, actor, card_no, body.card_no), status="active")


@router.post("/cards/{card_no}/cancel", response_model=CardOut, responses=ERRORS)
def post_card_cancel(card_no: str, actor: ActorDep, ctx: CtxDep) -> CardOut:
    """Cancel a card (注销) for good."""
    cards.cancel_card(ctx, actor, card_no)
    return CardOut(card_no=card_no, status="cancelled")


class PaycodeRotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_lost: StrictBool = Field(
        default=False, description="the phone was lost: also end every session of the person"
    )


class PaycodeRotateOut(BaseModel):
    person_id: int
    phone_lost: bool
    sessions_ended: bool = Field(description="every session of the person was ended")
    status: Literal["rotated"]


@router.post(
    "/people/{person_id}/paycode/rotate", response_model=PaycodeRotateOut, responses=ERRORS
)
def post_paycode_rotate(
    person_id: IdPath, body: PaycodeRotateIn, actor: ActorDep, ctx: CtxDep
) -> PaycodeRotateOut:
    """Rotate a person's payment-code secret (their unit's admin, the bureau): codes made
    with the old one are refused as ``code_revoked``; the secret itself is never shown
    here — the person's phone fetches it."""
    done = paycode_keys.rotate(ctx, actor, person_id, phone_lost=body.phone_lost)
    return PaycodeRotateOut(
        person_id=person_id,
        phone_lost=body.phone_lost,
        sessions_ended=done.sessions_ended,
        status="rotated",
    )


class TerminalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    canteen_id: StrictInt = Field(gt=0)
    code: StrictStr = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    name: StrictStr = Field(default="", max_length=60)


class TerminalOut(BaseModel):
    code: str
    device_key: str | None = Field(description="shown once, at registration only")
    status: str


@router.post("/terminals", response_model=TerminalOut, responses=ERRORS)
def post_terminal(body: TerminalIn, actor: ActorDep, ctx: CtxDep) -> TerminalOut:
    """Register a terminal (消费机) at a canteen; the device key is returned only here."""
    key = terminals.register_terminal(ctx, actor, body.canteen_id, body.code, body.name)
    return TerminalOut(code=body.code, device_key=key, status="installed")


@router.post("/terminals/{code}/revoke", response_model=TerminalOut, responses=ERRORS)
def post_terminal_revoke(code: str, actor: ActorDep, ctx: CtxDep) -> TerminalOut:
    """Revoke a terminal: its next request is refused (403)."""
    terminals.revoke_terminal(ctx, actor, code)
    return TerminalOut(code=code, device_key=None, status="revoked")


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serves_visitors: StrictBool
    serves_guests: StrictBool
    purse_order: Literal["subsidy_first", "cash_first"]


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=20)
    starts: time
    ends: time
    per_person_limit: StrictInt = Field(ge=0, le=20, description="0 means no limit")
    prices: dict[Literal["own", "visitor", "guest"], StrictInt]


@router.get("/canteens/{canteen_id}/rules", responses=ERRORS)
def get_rules(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """The canteen's rules and meal-price table (R-U1)."""
    return rules.describe(ctx, actor, canteen_id)


@router.put("/canteens/{canteen_id}/rules", responses=ERRORS, status_code=204)
def put_rules(canteen_id: IdPath, body: RulesIn, actor: ActorDep, ctx: CtxDep) -> None:
    """Set who is served and which purse pays first — the owning unit's admin only."""
    rules.set_canteen_rules(
        ctx,
        actor,
        canteen_id,
        serves_visitors=body.serves_visitors,
        serves_guests=body.serves_guests,
        purse_order=body.purse_order,
    )


@router.put("/canteens/{canteen_id}/meal-periods/{code}", responses=ERRORS)
def put_meal_period(
    canteen_id: IdPath, code: str, body: PeriodIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, int]:
    """Create or replace a meal period with its window, count limit and prices (fen)."""
    spec = rules.PeriodSpec(
        code=code,
        name=body.name,
        starts=body.starts,
        ends=body.ends,
        per_person_limit=body.per_person_limit,
        prices={str(k): v for k, v in body.prices.items()},
    )
    return {"meal_period_id": rules.set_meal_period(ctx, actor, canteen_id, spec)}
