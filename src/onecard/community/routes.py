"""Community canteens API (/api/v1/community, issue 17 §4).

Thin: ``community.service`` and ``community.claims`` check the actor again and hold every
rule; reads come from ``community.queries``. Writes are the civil affairs bureau's (today
the bureau: bureau admin or clearing operator); reads also for finance and auditors.
A love meal above the cap is 422 ``love_meal_above_cap``, an ID number that fails its
check 422 ``invalid_id_number``, a wallet short of its part 402 ``insufficient_funds``
(nothing written); a counter's retry with the same ``txn_id`` gets the first meal back.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from onecard.community import claims, queries, service
from onecard.community.schemas import (
    ApprovedOut,
    CanteenIn,
    ClaimIn,
    ClaimLineOut,
    ClaimOut,
    DishIn,
    EntryOut,
    IdOut,
    LineDecisionIn,
    MealIn,
    MealOut,
    RatingIn,
    RatingOut,
    ResidentIn,
    ResidentOut,
    RulesIn,
    RulesOut,
    TopUpIn,
)
from onecard.core.errors import Forbidden
from onecard.core.tables import to_xlsx
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath

router = APIRouter(prefix="/api/v1/community", tags=["community"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 402, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _reader(actor: Actor) -> None:
    if not actor.can_read_everything():
        raise Forbidden()


@router.get("/rules", response_model=RulesOut, responses=ERRORS)
def get_rules(actor: ActorDep, ctx: CtxDep) -> Any:
    """The rules in force (version 0: seed 003's defaults, nothing set yet)."""
    _reader(actor)
    r = queries.rules(ctx)
    return {"version": r["version"], "rules": asdict(r["rules"])}


@router.put("/rules", response_model=RulesOut, responses=ERRORS)
def put_rules(body: RulesIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """A new version of the rules: the items given change, the rest stay."""
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    version = service.set_rules(ctx, actor, changes, body.note)
    r = queries.rules(ctx)
    return {"version": version, "rules": asdict(r["rules"])}


@router.get("/residents", response_model=list[ResidentOut], responses=ERRORS)
def get_residents(actor: ActorDep, ctx: CtxDep) -> Any:
    _reader(actor)
    return queries.residents(ctx)


@router.post("/residents", response_model=IdOut, status_code=201, responses=ERRORS)
def post_resident(body: ResidentIn, actor: ActorDep, ctx: CtxDep) -> IdOut:
    """Register a resident (ID number checked, birth date from it) with a wallet."""
    rid = service.register_resident(
        ctx,
        actor,
        region_id=body.region_id,
        name=body.name,
        id_number=body.id_number,
        birth_date=body.birth_date,
        address=body.address,
        categories=body.categories,
    )
    return IdOut(id=rid)


@router.post("/residents/{resident_id}/topups", response_model=EntryOut, responses=ERRORS)
def post_topup(resident_id: IdPath, body: TopUpIn, actor: ActorDep, ctx: CtxDep) -> EntryOut:
    """Cash into the resident's wallet; the same ``key`` again books nothing more."""
    return EntryOut(entry_id=service.top_up(ctx, actor, resident_id, body.amount_fen, body.key))


@router.post("/canteens", response_model=IdOut, status_code=201, responses=ERRORS)
def post_canteen(body: CanteenIn, actor: ActorDep, ctx: CtxDep) -> IdOut:
    return IdOut(id=service.create_canteen(ctx, actor, **body.model_dump()))


@router.put("/canteens/{cc_id}/dishes", response_model=IdOut, responses=ERRORS)
def put_dish(cc_id: IdPath, body: DishIn, actor: ActorDep, ctx: CtxDep) -> IdOut:
    """Price a meal (a love meal at most the cap, else 422 ``love_meal_above_cap``)."""
    return IdOut(id=service.set_dish(ctx, actor, cc_id, body.name, body.price_fen, body.love))


@router.post("/canteens/{cc_id}/meals", response_model=MealOut, responses=ERRORS)
def post_meal(cc_id: IdPath, body: MealIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """A resident pays for a meal at the counter: the subsidy from the civil affairs
    fund, the rest from the wallet, one ledger entry."""
    paid = service.pay_meal(
        ctx,
        actor,
        canteen_id=cc_id,
        resident_id=body.resident_id,
        dish_id=body.dish_id,
        txn_id=body.txn_id,
        delivered=body.delivered,
    )
    return asdict(paid)


@router.post("/canteens/{cc_id}/claims", response_model=IdOut, responses=ERRORS)
def post_claim(cc_id: IdPath, body: ClaimIn, actor: ActorDep, ctx: CtxDep) -> IdOut:
    """Open (or bring up to date) the canteen's subsidy claim for the month."""
    return IdOut(id=claims.build_claim(ctx, actor, cc_id, body.month))


def _claim_out(view: queries.ClaimView) -> dict[str, Any]:
    keep = set(ClaimLineOut.model_fields)
    return {
        "id": view.id,
        "canteen": view.canteen,
        "month": view.month,
        "status": view.status,
        "total_fen": view.total_fen,
        "approved_fen": view.approved_fen,
        "rejected_fen": view.rejected_fen,
        "lines": [{k: v for k, v in line.items() if k in keep} for line in view.lines],
    }


@router.get("/claims/{claim_id}.xlsx", responses=ERRORS)
def get_claim_xlsx(claim_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    _reader(actor)
    table = queries.claim_table(queries.claim(ctx, claim_id))
    return Response(
        to_xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="claim-{claim_id}.xlsx"'},
    )


@router.get("/claims/{claim_id}", response_model=ClaimOut, responses=ERRORS)
def get_claim(claim_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """Every subsidised meal of the claim: who, when, category, subsidy, status."""
    _reader(actor)
    return _claim_out(queries.claim(ctx, claim_id))


@router.post("/claims/lines/{line_id}", status_code=204, responses=ERRORS)
def post_line_decision(
    line_id: IdPath, body: LineDecisionIn, actor: ActorDep, ctx: CtxDep
) -> Response:
    """Approve or reject one line (a rejection needs its reason)."""
    claims.decide_line(ctx, actor, line_id, body.approve, body.reason)
    return Response(status_code=204)


@router.post("/claims/{claim_id}/approve", response_model=ApprovedOut, responses=ERRORS)
def post_approve(claim_id: IdPath, actor: ActorDep, ctx: CtxDep) -> ApprovedOut:
    """Approve the claim (pending lines with it) and book it: approved to what is owed
    to the canteen, rejected back to the fund."""
    approved, rejected = claims.approve_claim(ctx, actor, claim_id)
    return ApprovedOut(approved_fen=approved, rejected_fen=rejected)


@router.post("/canteens/{cc_id}/ratings", response_model=RatingOut, responses=ERRORS)
def post_rating(cc_id: IdPath, body: RatingIn, actor: ActorDep, ctx: CtxDep) -> RatingOut:
    """Rate the canteen for a year (score, grade, operating subsidy booked)."""
    score, grade, amount = claims.rate_canteen(ctx, actor, cc_id, body.year, body.satisfaction_pct)
    return RatingOut(score=score, grade=grade, amount_fen=amount)
