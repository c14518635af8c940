"""Face pay's API: a person's face (enrol under consent, status, withdraw) and a
terminal's liveness declaration. Thin: parse, call ``faces.service``, answer."""

from __future__ import annotations

from fastapi import APIRouter

from onecard.faces import queries, service
from onecard.faces.embedding import decode_image
from onecard.faces.schemas import (
    FaceEnrolIn,
    FaceStatusOut,
    FaceWithdrawOut,
    LivenessIn,
    LivenessOut,
)
from onecard.pay.schemas import ErrorOut
from onecard.web.deps import ActorDep, CtxDep, IdPath

router = APIRouter(prefix="/api/v1", tags=["face"])
ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 413, 422)
}


def _status(ctx: CtxDep, person_id: int) -> FaceStatusOut:
    st = queries.face_status(ctx, person_id)
    return FaceStatusOut(
        person_id=person_id,
        consent=st.consent_id is not None,
        consent_at=st.consent_at,
        enrolled=st.enrolled,
        enrolled_at=st.enrolled_at,
    )


@router.get(
    "/people/{person_id}/face",
    response_model=FaceStatusOut,
    responses=ERRORS,
    summary="A person's face-pay consent and enrolment (the person, their unit admin)",
)
def get_face(person_id: IdPath, actor: ActorDep, ctx: CtxDep) -> FaceStatusOut:
    service.check_reader(ctx, actor, person_id)
    return _status(ctx, person_id)


@router.put(
    "/people/{person_id}/face",
    response_model=FaceStatusOut,
    responses=ERRORS,
    summary="Enrol a face for face pay, under recorded consent (422 no_face: nothing written)",
)
def put_face(person_id: IdPath, body: FaceEnrolIn, actor: ActorDep, ctx: CtxDep) -> FaceStatusOut:
    service.enrol(
        ctx,
        actor,
        person_id,
        image=decode_image(body.image_b64) if body.image_b64 is not None else None,
        descriptor=body.descriptor,
        consent=body.consent,
    )
    return _status(ctx, person_id)


@router.delete(
    "/people/{person_id}/face",
    response_model=FaceWithdrawOut,
    responses=ERRORS,
    summary="Withdraw consent: the face template is deleted at once",
)
def delete_face(person_id: IdPath, actor: ActorDep, ctx: CtxDep) -> FaceWithdrawOut:
    return FaceWithdrawOut(person_id=person_id, deleted=service.withdraw(ctx, actor, person_id))


@router.put(
    "/admin/terminals/{code}/face",
    response_model=LivenessOut,
    responses=ERRORS,
    tags=["admin"],
    summary="Declare whether a terminal runs liveness detection (face pay only if so)",
)
def put_terminal_face(code: str, body: LivenessIn, actor: ActorDep, ctx: CtxDep) -> LivenessOut:
    service.set_liveness(ctx, actor, code, body.liveness)
    return LivenessOut(code=code, liveness=body.liveness)
