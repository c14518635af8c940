"""The bureau's e-CNY page (数字人民币对账): the acquirer's day file against our orders.

Contract: ``GET /bureau/ecny`` (the bureau, its clearing operator, finance, auditors)
shows a day picker; ``POST /bureau/ecny/reconcile`` (those who run money) runs
``pay.ecny_recon.reconcile_day`` for the chosen Beijing day — the service checks the
actor again and records the run (audit, money run) — and lists what did not match:
``amount_mismatch`` / ``state_mismatch`` / ``acquirer_only`` / ``ours_only``, the
count of lines and matched; with ``fmt=xlsx`` the same problems as an Excel sheet.
A day in the future is refused on the page (422); nothing is corrected here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from onecard.core.errors import InvalidInput, OneCardError
from onecard.core.tables import Table, to_xlsx
from onecard.pay import ecny_recon
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.scopes import bureau_scope, can_run_money
from onecard.web.templating import render

router = APIRouter(
    prefix="/bureau/ecny", dependencies=[Depends(csrf_protect)], include_in_schema=False
)
TEMPLATE = "bureau/ecny.html"


@router.get("")
def ecny_page(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    bureau_scope(actor)
    return render(
        request,
        TEMPLATE,
        actor=actor,
        tab="ecny",
        can_run=can_run_money(actor),
        day=ctx.clock.today().isoformat(),
        recon=None,
    )


@router.post("/reconcile")
def ecny_reconcile(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    day: Annotated[str, Form(max_length=10)],
    fmt: Annotated[str, Form(pattern="^(html|xlsx)$")] = "html",
) -> Response:
    bureau_scope(actor)
    try:
        try:
            chosen = date.fromisoformat(day.strip())
        except ValueError as exc:
            raise InvalidInput("日期格式应为 YYYY-MM-DD") from exc
        if chosen > ctx.clock.today():
            raise InvalidInput("不能对账未来的日期")
        recon = ecny_recon.reconcile_day(ctx, actor, chosen)
    except OneCardError as exc:
        code = status_for(exc)
        if code >= 500:
            raise
        return render(
            request,
            TEMPLATE,
            status_code=code,
            actor=actor,
            tab="ecny",
            can_run=can_run_money(actor),
            day=day,
            recon=None,
            error=exc.message(request_lang(request)),
        )
    if fmt == "xlsx":
        return Response(
            to_xlsx(problems_table(recon)),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="ecny-recon-{chosen}.xlsx"'},
        )
    return render(
        request,
        TEMPLATE,
        actor=actor,
        tab="ecny",
        can_run=can_run_money(actor),
        day=chosen.isoformat(),
        recon=recon,
    )


KIND_ZH = {"pay": "付款", "refund": "退款"}


def problems_table(recon: ecny_recon.EcnyReconciliation) -> Table:
    """The day's problems as one sheet (money in fen here; ``to_xlsx`` writes yuan)."""
    table = Table(
        key="ecny_recon",
        title=f"数字人民币对账 {recon.day.isoformat()}",
        headers=["问题", "单号", "类型", "收单机构金额", "本系统金额", "本系统状态"],
        money_cols={3, 4},
    )
    for p in recon.problems:
        table.rows.append(
            [
                p["status_zh"],
                p["order_no"],
                KIND_ZH.get(p["kind"], p["kind"]),
                p["acquirer_fen"],
                p["ours_fen"],
                p["our_status"] or "",
            ]
        )
    return table
