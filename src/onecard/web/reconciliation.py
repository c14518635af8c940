"""The reconciliation page (对账): the bank's files in and out, and what they show.

Contract: every route starts with ``scopes.bureau_scope`` (the bureau, its clearing
operator, finance, auditors); forms that change anything are shown only to those who
may run money (bureau admin, clearing operator), and the services check again.
- ``POST /bureau/reconciliation/statement`` takes a statement file (CSV, or the bank's
  Excel) and shows, per day, matched / mismatched / bank-only / ledger-only lines and
  the unclaimed receipts, each with a form to assign it to a unit's notice
  (``…/assign``). The same file again changes nothing.
- ``POST /bureau/reconciliation`` reconciles a day against the statement already read
  (or the sandbox bank's own).
- With the file exchange (``ONECARD_BANK=files``): ``…/batch`` downloads the next batch
  file of orders waiting for the bank (an attachment; the orders are then in that file
  for good), ``…/returns`` reads the bank's return file, ``…/files/{id}`` gives any file
  exchanged again. With the sandbox, ``…/sandbox-statement`` plays online banking: the
  simulated bank's statement of a day, to upload as a finance office would.
Domain errors show on the page with their 4xx status, never as a 500.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from onecard.core.context import Context
from onecard.core.errors import ImportRejected, InvalidInput, OneCardError
from onecard.core.runs import RunResult
from onecard.funding import bank_files, notices, reconciliation
from onecard.funding import queries as funding_queries
from onecard.org.actors import Actor
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.scopes import bureau_scope, can_run_money
from onecard.web.templating import render

router = APIRouter(
    prefix="/bureau/reconciliation",
    dependencies=[Depends(csrf_protect)],
    include_in_schema=False,
)
TEMPLATE = "bureau/reconciliation.html"
GROUPS = (  # how the page groups a day's lines: (title, statuses)
    ("不一致", ("amount_mismatch", "state_mismatch")),
    ("银行有、系统无", ("bank_only",)),
    ("系统有、银行无", ("ledger_only",)),
    ("未认领来款", ("unclaimed",)),
)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput("日期格式应为 YYYY-MM-DD") from exc


def _sandbox(ctx: Context) -> Any:
    from onecard.channels.sandbox import SandboxBank

    bank = ctx.bank
    return bank if isinstance(bank, SandboxBank) else None


def _page(
    request: Request,
    actor: Actor,
    ctx: Context,
    *,
    status_code: int = 200,
    day: str | None = None,
    days: list[RunResult] | None = None,
    intake: reconciliation.StatementImport | None = None,
    returns: RunResult | None = None,
    message: str | None = None,
    error: str | None = None,
    rows: list[Any] | None = None,
) -> Response:
    can_run = can_run_money(actor)
    return render(
        request,
        TEMPLATE,
        status_code=status_code,
        actor=actor,
        tab="reconciliation",
        can_run=can_run,
        is_admin=actor.has("bureau_admin"),
        day=day or ctx.clock.today().isoformat(),
        days=days or [],
        intake=intake,
        returns=returns,
        message=message,
        error=error,
        error_rows=rows or [],
        groups=GROUPS,
        status_zh=reconciliation.STATUS_ZH,
        notices=funding_queries.open_notices(ctx) if can_run and days else [],
        file_exchange=bank_files.is_file_exchange(ctx),
        sandbox=_sandbox(ctx) is not None,
        waiting=bank_files.waiting(ctx),
        files=bank_files.recent_files(ctx),
    )


def _failed(request: Request, actor: Actor, ctx: Context, exc: OneCardError, **kw: Any) -> Response:
    code = status_for(exc)
    if code >= 500:
        raise exc
    rows = list(getattr(exc, "rows", [])) if isinstance(exc, ImportRejected) else []
    return _page(
        request,
        actor,
        ctx,
        status_code=code,
        error=exc.message(request_lang(request)),
        rows=rows,
        **kw,
    )


async def _upload(request: Request) -> tuple[bytes, str]:
    form = await request.form()
    try:
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            return await upload.read(), upload.filename
        return b"", ""
    finally:
        await form.close()  # uploaded files are spooled to temporary files


@router.get("")
def page(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return _page(request, actor, ctx)


@router.post("")
def reconcile(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    day: Annotated[str, Form(max_length=10)],
) -> Response:
    bureau_scope(actor)
    try:
        res = reconciliation.reconcile_kept(ctx, actor, _day(day))
    except OneCardError as exc:
        return _failed(request, actor, ctx, exc, day=day)
    return _page(request, actor, ctx, day=day, days=[res])


@router.post("/statement")
async def statement_upload(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    data, name = await _upload(request)
    if not data:
        err = InvalidInput("请选择银行对账单文件（CSV 或 Excel）")
        return _failed(request, actor, ctx, err)
    try:
        got = await run_in_threadpool(reconciliation.import_statement, ctx, actor, data, name)
    except OneCardError as exc:
        return _failed(request, actor, ctx, exc)
    first = got.days[0].scope if got.days else None
    return _page(request, actor, ctx, day=first, days=got.days, intake=got)


@router.post("/assign")
def assign(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    serial: Annotated[str, Form(max_length=40)],
    notice_id: IdForm,
) -> Response:
    """The clearing operator says which unit's notice an unclaimed receipt pays."""
    bureau_scope(actor)
    try:
        notice = funding_queries.notice_payer(ctx, notice_id)
        day = funding_queries.receipt_day(ctx, serial)
        if notice is None:
            raise InvalidInput("所选缴款通知不存在")
        res = notices.assign_receipt(ctx, actor, serial, int(notice.unit_id), notice_id)
        again = [reconciliation.reconcile_kept(ctx, actor, day)] if day is not None else []
    except OneCardError as exc:
        return _failed(request, actor, ctx, exc)
    unit = res.lines[0]["unit"] if res.lines else ""
    said = "已认领" if res.changed else "此前已认领"
    msg = f"流水 {serial} {said}：{unit} {notice.reference}"
    return _page(request, actor, ctx, day=day.isoformat() if day else None, days=again, message=msg)


@router.post("/batch")
def batch(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    kind: Annotated[str, Form(max_length=12)],
    fmt: Annotated[str, Form(max_length=4)] = "xlsx",
) -> Response:
    bureau_scope(actor)
    try:
        got = bank_files.write_batch(ctx, actor, kind, fmt)  # type: ignore[arg-type]
    except OneCardError as exc:
        return _failed(request, actor, ctx, exc)
    if got is None:
        return _page(request, actor, ctx, message="没有等待发送的指令")
    return _attachment(got.name, got.data)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _attachment(name: str, data: bytes) -> Response:
    """A download under its Chinese name (RFC 5987), with an ASCII fallback."""
    from urllib.parse import quote

    fallback = name.encode("ascii", "ignore").decode().strip("-") or "bank-file"
    media = XLSX if name.endswith(".xlsx") else "text/csv; charset=utf-8"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/files/{file_id}")
def file_again(file_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    name, data = bank_files.batch_file(ctx, actor, file_id)
    return _attachment(name, data)


@router.post("/returns")
async def returns_upload(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    data, name = await _upload(request)
    if not data:
        return _failed(
            request, actor, ctx, InvalidInput("请选择银行的处理结果文件（CSV 或 Excel）")
        )
    try:
        res = await run_in_threadpool(bank_files.import_returns, ctx, actor, data, name)
    except OneCardError as exc:
        return _failed(request, actor, ctx, exc)
    return _page(request, actor, ctx, returns=res)


@router.get("/sandbox-statement")
def sandbox_statement(
    request: Request, actor: ActorDep, ctx: CtxDep, day: str, fmt: str = "csv"
) -> Response:
    """The simulated bank's statement of a day, as online banking would export it."""
    bureau_scope(actor)
    bank = _sandbox(ctx)
    try:
        if bank is None:
            raise InvalidInput("只有沙箱银行可在此下载对账单")
        d = _day(day)
        data = bank.statement_xlsx(d) if fmt == "xlsx" else bank.statement_file(d)
    except OneCardError as exc:
        return _failed(request, actor, ctx, exc)
    name = f"statement-{d.isoformat()}.{'xlsx' if fmt == 'xlsx' else 'csv'}"
    return _attachment(name, data)
