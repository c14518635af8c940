"""The bureau's partner page (合作方接口): the partner systems that call the open API —
create one (its secret shown once), rotate its secret (the old one valid for a grace
period), revoke it.

Contract: the city's readers see the list (never a secret); only the bureau admin writes
(the service checks the actor again and audits each change). A refused write is shown
on the page with its 4xx status.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.org.actors import Actor
from onecard.partners import queries, service, signing
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.scopes import bureau_scope, can_run_money
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _partners_page(
    request: Request,
    actor: Actor,
    ctx: Context,
    new_secret: tuple[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "bureau/partners.html",
        status_code=status_code,
        actor=actor,
        tab="partners",
        can_run=can_run_money(actor),
        is_admin=actor.has("bureau_admin"),
        partners=queries.partners(ctx),
        scopes=signing.SCOPES,
        grace_hours=signing.GRACE_HOURS,
        new_secret=new_secret,
        error=error,
    )


def _refused(request: Request, actor: Actor, ctx: Context, exc: OneCardError) -> Response:
    if status_for(exc) >= 500:
        raise exc
    return _partners_page(
        request, actor, ctx, error=exc.message(request_lang(request)), status_code=status_for(exc)
    )


@router.get("/bureau/partners")
def partner_list(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return _partners_page(request, actor, ctx)


@router.post("/bureau/partners")
def partner_create(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    client_id: Annotated[str, Form(max_length=40)],
    name: Annotated[str, Form(max_length=100)],
    scope: Annotated[list[str] | None, Form()] = None,
) -> Response:
    bureau_scope(actor)
    try:
        secret = service.create(ctx, actor, client_id.strip(), name, scope or [])
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return _partners_page(request, actor, ctx, new_secret=(client_id.strip(), secret))


@router.post("/bureau/partners/{client_id}/rotate")
def partner_rotate(request: Request, client_id: str, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    try:
        secret = service.rotate(ctx, actor, client_id)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return _partners_page(request, actor, ctx, new_secret=(client_id, secret))


@router.post("/bureau/partners/{client_id}/revoke")
def partner_revoke(request: Request, client_id: str, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    try:
        service.revoke(ctx, actor, client_id)
    except OneCardError as exc:
        return _refused(request, actor, ctx, exc)
    return _partners_page(request, actor, ctx)
