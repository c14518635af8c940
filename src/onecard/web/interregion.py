"""The bureau's page of cross-region dining (issue 17 §2): ``/bureau/interregion`` lists
the dining agreements (regions, units, canteens, price class, purse, dates, state) and
the quarterly clearing statements (gross, confirmations, booking, payout) with their
Excel (the API's ``/api/v1/interregion/statements/{id}.xlsx``). Read only: the bureau
acts through the API and ``onecard interregion``. Starts with ``scopes.bureau_scope``;
the page runs no SQL.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from onecard.interregion import queries
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.scopes import bureau_scope
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


@router.get("/bureau/interregion")
def interregion_page(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return render(
        request,
        "bureau/interregion.html",
        actor=actor,
        tab="interregion",
        agreements=queries.agreements(ctx),
        statements=queries.statements(ctx),
    )
