"""The bureau's offline pages (离线消费): every terminal's offline uploads and the city's
outstanding offline debts.

Contract: ``GET /bureau/offline`` (the bureau, its clearing operator, finance, auditors)
shows, from ``terminals.queries`` (no SQL here): the uploads counted per terminal and
Beijing day (applied / refused / sent again), the terminals whose records wait behind a
gap (``deferred``), each stored record with its status and, when refused, the reason in
words (the error's message in the page's language) — 50 a page, filtered by ``status``
(``applied`` / ``refused`` / ``duplicate``) — and the outstanding debts (person, unit,
amount, since, recovered so far; paged). ``GET /bureau/offline/debts.xlsx`` exports the
debts as an Excel sheet. Nothing is changed here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from onecard.core.clock import local_text
from onecard.core.errors import OneCardError, all_error_classes
from onecard.core.tables import Table, to_xlsx
from onecard.terminals import queries
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.i18n import request_lang
from onecard.web.pages import Find, Page, paged
from onecard.web.scopes import bureau_scope, can_run_money
from onecard.web.templating import render

router = APIRouter(
    prefix="/bureau/offline", dependencies=[Depends(csrf_protect)], include_in_schema=False
)
TEMPLATE = "bureau/offline.html"
Status = Annotated[str, Query(pattern="^(|applied|refused|duplicate)$")]

_ERRORS: dict[str, type[OneCardError]] = {c.code: c for c in all_error_classes()}


def reason_words(code: str | None, lang: str) -> str:
    """A refusal's stored code as the error's message in ``lang``, without the
    placeholders only the moment of refusal could fill (``超出离线限额：{limit}``)."""
    if not code:
        return ""
    cls = _ERRORS.get(code.split(":", 1)[0])
    if cls is None:
        return code  # an unknown code shows, not vanishes
    text = cls.en if lang.startswith("en") else cls.zh
    for sep in ("：{", ": {", "{"):
        if sep in text:
            return text.split(sep, 1)[0]
    return text


@router.get("")
def offline_page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    status: Status = "",
    q: Find = "",
    dp: Page = 1,
    rp: Page = 1,
    bp: Page = 1,
) -> Response:
    bureau_scope(actor)
    lang = request_lang(request)
    everything = queries.upload_records(ctx)
    chosen = everything if not status else queries.upload_records(ctx, status)
    for r in chosen:
        r["reason_words"] = reason_words(r["reason"], lang)
    keep = {"status": status, "dp": str(dp), "rp": str(rp), "bp": str(bp)}
    days = paged(queries.terminal_days(everything), q, dp, ("terminal", "canteen"), "dp", keep)
    records = paged(
        chosen, q, rp, ("terminal", "canteen", "txn_id", "person", "staff_no"), "rp", keep
    )
    debts_all = queries.city_debts(ctx)
    debts = paged(debts_all, q, bp, ("person", "staff_no", "unit"), "bp", keep)
    return render(
        request,
        TEMPLATE,
        actor=actor,
        tab="offline",
        can_run=can_run_money(actor),
        status=status,
        statuses=queries.STATUSES,
        days=days,
        records=records,
        gaps=queries.deferred_gaps(ctx),
        debts=debts,
        debt_total=queries.debt_total(debts_all),
    )


@router.get("/debts.xlsx")
def offline_debts_xlsx(actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return Response(
        to_xlsx(debts_table(queries.city_debts(ctx))),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="offline-debts.xlsx"'},
    )


def debts_table(rows: list[dict[str, Any]]) -> Table:
    """The outstanding debts as one sheet (money in fen here; ``to_xlsx`` writes yuan)."""
    table = Table(
        key="offline_debts",
        title="离线消费欠款",
        headers=["姓名", "工号", "单位", "欠款金额", "已追回", "未追回", "产生时间（北京时间）"],
        money_cols={3, 4, 5},
    )
    for r in rows:
        table.rows.append(
            [
                r["person"],
                r["staff_no"],
                r["unit"],
                int(r["amount_fen"]),
                int(r["recovered_fen"]),
                int(r["outstanding_fen"]),
                local_text(r["created_at"]),
            ]
        )
    return table
