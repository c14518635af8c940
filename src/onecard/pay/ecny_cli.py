"""``onecard ecny …``: the e-CNY channel's chores — resolve what is pending, reconcile
the acquirer's day, and tell the sandbox acquirer how to behave.

The CLI acts as the system (``Actor.system()``). ``resolve`` is the worker a timer runs
(every minute is plenty): it hands the sandbox's queued notices over, then asks the
acquirer about every order and refund still pending after ``--older-than`` seconds.
``reconcile`` exits 5 when a line needs a person (as ``onecard funding reconcile``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.channels.factory import ecny_gateway as gateway
from onecard.cli_kit import DbOpt, console, context
from onecard.core.errors import InvalidInput
from onecard.core.money import yuan
from onecard.org.actors import Actor
from onecard.pay import ecny, ecny_recon

app = typer.Typer(no_args_is_help=True)


@app.command("resolve")
def cmd_resolve(
    older_than: Annotated[
        float, typer.Option("--older-than", help="只查询已等待这么多秒的订单")
    ] = 60.0,
    database_url: DbOpt = None,
) -> None:
    """Settle pending e-CNY orders and refunds by notice and query. 查询补单"""
    ctx = context(database_url)
    delivered = ecny.deliver_sandbox_notices(ctx)
    got = ecny.resolve(ctx, older_than_s=older_than)
    console.print(
        f"通知 {delivered} 条 · 查询 {got.asked} 笔：成功 {got.succeeded} · 失败 {got.failed}"
        f" · 仍待定 {got.still_pending} · 无法连接 {got.unreachable}"
    )
    if got.unreachable:
        raise typer.Exit(8)


@app.command("reconcile")
def cmd_reconcile(
    day: str,
    file: Annotated[
        Path | None, typer.Option("--file", help="收单机构对账单 CSV；不填则向收单机构下载")
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Match the acquirer's reconciliation file of a day against our orders. 对账"""
    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"日期应为 YYYY-MM-DD：{day}") from None
    ctx = context(database_url)
    data = file.read_bytes() if file else None
    res = ecny_recon.reconcile_day(ctx, Actor.system("cli"), the_day, data)
    console.print(f"{day} 对账单 {res.lines} 行 · 已匹配 {res.matched} · 问题 {len(res.problems)}")
    if res.problems:
        t = Table(title="需处理")
        for col in ("结果", "单号", "类型", "收单机构(元)", "系统(元)", "系统状态"):
            t.add_column(col)
        for p in res.problems:
            t.add_row(
                p["status_zh"],
                p["order_no"],
                "支付" if p["kind"] == "pay" else "退款",
                yuan(p["acquirer_fen"]) if p["acquirer_fen"] is not None else "—",
                yuan(p["ours_fen"]) if p["ours_fen"] is not None else "—",
                p["our_status"] or "—",
            )
        console.print(t)
        raise typer.Exit(5)


@app.command("sandbox-behave")
def cmd_behave(
    late: Annotated[bool, typer.Option("--late/--on-time")] = False,
    duplicate: Annotated[bool, typer.Option("--duplicate/--once")] = False,
    reverse: Annotated[bool, typer.Option("--reverse/--in-order")] = False,
    timeouts: Annotated[int, typer.Option(help="之后几次支付扣款后超时")] = 0,
    database_url: DbOpt = None,
) -> None:
    """Tell the sandbox acquirer how to misbehave (kept in its store). 沙箱行为"""
    gw = gateway(context(database_url))
    if not isinstance(gw, SandboxEcny):
        raise InvalidInput("只有沙箱收单机构可以设置")
    gw.behave(late=late, duplicate=duplicate, reverse=reverse, timeouts=max(0, timeouts))
    if not late:
        gw.release_late()
    console.print(f"沙箱：{gw.behaviour()}")
