"""The terminal payment route without the web framework in its way.

Contract: ``PaymentFastPath`` is an ASGI middleware (the outermost of the app's own) that
answers ``POST /api/v1/terminal/payments`` itself when payments are batched and the
request is an ordinary one: a JSON body within ``max_body_bytes`` that validates as
``PaymentIn`` (parsed as FastAPI parses it), no cookie, from a terminal recognised in
memory (``pay.terminal_keys``). Its answer is the one the FastAPI route gives: the
payment's stored bytes, ``application/json``, 200; an error raised by the payment goes
through the app's own handler (``web.errors.onecard_error_handler``: a database that
cannot be reached is the batcher's 503 ``payment_not_confirmed``), and anything else it
raises is answered by ``web.errors.LastResort``, which wraps it too. Every other request
— no batcher, another path, a missing or odd header, a body that is too large, not JSON
or not valid, a terminal not in memory — goes to the full application untouched, its
body replayed, so each error answer keeps coming from the one place that makes it.

Why: at the lunch rush the payment route is nearly all the traffic, and by the profile
the web stack (routing, dependency solving, three middlewares, request and response
objects) was about a third of the server's CPU per payment; the payment itself needs
none of it. ``answered`` counts the payments taken here.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.pay.routes import payment_request
from onecard.pay.schemas import PaymentIn
from onecard.web import errors as web_errors
from onecard.web.deps import parse_terminal_credentials

PATH = "/api/v1/terminal/payments"


class PaymentFastPath:
    def __init__(self, app: ASGIApp, ctx: Context, limit: int) -> None:
        self.app = app
        self.ctx = ctx
        self.limit = limit
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        batcher = getattr(self.ctx, "payment_batcher", None)
        if (
            batcher is None
            or scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        auth = _ordinary_headers(scope, self.limit)
        if auth is None:
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive, self.limit)
        replay = _replaying(body, complete, receive)
        found = None
        doc = None
        if complete:
            found = batcher.terminals.recall(*auth)
            doc = _payment_in(body) if found is not None else None
        if found is None or doc is None:
            await self.app(scope, replay, send)
            return
        try:
            outcome = await batcher.pay(found[0], payment_request(doc), key_hash=found[1])
        except OneCardError as exc:
            answer = await web_errors.onecard_error_handler(Request(scope, replay), exc)
            await answer(scope, replay, send)
            return
        self.answered += 1
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(outcome.body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": outcome.body})


def _ordinary_headers(scope: Scope, limit: int) -> tuple[str, str] | None:
    """(terminal code, device key) when the headers are those of an ordinary payment: a
    JSON body of a declared length within ``limit``, a well-formed ``Terminal`` credential
    (``web.deps.parse_terminal_credentials``) and no cookie; else None."""
    ctype = auth = length = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            ctype = value
        elif name == b"authorization":
            auth = value
        elif name == b"content-length":
            length = value
        elif name in (b"cookie", b"transfer-encoding"):
            return None
    if ctype is None or auth is None or length is None:
        return None
    if not ctype.startswith(b"application/json") or not length.isdigit():
        return None
    if int(length) > limit:
        return None
    return parse_terminal_credentials(auth.decode("latin-1"))


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, and whether it is all there (False: the client went away or sent more
    than ``limit``; the full app then sees what was read, and the rest)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read first, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


def _payment_in(body: bytes) -> PaymentIn | None:
    """The body as FastAPI reads it (``json.loads``, then the model), or None."""
    try:
        return PaymentIn.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None
