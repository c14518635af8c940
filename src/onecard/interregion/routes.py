"""Cross-region dining API (/api/v1/interregion, issue 17 §2).

Thin: ``interregion.service`` checks the actor again (each side's bureau,
``require_region_bureau``) and holds every rule; reads come from ``interregion.queries``.
A move the agreement's state does not allow, or a second confirmation by one side, is
409 ``state_conflict``; accepting one's own proposal is 403 ``forbidden``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from onecard.core.errors import Forbidden
from onecard.core.tables import to_xlsx
from onecard.interregion import queries, service
from onecard.interregion.schemas import (
    AgreementIn,
    AgreementOut,
    BookedOut,
    IdOut,
    SideIn,
    StatementIn,
    StatementOut,
    StatusOut,
)
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath

router = APIRouter(prefix="/api/v1/interregion", tags=["interregion"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _reader(actor: Actor) -> None:
    if not actor.can_read_everything():
        raise Forbidden()


@router.get("/agreements", response_model=list[AgreementOut], responses=ERRORS)
def get_agreements(actor: ActorDep, ctx: CtxDep) -> Any:
    _reader(actor)
    return queries.agreements(ctx)


@router.post("/agreements", response_model=IdOut, status_code=201, responses=ERRORS)
def post_agreement(body: AgreementIn, actor: ActorDep, ctx: CtxDep) -> IdOut:
    """Propose an agreement (by ``side``'s bureau); the other side accepts it."""
    terms = service.AgreementIn(**body.model_dump(exclude={"side"}))
    return IdOut(id=service.propose(ctx, actor, body.side, terms))


@router.post("/agreements/{agreement_id}/accept", response_model=StatusOut, responses=ERRORS)
def post_accept(agreement_id: IdPath, body: SideIn, actor: ActorDep, ctx: CtxDep) -> StatusOut:
    """The other side's bureau accepts a proposed agreement."""
    return StatusOut(status=service.move(ctx, actor, agreement_id, "accept", body.side))


@router.post("/agreements/{agreement_id}/suspend", response_model=StatusOut, responses=ERRORS)
def post_suspend(agreement_id: IdPath, body: SideIn, actor: ActorDep, ctx: CtxDep) -> StatusOut:
    return StatusOut(status=service.move(ctx, actor, agreement_id, "suspend", body.side))


@router.post("/agreements/{agreement_id}/resume", response_model=StatusOut, responses=ERRORS)
def post_resume(agreement_id: IdPath, body: SideIn, actor: ActorDep, ctx: CtxDep) -> StatusOut:
    return StatusOut(status=service.move(ctx, actor, agreement_id, "resume", body.side))


@router.post("/agreements/{agreement_id}/end", response_model=StatusOut, responses=ERRORS)
def post_end(agreement_id: IdPath, body: SideIn, actor: ActorDep, ctx: CtxDep) -> StatusOut:
    return StatusOut(status=service.move(ctx, actor, agreement_id, "end", body.side))


@router.get("/statements", response_model=list[StatementOut], responses=ERRORS)
def get_statements(actor: ActorDep, ctx: CtxDep) -> Any:
    _reader(actor)
    return queries.statements(ctx)


@router.post("/statements", response_model=StatementOut, responses=ERRORS)
def post_statement(body: StatementIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Compute (again) the statement of (A, B, quarter); changed figures clear both
    confirmations."""
    sid = service.compute_statement(
        ctx, actor, body.home_region_id, body.host_region_id, body.quarter
    )
    return queries.statement(ctx, sid)


@router.get(
    "/statements/{statement_id}.xlsx",
    responses={**ERRORS, 200: {"content": {XLSX: {}}}},
    response_class=Response,
)
def get_statement_xlsx(statement_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    _reader(actor)
    body = to_xlsx(queries.statement_table(ctx, statement_id))
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="statement-{statement_id}.xlsx"'},
    )


@router.get("/statements/{statement_id}", response_model=StatementOut, responses=ERRORS)
def get_statement(statement_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    _reader(actor)
    return queries.statement(ctx, statement_id)


@router.post("/statements/{statement_id}/confirm", response_model=StatusOut, responses=ERRORS)
def post_confirm(statement_id: IdPath, body: SideIn, actor: ActorDep, ctx: CtxDep) -> StatusOut:
    """``side``'s bureau confirms the figures (once each)."""
    return StatusOut(status=service.confirm_statement(ctx, actor, statement_id, body.side))


@router.post("/statements/{statement_id}/book", response_model=BookedOut, responses=ERRORS)
def post_book(statement_id: IdPath, actor: ActorDep, ctx: CtxDep) -> BookedOut:
    """Book a confirmed statement and send its bank order (again: nothing more)."""
    b = service.book_statement(ctx, actor, statement_id)
    problem = service.send_payout(ctx, statement_id)
    return BookedOut(
        statement_id=b.statement_id,
        status=b.status,
        entry_id=b.entry_id,
        order_id=b.order_id,
        problem=problem,
    )
