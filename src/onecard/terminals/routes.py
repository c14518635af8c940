"""Offline terminal API (离线消费机接口): enrol a signing key, fetch the working set,
upload offline records. Thin: each a service call."""

from __future__ import annotations

from fastapi import APIRouter, Query

from onecard.pay.schemas import ErrorOut
from onecard.terminals import service
from onecard.terminals.schemas import (
    OfflineKeyIn,
    OfflineKeyOut,
    UploadIn,
    UploadOut,
    WorkingSetOut,
)
from onecard.web.deps import CtxDep, TerminalDep

router = APIRouter(prefix="/api/v1/terminal/offline", tags=["terminal"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 409, 413, 415, 422, 503)
}


@router.post(
    "/key",
    response_model=OfflineKeyOut,
    responses=ERRORS,
    summary="Register this terminal's Ed25519 public key for offline records",
)
def post_key(body: OfflineKeyIn, terminal: TerminalDep, ctx: CtxDep) -> OfflineKeyOut:
    service.enrol(ctx, terminal, body.public_key)
    return OfflineKeyOut(terminal=terminal.code, registered=True)


@router.get(
    "/working-set",
    response_model=WorkingSetOut,
    responses=ERRORS,
    summary="The working set, in full or what changed since a version",
)
def get_working_set(
    terminal: TerminalDep,
    ctx: CtxDep,
    since: int | None = Query(default=None, ge=1, le=2**62),
) -> WorkingSetOut:
    return WorkingSetOut.model_validate(service.working_set(ctx, terminal, since))


@router.post(
    "/uploads",
    response_model=UploadOut,
    responses=ERRORS,
    summary="Upload a batch of signed offline records (applied once, in order)",
)
def post_upload(body: UploadIn, terminal: TerminalDep, ctx: CtxDep) -> UploadOut:
    items = [service.Signed(r.record, r.body_hash, r.signature) for r in body.records]
    return UploadOut(results=service.upload(ctx, terminal, items))
