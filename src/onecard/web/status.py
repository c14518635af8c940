"""Health check and a minimal status page (counts and the ledger's state)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from onecard.ledger.models import JournalEntry
from onecard.org.models import Canteen, Person, Terminal, Unit
from onecard.pay.models import Payment
from onecard.web.deps import CtxDep

router = APIRouter(tags=["status"])


@router.get("/healthz")
def healthz(ctx: CtxDep) -> dict[str, object]:
    with ctx.db.read() as conn:
        entries = conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
    return {"status": "ok", "entries": entries}


def counts(ctx: CtxDep) -> dict[str, int]:
    with ctx.db.read() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in (
                ("单位", Unit),
                ("食堂", Canteen),
                ("人员", Person),
                ("消费机", Terminal),
                ("交易", Payment),
            )
        }


@router.get("/status", response_class=HTMLResponse)
def status_page(ctx: CtxDep) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{v:,}</td></tr>" for k, v in counts(ctx).items())
    return (
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'>"
        "<title>食堂一卡通 · 运行状态</title>"
        "<body style='font-family:sans-serif;max-width:40em;margin:2em auto'>"
        f"<h1>食堂一卡通 · 运行状态</h1><table>{rows}</table>"
        "<p><a href='/docs'>API 文档 (OpenAPI)</a></p></body></html>"
    )
