"""The FastAPI application: JSON API for terminals, diners and administrators, plus pages.

Contract: ``create_app(ctx)`` wires routers, error handlers and the guards that run
before any route: bodies over ``max_body_bytes`` get 413, API writes that are not JSON
get 415, text holding a NUL character gets 422 (``web.nul_guard``), cookie-carrying API writes from another site get 403 (``web.csrf``); sessions
are server-side (``web.sessions``) and every answer carries the security headers
(``web.headers``). Every route is checked against its declared rule
(``web.permissions``), and the OpenAPI document says every answer the edges can give
(``web.openapi``). Every error leaves as ``{"error": {"code", "message"}}``. Ordinary
terminal payments, when batched, are answered before all of it (``pay.fast_route``),
with the same answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onecard import __version__
from onecard.audit.service import origin as audit_origin
from onecard.catalogue import routes as catalogue_routes
from onecard.community import routes as community_routes
from onecard.core.context import Context
from onecard.core.errors import CrossSiteRefused, OneCardError
from onecard.faces import routes as face_routes
from onecard.feedback import routes as dish_routes
from onecard.funding import bank_routes
from onecard.funding import routes as funding_routes
from onecard.interregion import routes as interregion_routes
from onecard.menus import routes as menus_routes
from onecard.org import routes as org_routes
from onecard.partners import routes as partner_routes
from onecard.pay import admin_routes, ecny_routes, me_routes
from onecard.pay import routes as pay_routes
from onecard.reports import routes as report_routes
from onecard.rollout import routes as rollout_routes
from onecard.sourcing import routes as sourcing_routes
from onecard.surveys import routes as survey_routes
from onecard.terminals import routes as offline_routes
from onecard.waste import routes as waste_routes
from onecard.web import (
    activation,
    auth,
    bureau,
    community,
    diner,
    ecny_pages,
    face,
    interregion,
    menu_pages,
    offline_pages,
    openapi,
    org,
    org_import,
    partners,
    per_capita,
    permissions,
    public,
    reconciliation,
    rollout,
    shop,
    sourcing,
    status,
    surveys,
    till,
    till_ecny,
    unit,
    unit_funding,
    waste,
)
from onecard.web import dishes as dish_pages
from onecard.web import errors as web_errors
from onecard.web.csrf import SAFE_METHODS
from onecard.web.headers import SecurityHeaders
from onecard.web.i18n import request_lang
from onecard.web.nul_guard import RefuseNul
from onecard.web.sessions import SESSION_COOKIE, ServerSessions

STATIC = Path(__file__).parent / "static"


# Paths whose bodies are uploads: imports, and a face picture (base64 in JSON).
UPLOAD_PATHS = ("/import", "/face", "/face-payments", "/offline/uploads")


class BodyLimit:
    """Refuse bodies larger than ``limit`` bytes, declared or streamed (413).

    File uploads (an ``…/import`` path, a face picture — ``…/face``,
    ``…/face-payments`` —, a terminal's batch of offline records — ``…/offline/uploads``,
    whose schema bounds it — or a multipart form) may be up to ``upload_limit``: a large
    unit's roster spreadsheet is bigger than any JSON request.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.default_limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        upload = str(scope.get("path", "")).endswith(UPLOAD_PATHS) or headers.get(
            b"content-type", b""
        ).startswith(b"multipart/form-data")
        limit = self.upload_limit if upload else self.default_limit
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(scope, send)
            return
        seen = 0
        overflow = False

        async def limited() -> Message:
            nonlocal seen, overflow
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    overflow = True
                    raise _BodyTooLarge()
            return msg

        async def guarded_send(message: Message) -> None:
            # Once a streamed body overflows, whatever the app makes of the error (FastAPI
            # turns any failure while reading a body into a 400) is dropped: it is a 413.
            if not overflow:
                await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited, guarded_send)
        if overflow:
            await _too_large(scope, send)


class _BodyTooLarge(Exception):
    """Raised from inside ``receive`` when a chunked body passes the limit."""


async def _too_large(scope: Scope, send: Send) -> None:
    code, zh, en = web_errors.HTTP_CODES[413]
    lang = request_lang(Request(scope))
    resp = web_errors.json_error(scope, 413, code, en if lang == "en" else zh)
    await resp(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


class JsonOnly:
    """API writes must be JSON (415 otherwise), before any route runs.

    A pure ASGI middleware (not ``@app.middleware("http")``, whose per-request task and
    body streaming cost ~10 % of a payment's CPU on the lunch-rush path). Exempt: the
    bank's callbacks (signed raw bodies) and file imports — though never in a type an HTML
    form can send, so a cross-site form cannot post a roster with an admin's session.
    A write with no body *and* no ``Content-Type`` passes (e.g. ``POST …/lost``); a
    cross-site form always names its type.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._refused(scope):
            request = Request(scope)
            err = web_errors.HTTP_CODES[415]
            msg = err[2] if request_lang(request) == "en" else err[1]
            resp = web_errors.json_error(scope, 415, err[0], msg)
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _refused(scope: Scope) -> bool:
        path: str = scope.get("path", "")
        if not path.startswith("/api/") or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return False
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type")
        has_body = (
            headers.get(b"content-length", b"0") != b"0"
            or b"transfer-encoding" in headers  # a chunked body has no length
            or ctype is not None
        )
        if not has_body or (ctype or b"").startswith(b"application/json"):
            return False
        if path.startswith("/api/v1/channels/"):
            return False
        media = (ctype or b"").split(b";")[0].strip().lower().decode("latin-1")
        return not (path.endswith("/import") and media not in FORM_TYPES)


class AuditOrigin:
    """Every change a request makes is recorded as coming from the client's address
    (``audit.service.current_origin``). Behind a reverse proxy the address is the one
    uvicorn resolves from ``X-Forwarded-For`` for the proxies it trusts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        with audit_origin(str(client[0]) if client else ""):
            await self.app(scope, receive, send)


class CrossSiteGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.refused(scope):
            request = Request(scope)
            exc = CrossSiteRefused()
            body = web_errors.error_body(exc.code, exc.message(request_lang(request)))
            await JSONResponse(body, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def refused(scope: Scope) -> bool:
        if not str(scope.get("path", "")).startswith("/api/") or scope.get("method") in (
            *SAFE_METHODS,
            "TRACE",
        ):
            return False
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers") or []:
            headers.setdefault(k, v)
        if SESSION_COOKIE.encode() not in headers.get(b"cookie", b""):
            return False
        source = headers.get(b"origin") or headers.get(b"referer")
        if source is None:
            return False
        host = headers.get(b"host", b"").decode("latin-1").lower()
        try:
            netloc = urlsplit(source.decode("latin-1")).netloc.lower()
        except ValueError:
            return True
        return not netloc or netloc != host


def create_app(
    ctx: Context, *, payment_fast_path: bool = True, bank_courier: bool = False
) -> FastAPI:
    """``payment_fast_path=False`` sends every terminal payment through FastAPI too
    (``pay.fast_route``; the tests compare the two). ``bank_courier`` (the served app)
    carries a sandbox bank's notifications to this server while it runs."""
    from onecard.pay.batcher import lifespan as payment_batching

    docs = ctx.settings.serve_api_docs
    lifespan = payment_batching(ctx)
    app = FastAPI(
        lifespan=with_bank_courier(ctx, lifespan) if bank_courier else lifespan,
        title="OneCard 食堂一卡通 API",
        version=__version__,
        description="Terminal payments, diners' accounts and administration. Money is "
        "integer fen (分) everywhere.",
        # The interactive docs load Swagger UI from the package, never from a CDN:
        # government intranets are often offline.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )

    if docs:

        @app.get("/docs", include_in_schema=False)
        async def swagger_ui() -> HTMLResponse:
            base = "/static/vendor/swagger-ui"
            return get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{app.title} · 接口文档",
                swagger_js_url=f"{base}/swagger-ui-bundle.js",
                swagger_css_url=f"{base}/swagger-ui.css",
                swagger_favicon_url=f"{base}/favicon-32x32.png",
            )

    app.state.ctx = ctx
    app.add_exception_handler(OneCardError, web_errors.onecard_error_handler)
    app.add_exception_handler(RequestValidationError, web_errors.validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, web_errors.http_error_handler)

    # Innermost: nothing a NUL would break runs before it (web.nul_guard).
    app.add_middleware(RefuseNul)
    app.add_middleware(JsonOnly)
    app.add_middleware(AuditOrigin)
    app.add_middleware(CrossSiteGuard)
    app.add_middleware(ServerSessions, ctx=ctx)
    app.add_middleware(
        BodyLimit, limit=ctx.settings.max_body_bytes, upload_limit=ctx.settings.max_upload_bytes
    )
    app.add_middleware(SecurityHeaders)
    if payment_fast_path:
        from onecard.pay.fast_route import PaymentFastPath

        # Added last, so it runs first: an ordinary terminal payment skips the rest.
        app.add_middleware(PaymentFastPath, ctx=ctx, limit=ctx.settings.max_body_bytes)
    # Added very last, so it wraps everything: no error leaves as a plain-text 500.
    app.add_middleware(web_errors.LastResort)

    # Routers, mounted by plain imports: the API, then the pages (server-rendered,
    # CSRF-protected forms).
    for router in (
        pay_routes.router,
        offline_routes.router,
        me_routes.router,
        admin_routes.router,
        status.router,
        funding_routes.router,
        bank_routes.router,
        bank_routes.notify_router,
        ecny_routes.router,
        org_routes.router,
        rollout_routes.router,
        face_routes.router,
        catalogue_routes.router,
        community_routes.router,
        interregion_routes.router,
        waste_routes.router,
        partner_routes.router,
        dish_routes.router,
        sourcing_routes.router,
        survey_routes.router,
        report_routes.router,
        auth.router,
        activation.router,
        public.router,
        diner.router,
        face.router,
        till.router,
        till_ecny.router,
        unit.router,
        unit_funding.router,
        reconciliation.router,
        ecny_pages.router,
        offline_pages.router,
        bureau.router,
        org.router,
        org_import.router,
        rollout.router,
        shop.router,
        community.router,
        interregion.router,
        waste.router,
        partners.router,
        dish_pages.router,
        menus_routes.router,
        menu_pages.router,
        sourcing.router,
        surveys.router,
        per_capita.router,
    ):
        app.include_router(router)
    if STATIC.exists():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Last, once every route exists: each one finds its declared rule from now on, and
    # the document says every answer the edges can give.
    permissions.install(app)
    openapi.install(app)
    return app


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")

Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[None]]


def with_bank_courier(ctx: Context, inner: Lifespan) -> Lifespan:
    """``inner``, plus — when the bank is the sandbox — a courier that delivers its
    notifications to this server's own handler while the app runs (as the bank's
    callbacks would reach ``/api/v1/channels/bank/notify``)."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        from onecard.channels.courier import Courier
        from onecard.channels.sandbox import SandboxBank
        from onecard.funding.notifications import handle_bank_notification

        courier = None
        if isinstance(ctx.bank, SandboxBank):
            courier = Courier(
                ctx.bank, lambda body, sig: handle_bank_notification(ctx, body, sig)
            ).start()
        try:
            async with inner(app):
                yield
        finally:
            if courier is not None:
                courier.stop()

    return run
