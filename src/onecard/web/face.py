"""The diner's face-pay page (/me/face): the notice, consent, enrolment, withdrawal.

Contract: acts for the signed-in person only, through ``faces.service`` and
``faces.queries``. The page shows what face data is for and how long it is kept before
anything is taken; enrolment needs the consent box ticked (recorded with the template,
in one transaction) unless a consent is already open. The photo comes from the phone's
front camera (``capture="user"``) or a file; a photo with no face is answered on the
page (422), nothing written. Withdrawing deletes the template at once.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from onecard.core.errors import OneCardError
from onecard.faces import queries, service
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.i18n import request_lang
from onecard.web.templating import render

router = APIRouter(prefix="/me/face", dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    *,
    error: str | None = None,
    msg: str | None = None,
    status_code: int = 200,
) -> Response:
    assert actor.person_id is not None
    return render(
        request,
        "diner/face.html",
        status_code=status_code,
        actor=actor,
        st=queries.face_status(ctx, actor.person_id),
        notice=service.NOTICE,
        error=error,
        msg=msg,
    )


@router.get("")
def face_page(request: Request, actor: ActorDep, ctx: CtxDep, msg: str | None = None) -> Response:
    return _page(request, actor, ctx, msg=msg)


@router.post("")
async def face_enrol(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    assert actor.person_id is not None
    form = await request.form()
    try:
        upload = form.get("photo")
        photo = await upload.read() if isinstance(upload, UploadFile) else b""
        consent = form.get("consent") == "yes"
    finally:
        await form.close()
    try:
        await to_thread.run_sync(
            lambda: service.enrol(
                ctx, actor, int(actor.person_id or 0), image=photo, consent=consent
            )
        )
    except OneCardError as exc:
        return _page(request, actor, ctx, error=exc.message(request_lang(request)), status_code=422)
    return RedirectResponse("/me/face?msg=enrolled", status_code=303)


@router.post("/withdraw")
def face_withdraw(actor: ActorDep, ctx: CtxDep) -> Response:
    assert actor.person_id is not None
    service.withdraw(ctx, actor, actor.person_id)
    return RedirectResponse("/me/face?msg=withdrawn", status_code=303)
