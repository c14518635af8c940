"""``onecard interregion …``: dining agreements between fund regions and their quarterly
clearing statements (issue 17 §2).

The CLI acts as the system (the bureau's authority). Errors leave through ``cli.main``'s
exit codes (unknown id → 3, bad input → 2, a state that does not allow it → 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from onecard.cli_kit import DbOpt, console, context
from onecard.core.money import yuan
from onecard.core.tables import to_xlsx
from onecard.funding import notifications as funding_notifications
from onecard.interregion import queries, service
from onecard.ledger.verify import verify
from onecard.org.actors import Actor

app = typer.Typer(no_args_is_help=True)
CLI = Actor.system("cli")


@app.command("agreements")
def agreements(database_url: DbOpt = None) -> None:
    """Every dining agreement. 就餐协议"""
    t = Table("#", "就餐方", "供餐方", "单位", "食堂", "价格", "钱包", "有效期", "状态")
    for a in queries.agreements(context(database_url)):
        t.add_row(
            str(a["id"]),
            a["home_region"],
            a["host_region"],
            "全部" if a["unit_ids"] is None else str(len(a["unit_ids"])),
            "全部" if a["canteen_ids"] is None else str(len(a["canteen_ids"])),
            a["price_class"],
            a["purse"],
            f"{a['valid_from']}–{a['valid_to'] or ''}",
            a["status"],
        )
    console.print(t)


@app.command("statement")
def statement(
    home: Annotated[int, typer.Argument(help="就餐方资金区域 id (A)")],
    host: Annotated[int, typer.Argument(help="供餐方资金区域 id (B)")],
    quarter: Annotated[str, typer.Argument(help="2026Q1")],
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="导出 Excel 到此文件")] = None,
    database_url: DbOpt = None,
) -> None:
    """Compute (again) the clearing statement of A at B for a quarter. 季度清算单"""
    ctx = context(database_url)
    sid = service.compute_statement(ctx, CLI, home, host, quarter)
    s = queries.statement(ctx, sid)
    console.print(
        f"清算单 #{sid} {s['home_region']} → {s['host_region']} {quarter}: "
        f"{s['payments']} 笔, {yuan(s['gross_fen'])} 元, {s['status']}"
    )
    for u in s["per_unit"]:
        console.print(f"  单位 {u['unit']}: {u['payments']} 笔 {yuan(u['fen'])} 元")
    for c in s["per_canteen"]:
        console.print(f"  食堂 {c['canteen']}: {c['payments']} 笔 {yuan(c['fen'])} 元")
    if xlsx is not None:
        xlsx.write_bytes(to_xlsx(queries.statement_table(ctx, sid)))
        console.print(f"已导出 {xlsx}")


@app.command("confirm")
def confirm(
    statement_id: Annotated[int, typer.Argument()],
    side: Annotated[str, typer.Argument(help="home 或 host")],
    database_url: DbOpt = None,
) -> None:
    """One side's bureau confirms a statement. 确认清算单"""
    status = service.confirm_statement(context(database_url), CLI, statement_id, side)
    console.print(f"清算单 #{statement_id}: {status}")


@app.command("book")
def book(statement_id: Annotated[int, typer.Argument()], database_url: DbOpt = None) -> None:
    """Book a confirmed statement and send its payout to the bank. 记账并付款"""
    ctx = context(database_url)
    b = service.book_statement(ctx, CLI, statement_id)
    problem = service.send_payout(ctx, statement_id)
    console.print(f"清算单 #{statement_id}: {b.status} 分录 {b.entry_id} 指令 {b.order_id}")
    if problem:
        console.print(f"[red]{problem}[/red]")
    funding_notifications.deliver_sandbox_notifications(ctx)


@app.command("verify")
def verify_clearing(database_url: DbOpt = None) -> None:
    """The ledger, and every booked statement: A's owed equals B's due. 核对"""
    ctx = context(database_url)
    with ctx.db.read() as conn:
        problems = verify(conn).problems + service.clearing_problems(conn)
    for p in problems:
        console.print(f"[red]{p}[/red]")
    if problems:
        raise typer.Exit(1)
    console.print("[green]OK[/green]")
