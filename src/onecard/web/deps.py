"""FastAPI dependencies shared by every router: the context, the terminal, the actor.

Contract: ``CtxDep`` is the app's ``Context``; ``TerminalDep`` authenticates a terminal
from ``Authorization: Terminal <code>:<device key>``; ``PayingTerminalDep`` is the same
for the payment route, recognising terminals in memory when payments are batched;
``ActorDep`` is the signed-in person (their server-side session, ``web.sessions``) with
their role grants, or raises ``AuthError`` (401) — ``PasswordChangeRequired`` (403; pages
redirect to /login/password) for a session that must change its password first. ``IdPath``, ``IdQuery``,
``OptionalIdQuery`` and ``IdForm`` are the one type of every id a request names:
1 … 2⁶³−1 (a BIGINT), so a larger one is a 422 in the error shape before any query
runs (``tests/web/test_ids.py`` checks that every route uses them).
The actor and the terminal are both admitted by the route's declared rule
(``web.permissions``: 403 for a caller whom no clause admits) before any route runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Path, Query, Request
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool

from onecard.core.context import Context
from onecard.core.errors import AuthError, PasswordChangeRequired, TerminalUnauthorized
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.pay.service import TerminalIdentity, authenticate_terminal
from onecard.web.permissions import admit_person, admit_terminal


async def get_ctx(request: Request) -> Context:
    # async: a plain ``def`` dependency costs every request a hop to the thread pool.
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]

MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int, Query(ge=1, le=MAX_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdForm = Annotated[int, Form(ge=1, le=MAX_ID)]

# Item lines in a page form: one ``sku`` and one ``qty`` per item the page offers (a till
# sends every item's field, 0 included). The length limits are each value's; the list's
# own cap is the most items a form may carry. (``Form(max_length=…)`` on a ``list`` caps
# the list, not its strings: a canteen with 4 items could not take a payment.)
MAX_FORM_ITEMS = 2000
SkuForm = Annotated[
    list[Annotated[str, StringConstraints(max_length=32)]] | None,
    Form(max_length=MAX_FORM_ITEMS),
]
QtyForm = Annotated[
    list[Annotated[str, StringConstraints(max_length=3)]] | None,
    Form(max_length=MAX_FORM_ITEMS),
]


def parse_terminal_credentials(header: str) -> tuple[str, str] | None:
    """``Terminal <code>:<device key>`` → (code, key); None if malformed. (Also read by
    ``pay.fast_route``, so both paths accept exactly the same headers.)"""
    scheme, _, cred = header.partition(" ")
    code, sep, key = cred.partition(":")
    if scheme.lower() != "terminal" or not sep or not code.strip() or not key.strip():
        return None
    return code.strip(), key.strip()


def terminal_credentials(request: Request) -> tuple[str, str]:
    """``Authorization: Terminal <code>:<device key>`` → (code, key), or 401."""
    found = parse_terminal_credentials(request.headers.get("authorization", ""))
    if found is None:
        raise TerminalUnauthorized()
    return found


def get_terminal(request: Request, ctx: CtxDep) -> TerminalIdentity:
    ident = authenticate_terminal(ctx, *terminal_credentials(request))
    admit_terminal(request)
    return ident


TerminalDep = Annotated[TerminalIdentity, Depends(get_terminal)]


@dataclass(frozen=True)
class PayingTerminal:
    """A terminal taking a payment; ``key_hash`` set when the payment batch confirms it."""

    identity: TerminalIdentity
    key_hash: str | None


async def get_paying_terminal(request: Request, ctx: CtxDep) -> PayingTerminal:
    """With group commit on, a terminal seen before is recognised in memory (no database
    round trip, no thread hop) and its batch confirms it in the payment's transaction
    (``pay.terminal_keys``); otherwise the terminal is looked up as ``get_terminal`` does.
    """
    code, key = terminal_credentials(request)
    admit_terminal(request)
    batcher = getattr(ctx, "payment_batcher", None)
    if batcher is None:
        ident = await run_in_threadpool(authenticate_terminal, ctx, code, key)
        return PayingTerminal(ident, None)
    found = batcher.terminals.recall(code, key)
    if found is None:
        found = await run_in_threadpool(batcher.terminals.identify, code, key)
    return PayingTerminal(*found)


PayingTerminalDep = Annotated[PayingTerminal, Depends(get_paying_terminal)]


def get_actor(request: Request, ctx: CtxDep) -> Actor:
    """The signed-in person, admitted by the route's declared rule (``web.permissions``).
    A session whose person has left, or whose role grants changed since it signed in, is
    ended here and answers 401 (sign in again)."""
    actor = _signed_in(request, ctx)
    # An error page drawn later in this request (``web.errors.html_error``) shows the
    # signed-in person's menu, not the signed-out one.
    request.state.actor = actor
    admit_person(request, actor)
    return actor


def _signed_in(request: Request, ctx: Context) -> Actor:
    from onecard.org import sessions
    from onecard.web.sessions import forget, state

    session = state(request)
    pid = session.person_id
    if pid is None or not session.verified:
        if pid is not None and session.data.get("stage") == "change":
            raise PasswordChangeRequired()
        raise AuthError()
    actor = org_queries.active_actor(ctx, pid)
    if actor is None or session.data.get("grants") != sessions.grants_fingerprint(actor.grants):
        assert session.id is not None
        reason = "role_changed" if actor is not None else "inactive"
        sessions.end_one(ctx, session.id, reason)
        forget(request)
        raise AuthError()
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]
