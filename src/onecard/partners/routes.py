"""The partner API (合作方接口, R-I3): routes other systems call with an OC-HMAC-SHA256
signed request (``partners.signing``); each route names the scope it needs. Thin: each
a read model or service call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from onecard.partners import service
from onecard.partners.schemas import PartnerCanteenOut, PartnerDirectoryOut
from onecard.pay.schemas import ErrorOut
from onecard.reports import directory
from onecard.web.deps import CtxDep
from onecard.web.permissions import admit_partner

router = APIRouter(prefix="/api/v1/partner", tags=["partner"])

ERRORS: dict[int | str, dict[str, object]] = {s: {"model": ErrorOut} for s in (401, 403, 422)}


async def get_partner(request: Request, ctx: CtxDep) -> service.Caller:
    """The signed caller: the raw body is read here (Starlette keeps it for the route)."""
    body = await request.body()
    caller = await run_in_threadpool(
        service.authenticate,
        ctx,
        request.method,
        request.url.path,
        request.url.query,
        request.headers.get("authorization", ""),
        body,
    )
    admit_partner(request)
    return caller


PartnerDep = Annotated[service.Caller, Depends(get_partner)]


@router.get(
    "/canteens",
    response_model=PartnerDirectoryOut,
    responses=ERRORS,
    summary="The live canteens, their meals and prices (scope directory:read)",
)
def canteens(
    partner: PartnerDep,
    ctx: CtxDep,
    q: Annotated[str, Query(max_length=60)] = "",
    district: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> PartnerDirectoryOut:
    partner.require("directory:read")
    found = directory.search(
        ctx, directory.DirectoryQuery(q=q.strip(), district=district, page=page)
    )
    return PartnerDirectoryOut(
        partner=partner.client_id,
        total=found.total,
        page=found.page,
        pages=found.pages,
        canteens=[PartnerCanteenOut.model_validate(r) for r in found.rows],
    )
