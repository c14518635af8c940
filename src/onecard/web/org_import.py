"""The bureau's information-table import page (导入信息统计表): the whole city from one
Excel file, previewed, then confirmed.

Contract: ``bureau_scope`` first. The first POST (a file upload) is a dry run of
``org.info_table.import_unit_info``: every row error of both sheets is listed (sheet,
row, column, problem) and nothing is written, or the page shows which units and
canteens are new and what changes. "Confirm" sends the same file back (base64, as the
roster import does) and the import runs for real, checking every row again. The
template download is the city's table, pre-filled.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from onecard.core.errors import ImportRejected, InvalidInput
from onecard.org import imports
from onecard.org.fields import FIELD_NAMES_ZH
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.i18n import request_lang
from onecard.web.pages import Frame, xlsx_response
from onecard.web.scopes import region_scope

router = APIRouter(
    prefix="/bureau/org", dependencies=[Depends(csrf_protect)], include_in_schema=False
)


def _page(request: Request, frame: Frame, status_code: int = 200, **kw: Any) -> Response:
    defaults: dict[str, Any] = {
        "result": None,
        "errors": None,
        "message": None,
        "payload": "",
        "filename": "",
    }
    return frame.render(
        request,
        "bureau/org_import.html",
        status_code=status_code,
        field_zh=FIELD_NAMES_ZH,
        **{**defaults, **kw},
    )


@router.get("/import")
def import_form(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    return _page(request, Frame(ctx, actor))


@router.get("/info-table.xlsx")
def template(actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    # A region's readers: the units of their region and those below it.
    return xlsx_response(imports.unit_info_template(ctx, actor.unit_ids), "info-table.xlsx")


@router.post("/import")
async def import_upload(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    region_scope(actor)
    frame = Frame(ctx, actor)
    form = await request.form()
    try:
        confirm = form.get("confirm") == "yes"
        upload = form.get("file")
        filename = str(form.get("filename") or "")[:200]
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read()
            filename = upload.filename[:200]
        else:
            try:
                data = base64.b64decode(str(form.get("payload") or ""), validate=True)
            except (binascii.Error, ValueError):
                data = b""
    finally:
        await form.close()  # uploaded files are spooled to temporary files
    if not data:
        return _page(request, frame, 422, message="请选择要导入的信息统计表（Excel 或 CSV）")
    try:
        result = await run_in_threadpool(
            imports.import_unit_info, ctx, actor, data, filename, dry_run=not confirm
        )
    except ImportRejected as exc:
        return _page(
            request,
            frame,
            422,
            errors=list(getattr(exc, "rows", [])),
            message=exc.message(request_lang(request)),
            filename=filename,
        )
    except InvalidInput as exc:
        return _page(request, frame, 422, message=exc.message(request_lang(request)))
    payload = "" if confirm else base64.b64encode(data).decode()
    return _page(request, frame, result=result, payload=payload, filename=filename)
