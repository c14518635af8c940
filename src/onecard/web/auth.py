"""Sign-in pages (staff number + password, forced change, TOTP second factor), signing
out, and the pages that end sessions or issue enrolment codes.

Contract: the session lives on the server (``web.sessions``; the cookie is a random
token). Its state holds ``verified``, True only after every stage this person needs is
done, in order: password → (forced change) → (authenticator enrolment, with the
bureau's enrolment code, or an authenticator code). ``ActorDep`` accepts only verified
sessions; a half-signed-in session lives ten minutes. Signing in ends the browser's
previous session and opens a new one (no fixation); changing the password ends every
session of the person and opens a fresh one here. While enrolling, the pending
authenticator secret stays in the server-side state, never in a cookie. "Sign out
everywhere" is on ``/me/security`` (and on ``/me``) for oneself and on a person's page
for the admins of their unit. Every POST here carries the CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from onecard.core.errors import AuthError, BadSecondFactor, InvalidInput, TooManyAttempts
from onecard.org import account_codes
from onecard.org import queries as org_queries
from onecard.org import sessions as org_sessions
from onecard.web import accounts
from onecard.web import sessions as web_sessions
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdPath, get_actor
from onecard.web.i18n import request_lang
from onecard.web.scopes import unit_scope
from onecard.web.signin import (
    NO_STORE,
    client_of,
    home_for,
    next_stage,
    safe_next,
    second_stage,
    see_other,
)
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _status_of(exc: AuthError) -> int:
    return 429 if isinstance(exc, TooManyAttempts) else 401


def _stage_after_password(result: accounts.SignedIn) -> str | None:
    if result.must_change_password:
        return "change"
    return second_stage(result.needs_second_factor, result.has_totp)


@router.get("/")
def root(request: Request, ctx: CtxDep) -> Response:
    if web_sessions.state(request).verified:
        try:
            return see_other(home_for(get_actor(request, ctx)))
        except AuthError:
            pass
    return see_other("/login")


@router.get("/login")
def login_form(request: Request, next: str | None = None, ended: bool = False) -> Response:
    notice = "已退出所有设备上的登录" if ended else None
    return render(request, "auth/login.html", next=safe_next(next) or "", error=None, notice=notice)


@router.post("/login")
def login(
    request: Request,
    ctx: CtxDep,
    staff_no: Annotated[str, Form(max_length=32)],
    password: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    st = web_sessions.state(request)
    try:
        result = accounts.sign_in(ctx, staff_no, password, client_of(request), replaces=st.id)
    except AuthError as exc:
        return render(
            request,
            "auth/login.html",
            status_code=_status_of(exc),
            next=safe_next(next) or "",
            error=exc.message(request_lang(request)),
            staff_no=staff_no,
        )
    data: dict[str, Any] = {
        "verified": False,
        "needs_2fa": result.needs_second_factor,
        "has_totp": result.has_totp,
        "grants": result.grants,
    }
    stage = _stage_after_password(result)
    if stage:
        data["stage"] = stage
    if safe_next(next):
        data["next"] = next
    web_sessions.adopt(request, result.session, result.person_id, data)
    return next_stage(request, ctx)


def _pending_person(request: Request) -> int:
    pid = web_sessions.state(request).person_id
    if pid is None:
        raise AuthError()
    return pid


@router.get("/login/password")
def password_form(request: Request) -> Response:
    _pending_person(request)
    forced = request.session.get("stage") == "change"
    if not forced and not web_sessions.state(request).verified:
        raise AuthError()
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
    if not forced and not web_sessions.state(request).verified:
        raise AuthError()
    try:
        if new != confirm:
            raise InvalidInput("两次输入的新密码不一致")
        data = dict(s)
        opened = accounts.change_password(
            ctx, pid, current, new, client_of(request), session_data=data
        )
    except (InvalidInput, AuthError) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 422
        return render(
            request,
            "auth/password.html",
            status_code=status,
            forced=forced,
            error=exc.message(request_lang(request)),
        )
    web_sessions.adopt(request, opened, pid, data)
    if forced:
        s.pop("stage", None)
        stage = second_stage(bool(s.get("needs_2fa")), bool(s.get("has_totp")))
        if stage:
            s["stage"] = stage
        return next_stage(request, ctx)
    return render(request, "auth/password.html", forced=False, error=None, done=True)


@router.get("/login/totp")
def totp_form(request: Request, ctx: CtxDep) -> Response:
    pid = _pending_person(request)
    stage = request.session.get("stage")
    if stage not in ("totp", "enrol"):
        return see_other("/")
    return _totp_page(request, ctx, pid, stage, None)


def _totp_page(
    request: Request, ctx: CtxDep, pid: int, stage: str, error: AuthError | None
) -> Response:
    qr_svg = secret = None
    if stage == "enrol":
        # The secret being enrolled lives in the server-side session until it is bound.
        secret = request.session.get("totp_pending")
        if not isinstance(secret, str):
            secret = accounts.new_totp_secret()
            request.session["totp_pending"] = secret
        uri = accounts.provisioning_uri(secret, org_queries.person_name(ctx, pid)["staff_no"])
        qr_svg = segno.make(uri, micro=False).svg_inline(scale=4)
    return render(
        request,
        "auth/totp.html",
        status_code=_status_of(error) if error else 200,
        enrol=stage == "enrol",
        secret=secret,
        qr_svg=qr_svg,
        error=error.message(request_lang(request)) if error else None,
        skip_code=account_codes.demo_skip_offered(ctx, pid),
    )


@router.post("/login/totp")
def totp_check(
    request: Request,
    ctx: CtxDep,
    code: Annotated[str, Form(max_length=12)],
    enrolment_code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    pid = _pending_person(request)
    stage = request.session.get("stage")
    try:
        if stage == "enrol":
            secret = request.session.get("totp_pending")
            if not isinstance(secret, str):
                raise BadSecondFactor()
            accounts.enrol_totp(ctx, pid, secret, code, enrolment_code, client_of(request))
            request.session.pop("totp_pending", None)
        elif stage == "totp":
            accounts.check_totp(ctx, pid, code, client_of(request))
        else:
            return see_other("/")
    except AuthError as exc:
        return _totp_page(request, ctx, pid, str(stage), exc)
    request.session.pop("stage", None)
    return next_stage(request, ctx)


@router.post("/logout")
def logout(request: Request, ctx: CtxDep) -> Response:
    st = web_sessions.state(request)
    if st.id is not None and st.person_id is not None:
        accounts.sign_out(ctx, st.id, st.person_id)
    web_sessions.forget(request)
    return see_other("/login")


# --- where am I signed in; sign out everywhere -------------------------------------------
@router.get("/me/security")
def my_security(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    assert actor.person_id is not None
    needs, has_totp = accounts.second_factor_state(ctx, actor.person_id)
    resp = render(
        request,
        "auth/security.html",
        actor=actor,
        sessions=org_sessions.live_sessions(ctx, actor.person_id),
        current=web_sessions.state(request).id,
        needs_2fa=needs,
        has_totp=has_totp,
        idle_minutes=ctx.settings.session_idle_minutes,
        max_hours=ctx.settings.session_max_hours,
    )
    resp.headers.update(NO_STORE)
    return resp


@router.post("/me/security/sign-out-everywhere")
def sign_out_everywhere(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    assert actor.person_id is not None
    org_sessions.end_all_sessions(ctx, actor, actor.person_id)
    web_sessions.forget(request)
    return see_other("/login?ended=1")


@router.post("/unit/{unit_id}/people/{person_id}/sessions/end")
def end_person_sessions(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    person = org_queries.member(ctx, unit_id, person_id)
    ended = org_sessions.end_all_sessions(ctx, actor, person_id, "ended_by_admin")
    if person_id == actor.person_id:
        web_sessions.forget(request)
    return render(
        request,
        "auth/person_done.html",
        actor=actor,
        unit=unit,
        person=person,
        ended=ended,
        code=None,
    )


@router.post("/unit/{unit_id}/people/{person_id}/enrolment-code")
def issue_enrolment_code(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    person = org_queries.member(ctx, unit_id, person_id)
    code = accounts.issue_enrolment_code(ctx, actor, person_id)
    resp = render(
        request,
        "auth/person_done.html",
        actor=actor,
        unit=unit,
        person=person,
        ended=None,
        code=code,
        days=accounts.ENROLMENT_CODE_DAYS,
    )
    resp.headers.update(NO_STORE)
    return resp
