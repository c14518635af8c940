"""FastAPI dependencies shared by every router: the context, the terminal, the actor.

Contract: ``CtxDep`` is the app's ``Context``; ``TerminalDep`` authenticates a terminal
from ``Authorization: Terminal <code>:<device key>``; ``ActorDep`` is the signed-in
person (session cookie) with their role grants, or raises ``AuthError`` (401).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select

from onecard.core.context import Context
from onecard.core.errors import AuthError, TerminalUnauthorized
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.pay.service import TerminalIdentity, authenticate_terminal


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def get_terminal(request: Request, ctx: CtxDep) -> TerminalIdentity:
    header = request.headers.get("authorization", "")
    scheme, _, cred = header.partition(" ")
    code, sep, key = cred.partition(":")
    if scheme.lower() != "terminal" or not sep or not code or not key:
        raise TerminalUnauthorized()
    return authenticate_terminal(ctx, code.strip(), key.strip())


TerminalDep = Annotated[TerminalIdentity, Depends(get_terminal)]


def get_actor(request: Request, ctx: CtxDep) -> Actor:
    session = request.scope.get("session") or {}
    pid = session.get("person_id")
    if not pid or not session.get("verified", False):
        raise AuthError()
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Person.id, Person.name, Person.unit_id, Person.status).where(Person.id == pid)
        ).first()
        if row is None or row.status != "active":
            raise AuthError()
        return Actor.load(conn, int(row.id), f"person:{row.id}:{row.name}", int(row.unit_id))


ActorDep = Annotated[Actor, Depends(get_actor)]
