"""Cross-site request forgery: tokens for every page form, an origin check for the API.

Contract:
- ``csrf_token(request)`` is an HMAC (the secret key) of the browser's random
  ``onecard_csrf`` cookie, made on first use. Every form carries it as ``csrf_token``,
  htmx sends it as ``X-CSRF-Token`` (set once on ``<body hx-headers>``). ``csrf_protect``
  is a router dependency: an unsafe request without the matching token raises
  ``CsrfRefused`` (403) before the route runs. The cookie outlives signing in (a form
  opened before it still posts) and holds nothing but random bytes.
- ``web.app.CrossSiteGuard`` (ASGI middleware, beside the app's other guards) refuses a cookie-carrying write to the JSON API
  (``/api/…`` POST/PUT/PATCH/DELETE) whose ``Origin`` — or, without one, ``Referer`` —
  names another host than the request's own (403, the JSON error shape). Browsers send
  ``Origin`` with every cross-origin write, so a request with neither header did not
  come from another site's page; terminals and the bank's callbacks carry no cookie and
  are not concerned. (The API also takes writes only as JSON: ``web.app.JsonOnly``.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator

from fastapi import Request

from onecard.core.errors import CsrfRefused
from onecard.web.sessions import state

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_FIELD_BYTES = 16 * 1024 * 1024


def _sign(request: Request, seed: str) -> str:
    key = request.app.state.ctx.settings.secret_key.encode()
    return hmac.new(key, f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_token(request: Request) -> str:
    st = state(request)
    if st.csrf_seed is None:
        st.csrf_seed = secrets.token_urlsafe(24)
        st.new_csrf = True
    return _sign(request, st.csrf_seed)


async def csrf_protect(request: Request) -> AsyncIterator[None]:
    """A form this reads is closed when the request ends, whoever refuses the request
    after it (the route's declared rule, ``web.permissions``): an upload's spooled file
    never outlives it. A route that reads the same form may close it too (harmless)."""
    if request.method in SAFE_METHODS:
        yield
        return
    form = None
    try:
        seed = state(request).csrf_seed
        given: object = request.headers.get("x-csrf-token")
        if not given:
            # A confirmed import carries its file back as a form field (base64): allow a
            # field as large as the body itself may be (BodyLimit bounds that).
            form = await request.form(max_part_size=MAX_FIELD_BYTES)
            given = form.get("csrf_token")
        if (
            seed is None
            or not isinstance(given, str)
            or not hmac.compare_digest(_sign(request, seed).encode(), given.encode())
        ):
            raise CsrfRefused()
        yield
    finally:
        if form is not None:
            await form.close()
