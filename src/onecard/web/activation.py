"""Pages and API for getting people in: activation, activation codes, reset, unlock.

Contract:
- ``GET/POST /activate`` (public): staff number or phone + activation code + a new
  password (twice) → ``web.account_activation.activate``; the browser is then signed in and goes
  on as after a password (an administrator's role still asks for the authenticator).
- ``POST /unit/{unit_id}/people/{person_id}/activation-code | reset | unlock``: the
  person's unit admin or the bureau (``web.account_activation`` checks the actor again; a person
  holding a city role is the bureau admin's only). The code is shown once, on a page
  that prints as a slip; nothing caches it (``no-store``).
- ``POST /unit/{unit_id}/activation-codes`` (``format=sheet`` printable sheet, or
  ``format=xlsx`` an Excel list: name, staff no., unit, code, expiry) for the unit's
  people who have no password yet; ``reissue=yes`` also replaces live codes.
- The JSON API mirrors them under ``/api/v1/accounts/activate`` and
  ``/api/v1/admin/people/{person_id}/…``, ``/api/v1/admin/units/{unit_id}/activation-codes``.
Every POST page form carries the CSRF token (``csrf_protect``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from onecard.core.errors import AuthError, InvalidInput, TooManyAttempts
from onecard.org import queries as org_queries
from onecard.org import sessions as org_sessions
from onecard.pay.schemas import ErrorOut
from onecard.web import account_activation as activation
from onecard.web import sessions as web_sessions
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdPath
from onecard.web.i18n import request_lang
from onecard.web.scopes import unit_scope
from onecard.web.signin import NO_STORE, client_of, next_stage, second_stage
from onecard.web.templating import render

pages = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["accounts"])
router = APIRouter()


# --- activation (public) -----------------------------------------------------------------
@pages.get("/activate")
def activate_form(request: Request) -> Response:
    resp = render(request, "auth/activate.html", error=None, login="")
    resp.headers.update(NO_STORE)
    return resp


@pages.post("/activate")
def activate(
    request: Request,
    ctx: CtxDep,
    login: Annotated[str, Form(max_length=32)],
    code: Annotated[str, Form(max_length=40)],
    new: Annotated[str, Form(max_length=128)],
    confirm: Annotated[str, Form(max_length=128)],
) -> Response:
    st = web_sessions.state(request)
    try:
        if new != confirm:
            raise InvalidInput("两次输入的新密码不一致")
        result = activation.activate(ctx, login, code, new, client_of(request), replaces=st.id)
    except (InvalidInput, AuthError) as exc:
        status = (
            429
            if isinstance(exc, TooManyAttempts)
            else (401 if isinstance(exc, AuthError) else 422)
        )
        resp = render(
            request,
            "auth/activate.html",
            status_code=status,
            error=exc.message(request_lang(request)),
            login=login,
        )
        resp.headers.update(NO_STORE)
        return resp
    data: dict[str, Any] = {
        "verified": False,
        "needs_2fa": result.needs_second_factor,
        "has_totp": result.has_totp,
        "grants": result.grants,
    }
    stage = second_stage(result.needs_second_factor, result.has_totp)
    if stage:
        data["stage"] = stage
    web_sessions.adopt(request, result.session, result.person_id, data)
    return next_stage(request, ctx)


# --- one person: a code, a reset, an unlock ----------------------------------------------
def _slip(request: Request, actor: Any, unit: Any, person_id: int, **kw: Any) -> Response:
    resp = render(
        request, "auth/account_done.html", actor=actor, unit=unit, person_id=person_id, **kw
    )
    resp.headers.update(NO_STORE)
    return resp


@pages.post("/unit/{unit_id}/people/{person_id}/activation-code")
def person_code(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    issued = activation.issue_activation_code(ctx, actor, person_id)
    return _slip(request, actor, unit, person_id, issued=issued, what="code")


@pages.post("/unit/{unit_id}/people/{person_id}/reset")
def person_reset(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    done = activation.reset_account(ctx, actor, person_id)
    if person_id == actor.person_id:
        web_sessions.forget(request)
    return _slip(
        request, actor, unit, person_id, issued=done.issued, ended=done.sessions_ended, what="reset"
    )


@pages.post("/unit/{unit_id}/people/{person_id}/unlock")
def person_unlock(
    request: Request, unit_id: IdPath, person_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    org_queries.member(ctx, unit_id, person_id)
    cleared = activation.unlock_account(ctx, actor, person_id)
    return _slip(request, actor, unit, person_id, cleared=cleared, what="unlock", issued=None)


# --- a unit's codes: a printable sheet or an Excel list ----------------------------------
@pages.post("/unit/{unit_id}/activation-codes")
def unit_codes(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    format: Annotated[Literal["sheet", "xlsx"], Form()] = "sheet",
    reissue: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    issued = activation.issue_unit_codes(ctx, actor, unit_id, reissue=reissue == "yes")
    if format == "xlsx":
        stamp = ctx.clock.today().strftime("%Y%m%d")
        return Response(
            activation.codes_xlsx(issued),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={
                "Content-Disposition": f'attachment; filename="activation-codes-{unit.code}-{stamp}.xlsx"',
                **NO_STORE,
            },
        )
    resp = render(
        request,
        "unit/activation_codes.html",
        actor=actor,
        unit=unit,
        issued=issued,
        reissue=reissue == "yes",
    )
    resp.headers.update(NO_STORE)
    return resp


# --- the JSON API -----------------------------------------------------------------------
ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 422, 429)
}


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: StrictStr = Field(min_length=1, max_length=32, description="staff number or phone")
    code: StrictStr = Field(min_length=1, max_length=40)
    password: StrictStr = Field(
        min_length=8, max_length=128, description="8–128 characters, letters and digits"
    )


class ActivatedOut(BaseModel):
    person_id: int
    staff_no: str
    status: Literal["activated"]
    needs_second_factor: bool


class CodeOut(BaseModel):
    person_id: int
    staff_no: str
    name: str
    unit: str
    code: str = Field(description="shown once; only its HMAC is stored")
    expires_at: datetime


class ResetOut(CodeOut):
    sessions_ended: int


class UnlockOut(BaseModel):
    person_id: int
    counters_cleared: int


class UnitCodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reissue: StrictBool = False


class UnitCodesOut(BaseModel):
    codes: list[CodeOut]


def _code_out(i: activation.Issued) -> dict[str, Any]:
    return {
        "person_id": i.person_id,
        "staff_no": i.staff_no,
        "name": i.name,
        "unit": i.unit_name,
        "code": i.code,
        "expires_at": i.expires_at,
    }


@api.post("/accounts/activate", response_model=ActivatedOut, responses=ERRORS)
def api_activate(request: Request, body: ActivateIn, ctx: CtxDep) -> ActivatedOut:
    """Choose a password with an activation code (wrong codes count as wrong passwords:
    401 ``bad_activation_code``, then ``account_locked`` / 429 ``too_many_attempts``).
    The session this opens is ended at once: sign in with the new password."""
    result = activation.activate(ctx, body.login, body.code, body.password, client_of(request))
    org_sessions.end_one(ctx, result.session.id, "api_activation")
    return ActivatedOut(
        person_id=result.person_id,
        staff_no=result.staff_no,
        status="activated",
        needs_second_factor=result.needs_second_factor,
    )


@api.post("/admin/people/{person_id}/activation-code", response_model=CodeOut, responses=ERRORS)
def api_code(person_id: IdPath, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Issue a person's activation code (their unit's admin, the bureau); a new code
    revokes the old one."""
    return _code_out(activation.issue_activation_code(ctx, actor, person_id))


@api.post("/admin/people/{person_id}/reset", response_model=ResetOut, responses=ERRORS)
def api_reset(person_id: IdPath, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """ "Forgot password": clear the password, end every session, issue a new code."""
    done = activation.reset_account(ctx, actor, person_id)
    return {**_code_out(done.issued), "sessions_ended": done.sessions_ended}


@api.post("/admin/people/{person_id}/unlock", response_model=UnlockOut, responses=ERRORS)
def api_unlock(person_id: IdPath, actor: ActorDep, ctx: CtxDep) -> UnlockOut:
    """Clear the person's sign-in failure lock."""
    return UnlockOut(
        person_id=person_id, counters_cleared=activation.unlock_account(ctx, actor, person_id)
    )


@api.post("/admin/units/{unit_id}/activation-codes", response_model=UnitCodesOut, responses=ERRORS)
def api_unit_codes(
    unit_id: IdPath, body: UnitCodesIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Codes for the unit's people who have no password yet (``reissue``: also those
    holding a live code, which it revokes)."""
    issued = activation.issue_unit_codes(ctx, actor, unit_id, reissue=body.reissue)
    return {"codes": [_code_out(i) for i in issued]}


router.include_router(pages)
router.include_router(api)
