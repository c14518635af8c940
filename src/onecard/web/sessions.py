"""Sessions on the web: the cookie holds a random token, everything else stays on the server.

Contract: ``ServerSessions`` (pure ASGI middleware) reads the ``onecard_session`` cookie,
finds its live session (``org.sessions.find``) and puts the session's server-side state
in ``scope["session"]`` (so ``request.session`` is that dict) and a ``SessionState`` in
``scope["onecard.session"]``. When the response starts it stores the state if a route
changed it, sets the cookie for a session a route opened (``adopt``), and deletes the
cookie of a session that ended or was not found. Static files skip all of it.

The cookie (HttpOnly, SameSite=Lax, Secure in production) says nothing to whoever reads
it: no person, no stage, no secret — a token the server looks up by its SHA-256. The
CSRF cookie ``onecard_csrf`` is another random value (``web.csrf``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onecard.core.context import Context
from onecard.org import sessions

SESSION_COOKIE = "onecard_session"
CSRF_COOKIE = "onecard_csrf"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


@dataclass
class SessionState:
    """The request's session: ``id``/``person_id`` when one is live, its ``data``."""

    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    person_id: int | None = None
    snapshot: str = "{}"
    new_token: str | None = None
    drop_cookie: bool = False
    csrf_seed: str | None = None
    new_csrf: bool = False

    @property
    def verified(self) -> bool:
        """Signed in with every step done (password, forced change, second factor)."""
        return self.person_id is not None and bool(self.data.get("verified"))


def state(request: Request) -> SessionState:
    found = request.scope.get("onecard.session")
    if not isinstance(found, SessionState):  # an app built without the middleware
        found = SessionState()
        request.scope["onecard.session"] = found
        request.scope.setdefault("session", found.data)
    return found


def adopt(request: Request, opened: sessions.Opened, person_id: int, data: dict[str, Any]) -> None:
    """Make ``opened`` this browser's session (its cookie is set with the response)."""
    st = state(request)
    st.id = opened.id
    st.person_id = person_id
    st.data.clear()
    st.data.update(data)
    st.snapshot = ""  # stored when the response starts
    st.new_token = opened.token
    st.drop_cookie = False


def forget(request: Request) -> None:
    """This browser no longer has a session (it ended): the cookie goes."""
    st = state(request)
    st.id = None
    st.person_id = None
    st.data.clear()
    st.snapshot = "{}"
    st.new_token = None
    st.drop_cookie = True


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            return cookie_parser(value.decode("latin-1"))
    return {}


def valid_token(value: str | None) -> bool:
    return value is not None and _TOKEN.fullmatch(value) is not None


class ServerSessions:
    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx
        self.flags = "Path=/; HttpOnly; SameSite=Lax"
        if ctx.settings.env == "production":
            self.flags += "; Secure"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/static/"):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        st = SessionState()
        token = cookies.get(SESSION_COOKIE)
        if token is not None:
            live = (
                await run_in_threadpool(sessions.find, self.ctx, token)
                if valid_token(token)
                else None
            )
            if live is None:
                st.drop_cookie = True
            else:
                st.id, st.person_id = live.id, live.person_id
                st.data.update(live.data)
                st.snapshot = json.dumps(st.data, sort_keys=True)
        seed = cookies.get(CSRF_COOKIE)
        st.csrf_seed = seed if valid_token(seed) else None
        scope["session"] = st.data
        scope["onecard.session"] = st

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._finish(st, message)
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    async def _finish(self, st: SessionState, message: Message) -> None:
        if st.id is not None and json.dumps(st.data, sort_keys=True) != st.snapshot:
            await run_in_threadpool(sessions.save_data, self.ctx, st.id, dict(st.data))
            st.snapshot = json.dumps(st.data, sort_keys=True)
        headers = MutableHeaders(scope=message)
        if st.new_token is not None:
            max_age = self.ctx.settings.session_max_hours * 3600
            headers.append(
                "Set-Cookie", f"{SESSION_COOKIE}={st.new_token}; Max-Age={max_age}; {self.flags}"
            )
        elif st.drop_cookie:
            headers.append("Set-Cookie", f'{SESSION_COOKIE}=""; Max-Age=0; {self.flags}')
        if st.new_csrf and st.csrf_seed:
            headers.append("Set-Cookie", f"{CSRF_COOKIE}={st.csrf_seed}; {self.flags}")
