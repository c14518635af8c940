"""Security headers on every answer (pure ASGI middleware).

Contract: each response gets, unless it set its own, a Content-Security-Policy that runs
only the server's own script files (no inline script, no ``eval``, no other origin),
refuses framing (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``), plus
``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (the origin check
of ``web.csrf`` still sees same-site referrers; no address leaves for another site) and
``Cross-Origin-Opener-Policy: same-origin``. Styles may be inline (``style=""`` on a few
elements, htmx's indicator style); scripts may not — every page's behaviour lives in
``static/js``. The interactive API docs (``/docs``: Swagger UI starts itself with an
inline script FastAPI writes) get the one exception, ``script-src 'unsafe-inline'``
on that path alone.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope.get("path") == "/docs" else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", csp)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
