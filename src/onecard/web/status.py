"""Liveness, readiness and a minimal status page.

Contract:
- ``GET /healthz`` (liveness): ``{"status": "ok"}`` while the process can answer at all.
  It touches nothing else, so a database outage never gets a healthy server restarted.
- ``GET /readyz`` (readiness): 200 ``{"status": "ready", "checks": {…}}`` only while
  payments can be taken: the database answers ``SELECT 1`` within ``READY_TIMEOUT_S``
  and, with group commit on, every payment batch worker is alive, connected and not
  stuck (``PaymentBatcher.health``). Otherwise 503 in the API's error shape, code
  ``not_ready``, with the same ``checks``. A load balancer takes the process out of
  rotation on 503 and back when it heals, which it does by itself.
- ``GET /status``: a page for people. Counts (units, people, payments…) and the workers'
  details only outside production (``Settings.public_details``); in production, only
  whether the service is ready.
"""

from __future__ import annotations

import asyncio
import logging
from html import escape
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from onecard.core.context import Context
from onecard.core.db import brief
from onecard.reports import dashboard
from onecard.web.deps import CtxDep
from onecard.web.errors import json_error
from onecard.web.i18n import request_lang

router = APIRouter(tags=["status"])
log = logging.getLogger(__name__)

READY_TIMEOUT_S = 3.0
NOT_READY = ("not_ready", "服务暂不能受理支付", "The service cannot take payments now")


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _ping(ctx: Context) -> None:
    with ctx.db.read() as conn:
        conn.execute(text("SELECT 1"))


async def readiness(ctx: Context) -> tuple[bool, dict[str, str], dict[str, Any]]:
    """(ready, checks, details): ``checks`` is safe to show anyone; ``details`` is not."""
    checks: dict[str, str] = {}
    details: dict[str, Any] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            # Abandoned past the bound (a silent network): the thread ends on its own.
            await anyio.to_thread.run_sync(_ping, ctx, abandon_on_cancel=True)
        checks["database"] = "ok"
    except TimeoutError:
        checks["database"] = "timeout"
    except Exception as exc:
        log.warning("readiness: database unreachable (%s)", brief(exc))
        checks["database"] = "unreachable"
    batcher = getattr(ctx, "payment_batcher", None)
    if batcher is None:
        checks["payments"] = "ok" if checks["database"] == "ok" else "unavailable"
    else:
        health = batcher.health()
        states = [w["state"] for w in health["workers"]]
        checks["payments"] = "ok" if health["ready"] else _worst(states)
        details["batch_workers"] = health["workers"]
    return all(v == "ok" for v in checks.values()), checks, details


def _worst(states: list[str]) -> str:
    for state in ("dead", "stuck", "reconnecting", "connecting"):
        if state in states:
            return state
    return "stopped"


@router.get(
    "/readyz",
    summary="Readiness: payments can be taken now (503 not_ready otherwise)",
    responses={503: {"description": "not ready: the error shape, code not_ready, with checks"}},
)
async def readyz(request: Request, ctx: CtxDep) -> Response:
    ready, checks, details = await readiness(ctx)
    extra = details if ctx.settings.public_details else {}
    if ready:
        return JSONResponse({"status": "ready", "checks": checks, **extra})
    code, zh, en = NOT_READY
    message = en if request_lang(request) == "en" else zh
    return json_error(request.scope, 503, code, message, checks=checks, **extra)


LABELS = {"database": "数据库", "payments": "支付受理"}
STATES = {
    "ok": "正常",
    "unreachable": "无法连接",
    "timeout": "无响应",
    "unavailable": "不可用",
    "reconnecting": "正在重连",
    "connecting": "正在连接",
    "stuck": "处理超时",
    "dead": "正在重启",
    "stopped": "已停止",
}


@router.get("/status", response_class=HTMLResponse)
async def status_page(ctx: CtxDep) -> HTMLResponse:
    ready, checks, _ = await readiness(ctx)
    state = "正常受理支付" if ready else "暂不能受理支付"
    rows = "".join(
        f"<tr><th>{LABELS.get(k, k)}</th><td>{escape(STATES.get(v, v))}</td></tr>"
        for k, v in checks.items()
    )
    if ctx.settings.public_details and checks["database"] == "ok":
        figures = await run_in_threadpool(dashboard.counts, ctx)
        rows += "".join(f"<tr><th>{escape(k)}</th><td>{v:,}</td></tr>" for k, v in figures.items())
    docs = "<p><a href='/docs'>API 文档 (OpenAPI)</a></p>" if ctx.settings.serve_api_docs else ""
    return HTMLResponse(
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'>"
        "<title>食堂一卡通 · 运行状态</title>"
        "<body style='font-family:sans-serif;max-width:40em;margin:2em auto'>"
        f"<h1>食堂一卡通 · 运行状态</h1><p>{state}</p><table>{rows}</table>{docs}</body></html>"
    )
