"""No NUL character reaches the database.

Contract: a request whose path, query string, JSON body or URL-encoded form holds a NUL
character (U+0000) is answered ``422 invalid_input`` — in the API's error shape, or as the
error page for pages — before any route runs, so nothing is written. Why here and not in
each schema: PostgreSQL's ``text`` cannot hold NUL at all (not even as a query
parameter), so any string field of any route would otherwise end as a 500 on PostgreSQL
while SQLite stored it; one guard covers every field, present and future. Multipart
bodies (files, which hold NULs legitimately) pass; their text fields are short forms the
pages validate. A terminal's offline upload passes too: its records are free-form signed
JSON, each parsed on its own and refused with a reason (``terminals.service.Record``).
The OpenAPI document says the same of every input string (``web.openapi``).

Cost: a JSON body is scanned for the six bytes ``\\u0000`` (memchr speed) and parsed only
when they are there, to tell a real NUL from an escaped backslash followed by ``u0000``.
Ordinary terminal payments never come here (``pay.fast_route`` answers them first, and
its schema's ``txn_id`` pattern already refuses a NUL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onecard.core.errors import InvalidInput
from onecard.web import errors as web_errors
from onecard.web.i18n import request_lang

JSON_NUL = b"\\u0000"
FREE_FORM_PATHS = ("/api/v1/terminal/offline/uploads",)


class RefuseNul:
    """Pure ASGI (see ``web.app.JsonOnly`` for why not ``@app.middleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _nul_in_address(scope):
            await _refuse(scope, receive, send, "url")
            return
        kind = _body_kind(scope)
        if kind is None or scope.get("path") in FREE_FORM_PATHS:
            await self.app(scope, receive, send)
            return
        body, messages = await _read(receive)
        if (kind == "json" and _nul_in_json(body)) or (kind == "form" and b"%00" in body):
            await _refuse(scope, _replay(messages, receive), send, "body")
            return
        await self.app(scope, _replay(messages, receive), send)


def _nul_in_address(scope: Scope) -> bool:
    return "\x00" in str(scope.get("path", "")) or b"%00" in bytes(scope.get("query_string", b""))


def _body_kind(scope: Scope) -> str | None:
    if scope.get("method") not in ("POST", "PUT", "PATCH"):
        return None
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            if media == b"application/json":
                return "json"
            if media == b"application/x-www-form-urlencoded":
                return "form"
            return None
    return None


async def _read(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages that carried it (to hand on unchanged)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        msg = await receive()
        messages.append(msg)
        if msg["type"] != "http.request":
            break
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _nul_in_json(body: bytes) -> bool:
    if JSON_NUL not in body:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False  # not JSON: the route answers that itself
    return any("\x00" in text for text in _strings(doc))


def _strings(doc: object) -> Iterator[str]:
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def _refuse(scope: Scope, receive: Receive, send: Send, where: str) -> None:
    request = Request(scope, receive)
    err = InvalidInput()
    fields = [{"field": where, "problem": "NUL (U+0000) is not allowed in text"}]
    if web_errors.wants_html(request):
        answer = await web_errors.onecard_error_handler(request, err)
    else:
        lang = request_lang(request)
        answer = web_errors.json_error(scope, 422, err.code, err.message(lang), fields=fields)
    await answer(scope, receive, send)
