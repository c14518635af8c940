"""The one place where errors become HTTP answers.

Contract:
- ``status_for(exc)`` walks the exception's class hierarchy and returns the first mapped
  status, so every class in ``core.errors`` has one (a test checks none is left to the
  generic 500).
- Every error answer of the API is ``json_error``'s: ``{"error": {"code", "message",
  "request_id", …}}`` with the message in the request's language (zh-CN unless the client
  asks for English) and the same id in the ``X-Request-ID`` header. The id is the
  client's own ``X-Request-ID`` when it sent a sane one, else a fresh random one; it is
  made only when an error is answered (the payment path pays nothing for it). A 503
  also carries ``Retry-After``.
- ``LastResort`` (the outermost middleware) answers whatever else escaped: an error that
  says the database cannot do it now (``core.db.is_unavailable``) is ``503
  service_unavailable``; anything else is ``500 internal_error``, logged with its request
  id and traceback. Pages get the same as an HTML page, the id shown.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onecard.core import errors as e
from onecard.core.db import brief, is_unavailable
from onecard.core.errors import BankUnavailable
from onecard.web.i18n import request_lang
from onecard.web.templating import render

log = logging.getLogger(__name__)

STATUS: dict[type[e.OneCardError], int] = {
    e.OneCardError: 500,
    e.InvalidInput: 422,
    e.ImportRejected: 422,
    e.NotFound: 404,
    e.AuthError: 401,
    e.TerminalUnauthorized: 401,
    e.TerminalRevoked: 403,
    e.TerminalNotLive: 403,
    e.FacePayNotEnabled: 403,
    e.Forbidden: 403,
    e.PasswordChangeRequired: 403,
    e.Conflict: 409,
    e.Refused: 402,
    e.LedgerError: 500,
    e.Unavailable: 503,
    BankUnavailable: 503,
}
# How long a client should wait before retrying a 503 (seconds, ``Retry-After``).
RETRY_AFTER_S = 1


def status_for(exc: e.OneCardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


REQUEST_ID = "x-request-id"
_SCOPE_KEY = "onecard.request_id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id(scope: Scope) -> str:
    """This request's id: the client's ``X-Request-ID`` if sane, else a random one (made
    once per request, on first use)."""
    rid = scope.get(_SCOPE_KEY)
    if rid is None:
        sent = next((v for k, v in scope.get("headers") or () if k == REQUEST_ID.encode()), b"")
        text = sent.decode("latin-1")
        rid = text if _SANE_ID.fullmatch(text) else uuid.uuid4().hex
        scope[_SCOPE_KEY] = rid
    return str(rid)


def json_error(
    scope: Scope,
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    """The API's one error answer (see the module docstring)."""
    rid = request_id(scope)
    out = {"X-Request-ID": rid, **(headers or {})}
    if status == 503:
        out.setdefault("Retry-After", str(RETRY_AFTER_S))
    return JSONResponse(
        error_body(code, message, request_id=rid, **extra), status_code=status, headers=out
    )


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the JSON API, health check and assets keep JSON."""
    path = request.url.path
    return not (
        path.startswith(("/api/", "/static/", "/docs", "/openapi", "/redoc"))
        or path in ("/healthz", "/readyz")
    )


def html_error(request: Request, status: int, message: str) -> Response:
    titles = {403: "无权访问", 404: "页面不存在"}
    resp = render(
        request,
        "error.html",
        status_code=status,
        status=status,
        title=titles.get(status, "出错了"),
        message=message,
        actor=getattr(request.state, "actor", None),
    )
    resp.headers["X-Request-ID"] = request_id(request.scope)
    return resp


async def onecard_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.OneCardError)
    if wants_html(request):
        status = status_for(exc)
        if isinstance(exc, e.PasswordChangeRequired):
            # Until the password is changed, every page leads to the change form.
            if request.headers.get("hx-request"):
                return Response(status_code=403, headers={"HX-Redirect": "/login/password"})
            return RedirectResponse("/login/password", status_code=303)
        if status == 401:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": "/login"})
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return html_error(request, status, exc.message(request_lang(request)))
    return json_error(request.scope, status_for(exc), exc.code, exc.message(request_lang(request)))


FIELD_CODES = {"amount_fen": e.InvalidAmount, "credential": e.MalformedCredential}


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """Pydantic's 422 in our shape: a stable code, a Chinese message, the fields at fault."""
    assert isinstance(exc, RequestValidationError)
    lang = request_lang(request)
    fields = []
    err_cls: type[e.OneCardError] = e.InvalidInput
    for item in exc.errors():
        loc = [str(p) for p in item.get("loc", ()) if p != "body"]
        fields.append({"field": ".".join(loc), "problem": item.get("msg", "")})
        for part in loc:
            if part in FIELD_CODES:
                err_cls = FIELD_CODES[part]
    err = err_cls()
    if wants_html(request):
        detail = "；".join(f"{f['field']}: {f['problem']}" for f in fields)
        return html_error(request, 422, f"{err.message(lang)}（{detail}）")
    return json_error(request.scope, 422, err.code, err.message(lang), fields=fields)


HTTP_CODES = {
    400: ("malformed_body", "请求体无法解析（应为 JSON）", "The request body could not be parsed"),
    404: ("not_found", "未找到该地址", "Not found"),
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    413: ("body_too_large", "请求体过大", "Request body too large"),
    415: ("unsupported_media_type", "请求必须为 application/json", "Body must be application/json"),
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, zh, en = HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail), str(exc.detail)))
    msg = en if request_lang(request) == "en" else zh
    if wants_html(request) and exc.status_code in (404, 405):
        return html_error(request, exc.status_code, msg)
    return json_error(request.scope, exc.status_code, code, msg, headers=exc.headers)


INTERNAL = (
    "internal_error",
    "系统内部错误，已记录，请稍后重试",
    "Internal error (logged); please retry",
)


class LastResort:
    """Outermost middleware: nothing leaves as a plain-text 500 (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:  # half an answer is out: all that is left is to log it
                log.exception("error after the answer began (request %s)", request_id(scope))
                return
            answer = unexpected_error_answer(scope, exc)
            await answer(scope, receive, send)


def unexpected_error_answer(scope: Scope, exc: BaseException) -> Response:
    """503 when the database cannot do it now, else a logged 500; JSON or a page."""
    request = Request(scope)
    lang = request_lang(request)
    rid = request_id(scope)
    if is_unavailable(exc):
        log.warning("database unavailable (request %s): %s", rid, brief(exc))
        status, err = 503, e.Unavailable()
        code, message = err.code, err.message(lang)
    else:
        log.error(
            "unexpected error (request %s) on %s %s",
            rid,
            scope.get("method"),
            scope.get("path"),
            exc_info=exc,
        )
        status, (code, zh, en) = 500, INTERNAL
        message = en if lang == "en" else zh
    if wants_html(request):
        try:
            return html_error(request, status, f"{message}（{rid}）")
        except Exception:  # the page itself failed: the JSON answer still goes out
            log.exception("error page failed (request %s)", rid)
    return json_error(scope, status, code, message)
