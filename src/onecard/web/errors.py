"""The one place where domain errors become HTTP answers.

Contract: ``status_for(exc)`` walks the exception's class hierarchy and returns the
first mapped status, so every class in ``core.errors`` has one (a test checks none is
left to the generic 500). Error bodies are ``{"error": {"code", "message"}}`` with the
message in the request's language (zh-CN unless the client asks for English).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from onecard.channels.bank import BankUnavailable
from onecard.core import errors as e

STATUS: dict[type[e.OneCardError], int] = {
    e.OneCardError: 500,
    e.InvalidInput: 422,
    e.ImportRejected: 422,
    e.NotFound: 404,
    e.AuthError: 401,
    e.TerminalUnauthorized: 401,
    e.TerminalRevoked: 403,
    e.Forbidden: 403,
    e.Conflict: 409,
    e.Refused: 402,
    e.LedgerError: 500,
    BankUnavailable: 503,
}


def status_for(exc: e.OneCardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def request_lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang")
    if not lang:
        accept = request.headers.get("accept-language", "")
        lang = "en" if accept.lower().startswith("en") else "zh-CN"
    return "en" if lang.startswith("en") else "zh-CN"


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the JSON API, health check and assets keep JSON."""
    path = request.url.path
    return not (
        path.startswith(("/api/", "/static/", "/docs", "/openapi", "/redoc")) or path == "/healthz"
    )


def html_error(request: Request, status: int, message: str) -> Response:
    from onecard.web.templating import render

    titles = {403: "无权访问", 404: "页面不存在"}
    resp = render(
        request,
        "error.html",
        status_code=status,
        status=status,
        title=titles.get(status, "出错了"),
        message=message,
    )
    return resp


async def onecard_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.OneCardError)
    if wants_html(request):
        status = status_for(exc)
        if status == 401:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": "/login"})
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return html_error(request, status, exc.message(request_lang(request)))
    return JSONResponse(
        error_body(exc.code, exc.message(request_lang(request))), status_code=status_for(exc)
    )


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
    return JSONResponse(error_body(err.code, err.message(lang), fields=fields), status_code=422)


HTTP_CODES = {
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
    return JSONResponse(error_body(code, msg), status_code=exc.status_code, headers=exc.headers)
