"""CSRF protection for every page form and htmx request.

Contract: ``csrf_token(request)`` returns the session's token (made on first use);
every form carries it as ``csrf_token`` and htmx sends it as ``X-CSRF-Token`` (set once
on ``<body hx-headers>``). ``csrf_protect`` is a router dependency: any unsafe request
without the matching token raises ``CsrfRefused`` (403) before the route runs. The JSON
API is not covered here: it takes no form posts and refuses non-JSON writes (415), which
a cross-site form cannot send without a CORS preflight.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from onecard.core.errors import Forbidden

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_FIELD_BYTES = 16 * 1024 * 1024


class CsrfRefused(Forbidden):
    code = "csrf_failed"
    zh = "页面已过期或请求来源不可信，请刷新页面后重试"
    en = "The page expired or the request did not come from it; reload and try again"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    given: object = request.headers.get("x-csrf-token")
    if not given:
        # A confirmed import carries its file back as a form field (base64): allow a
        # field as large as the body itself may be (BodyLimit bounds that).
        form = await request.form(max_part_size=MAX_FIELD_BYTES)
        given = form.get("csrf_token")
    if (
        not isinstance(expected, str)
        or not isinstance(given, str)
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        raise CsrfRefused()
