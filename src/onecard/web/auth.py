"""Sign-in pages: staff id + password, forced change at first sign-in, TOTP second factor.

Contract: the session (signed, HttpOnly cookie ``onecard_session``; Secure in production)
holds ``person_id`` and ``verified``. ``verified`` becomes True only after every stage
this person needs is done, in order: password → (forced change) → (TOTP enrolment or
TOTP code). ``ActorDep`` accepts only verified sessions. Signing in clears the old
session first (no fixation). Every POST here carries the CSRF token.
"""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from onecard.core.errors import AuthError, InvalidInput
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.web import accounts
from onecard.web.csrf import csrf_protect
from onecard.web.deps import CtxDep, get_actor
from onecard.web.errors import request_lang
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def home_for(actor: Actor) -> str:
    if actor.can_read_everything():
        return "/bureau"
    for role, unit_id, _ in sorted(actor.grants, key=lambda g: (g[0], g[1] or 0)):
        if role == "unit_admin" and unit_id is not None:
            return f"/unit/{unit_id}"
    if actor.has("canteen_manager"):
        return "/till"
    return "/me"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _next_stage(request: Request, ctx: CtxDep) -> Response:
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


def _stage_after_password(result: accounts.SignInResult, changed: bool = False) -> str | None:
    if result.must_change_password and not changed:
        return "change"
    if result.needs_second_factor:
        return "totp" if result.has_totp else "enrol"
    return None


@router.get("/")
def root(request: Request, ctx: CtxDep) -> Response:
    s = request.session
    if s.get("person_id") and s.get("verified"):
        try:
            return see_other(home_for(get_actor(request, ctx)))
        except AuthError:
            s.clear()
    return see_other("/login")


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "auth/login.html", next=safe_next(next) or "", error=None)


@router.post("/login")
def login(
    request: Request,
    ctx: CtxDep,
    staff_no: Annotated[str, Form(max_length=32)],
    password: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        result = accounts.sign_in(ctx, staff_no, password)
    except AuthError as exc:
        return render(
            request,
            "auth/login.html",
            status_code=401,
            next=safe_next(next) or "",
            error=exc.message(request_lang(request)),
            staff_no=staff_no,
        )
    csrf = request.session.get("csrf")
    request.session.clear()
    if csrf:
        request.session["csrf"] = csrf
    request.session.update(
        person_id=result.person_id,
        staff_no=result.staff_no,
        verified=False,
        must_change=result.must_change_password,
        needs_2fa=result.needs_second_factor,
        has_totp=result.has_totp,
    )
    stage = _stage_after_password(result)
    if stage:
        request.session["stage"] = stage
    if safe_next(next):
        request.session["next"] = next
    return _next_stage(request, ctx)


def _pending_person(request: Request) -> int:
    pid = request.session.get("person_id")
    if not isinstance(pid, int):
        raise AuthError()
    return pid


@router.get("/login/password")
def password_form(request: Request) -> Response:
    _pending_person(request)
    forced = request.session.get("stage") == "change"
    return render(request, "auth/password.html", forced=forced, error=None)


@router.post("/login/password")
def password_change(
    request: Request,
    ctx: CtxDep,
    current: Annotated[str, Form(max_length=128)],
    new: Annotated[str, Form(max_length=128)],
    confirm: Annotated[str, Form(max_length=128)],
) -> Response:
    pid = _pending_person(request)
    s = request.session
    forced = s.get("stage") == "change"
    if not forced and not s.get("verified"):
        raise AuthError()
    try:
        if new != confirm:
            raise InvalidInput("两次输入的新密码不一致")
        accounts.change_password(ctx, pid, current, new)
    except (InvalidInput, AuthError) as exc:
        return render(
            request,
            "auth/password.html",
            status_code=422,
            forced=forced,
            error=exc.message(request_lang(request)),
        )
    if forced:
        s.pop("stage", None)
        if s.get("needs_2fa"):
            s["stage"] = "totp" if s.get("has_totp") else "enrol"
        return _next_stage(request, ctx)
    return render(request, "auth/password.html", forced=False, error=None, done=True)


def _staff_no(request: Request, ctx: CtxDep, pid: int) -> str:
    with ctx.db.read() as conn:
        return str(conn.execute(select(Person.staff_no).where(Person.id == pid)).scalar_one())


@router.get("/login/totp")
def totp_form(request: Request, ctx: CtxDep) -> Response:
    pid = _pending_person(request)
    stage = request.session.get("stage")
    if stage not in ("totp", "enrol"):
        return see_other("/")
    return _totp_page(request, ctx, pid, stage, None)


def _totp_page(request: Request, ctx: CtxDep, pid: int, stage: str, error: str | None) -> Response:
    qr_svg = secret = None
    if stage == "enrol":
        secret = request.session.get("totp_pending")
        if not isinstance(secret, str):
            secret = accounts.new_totp_secret()
            request.session["totp_pending"] = secret
        uri = accounts.provisioning_uri(secret, _staff_no(request, ctx, pid))
        qr_svg = segno.make(uri, micro=False).svg_inline(scale=4)
    return render(
        request,
        "auth/totp.html",
        status_code=401 if error else 200,
        enrol=stage == "enrol",
        secret=secret,
        qr_svg=qr_svg,
        error=error,
    )


@router.post("/login/totp")
def totp_check(
    request: Request, ctx: CtxDep, code: Annotated[str, Form(max_length=12)]
) -> Response:
    pid = _pending_person(request)
    stage = request.session.get("stage")
    try:
        if stage == "enrol":
            secret = request.session.get("totp_pending")
            if not isinstance(secret, str):
                raise accounts.BadSecondFactor()
            accounts.enrol_totp(ctx, pid, secret, code)
            request.session.pop("totp_pending", None)
        elif stage == "totp":
            accounts.check_totp(ctx, pid, code)
        else:
            return see_other("/")
    except AuthError as exc:
        if isinstance(exc, accounts.AccountLocked):
            request.session.clear()
            return render(
                request,
                "auth/login.html",
                status_code=401,
                next="",
                error=exc.message(request_lang(request)),
            )
        return _totp_page(request, ctx, pid, str(stage), exc.message(request_lang(request)))
    request.session.pop("stage", None)
    return _next_stage(request, ctx)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return see_other("/login")
