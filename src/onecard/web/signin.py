"""The sign-in flow the pages share (``web.auth``, ``web.activation``): where a
half-signed-in session goes next, where home is for an actor, the attempt's origin.

Contract: no routes, no writes; redirects are 303 (a form's POST becomes a GET).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from onecard.org.actors import CITY_READERS, Actor
from onecard.web import accounts
from onecard.web.deps import CtxDep, get_actor

NO_STORE = {"Cache-Control": "no-store"}


def safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def home_for(actor: Actor) -> str:
    if actor.can_read_everything():
        return "/bureau"
    if actor.holds(*CITY_READERS):  # a region's bureau or reader (issue 17 §1)
        return "/bureau/dashboard"
    for role, unit_id, _ in sorted(actor.grants, key=lambda g: (g[0], g[1] or 0)):
        if role == "unit_admin" and unit_id is not None:
            return f"/unit/{unit_id}"
    if actor.has("canteen_manager"):
        return "/till"
    return "/me"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def client_of(request: Request) -> accounts.Client:
    """The attempt's origin. Behind a reverse proxy, uvicorn's ``--proxy-headers`` (on by
    default for a proxy on 127.0.0.1) makes this the address the proxy saw."""
    host = request.client.host if request.client else "unknown"
    return accounts.Client(host, request.headers.get("user-agent", "")[:200])


def next_stage(request: Request, ctx: CtxDep) -> Response:
    """Send a half-signed-in session to its next stage, or home when all are done."""
    s = request.session
    stage = s.get("stage")
    if stage == "change":
        return see_other("/login/password")
    if stage in ("totp", "enrol"):
        return see_other("/login/totp")
    s["verified"] = True
    s.pop("stage", None)
    target = safe_next(s.pop("next", None))
    if target:
        return see_other(target)
    return see_other(home_for(get_actor(request, ctx)))


def second_stage(needs: bool, has_totp: bool) -> str | None:
    if needs:
        return "totp" if has_totp else "enrol"
    return None
