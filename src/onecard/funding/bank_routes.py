"""Bank files over the API (/api/v1/funding/bank): what the reconciliation page does.

The bank's callback (``/api/v1/channels/bank/notify``) is here too.
Thin: the services check the actor (money-run rights to read a file in or write a
batch). A file goes up as the raw request body (``…/import``, any content type, the
upload size limit), its name in ``filename``; a file with bad rows is 422 with every row
problem, and nothing is written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from onecard.core.errors import ImportRejected
from onecard.funding import bank_files, notifications, reconciliation
from onecard.funding.routes import ERRORS, _rejected
from onecard.funding.schemas import BatchIn, RunOut, StatementImportOut, run_out
from onecard.web.deps import ActorDep, CtxDep

router = APIRouter(prefix="/api/v1/funding/bank", tags=["funding"])
# The bank's asynchronous callback (every verdict: top-ups and payouts alike).
notify_router = APIRouter(prefix="/api/v1", tags=["channels"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post("/statements/import", response_model=StatementImportOut, responses=ERRORS)
async def post_statement(request: Request, actor: ActorDep, ctx: CtxDep, filename: str = "") -> Any:
    """Read a bank statement file (CSV or the bank's Excel) in and reconcile its days."""
    data = await request.body()
    try:
        got = await run_in_threadpool(reconciliation.import_statement, ctx, actor, data, filename)
    except ImportRejected as exc:
        return _rejected(request, exc)
    return StatementImportOut(
        name=got.name,
        lines=got.lines,
        new_lines=got.new_lines,
        changed=got.changed,
        settled=got.settled,
        problems=got.problems,
        receipts=[run_out(r) for r in got.receipts],
        days=[run_out(d) for d in got.days],
    )


@router.post("/returns/import", response_model=RunOut, responses=ERRORS)
async def post_returns(request: Request, actor: ActorDep, ctx: CtxDep, filename: str = "") -> Any:
    """Read the bank's return file (file exchange): each order paid or failed, once."""
    data = await request.body()
    try:
        res = await run_in_threadpool(bank_files.import_returns, ctx, actor, data, filename)
    except ImportRejected as exc:
        return _rejected(request, exc)
    return run_out(res)


@router.post("/batches", responses={**ERRORS, 204: {"description": "nothing waits"}})
def post_batch(body: BatchIn, actor: ActorDep, ctx: CtxDep) -> Response:
    """Write every order waiting for the bank into the next batch file (file exchange)."""
    got = bank_files.write_batch(ctx, actor, body.kind, body.format)
    if got is None:
        return Response(status_code=204)
    media = XLSX if body.format == "xlsx" else "text/csv; charset=utf-8"
    return Response(
        got.data,
        media_type=media,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(got.name)}",
            "X-Orders": str(got.orders),
            "X-Amount-Fen": str(got.amount_fen),
        },
    )


@router.get("/files", responses=ERRORS)
def get_files(actor: ActorDep, ctx: CtxDep) -> JSONResponse:
    """The latest files written for or read from the bank."""
    actor.require_city_reader()
    rows = bank_files.recent_files(ctx, 100)
    return JSONResponse([{**r, "created_at": r["created_at"].isoformat()} for r in rows])


@notify_router.post("/channels/bank/notify")
async def bank_notify(request: Request, ctx: CtxDep) -> dict[str, str]:
    """The bank's asynchronous callback: raw body signed with HMAC-SHA256 (X-Signature)."""
    body = await request.body()
    status = notifications.handle_bank_notification(
        ctx, body, request.headers.get("x-signature", "")
    )
    return {"status": status}
