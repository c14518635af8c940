"""``onecard sourcing …``: trace a batch to its meals, and the ingredient cost per canteen
and meal (table or Excel) (R-S2, R-S4).

Reads only. Errors leave through ``cli.main``'s exit codes (bad input → 2, not found → 3).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from onecard.cli_kit import DbOpt, console, context
from onecard.core.errors import NotFound
from onecard.core.money import yuan
from onecard.sourcing import queries

app = typer.Typer(no_args_is_help=True)


@app.command("trace")
def trace(
    batch_no: Annotated[str, typer.Argument(help="批次号")],
    xlsx: Annotated[Path | None, typer.Option(help="写入 Excel 文件")] = None,
    database_url: DbOpt = None,
) -> None:
    """Trace a batch to the meals, canteens and dates it reached. 批次去向"""
    ctx = context(database_url)
    found = [b for b in queries.find_batches(ctx, batch_no) if b["batch_no"] == batch_no]
    if not found:
        raise NotFound(what=f"批次 {batch_no}")
    for b in found:
        got = queries.batch_trace(ctx, int(b["id"]))
        assert got is not None
        if xlsx:
            xlsx.write_bytes(queries.xlsx(queries.batch_trace_table(got)))
            console.print(f"[green]已写入[/green] {xlsx}")
            return
        t = Table(
            title=f"{b['batch_no']} {b['ingredient']} · {b['supplier']} {b['licence_no']}"
            f" · {b['canteen']} · {'合格' if b['inspection'] == 'pass' else '不合格'}"
        )
        for col in ("日期", "餐次", "食堂", "菜品", "用量"):
            t.add_column(col)
        for u in got["uses"]:
            t.add_row(
                str(u["day"]), u["meal"], u["canteen"], u["dish"], f"{u['quantity']} {u['unit']}"
            )
        console.print(t)


@app.command("cost")
def cost(
    start: Annotated[str | None, typer.Option(help="起始日 YYYY-MM-DD（默认 30 天前）")] = None,
    end: Annotated[str | None, typer.Option(help="截止日 YYYY-MM-DD（默认今天）")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="写入 Excel 文件")] = None,
    database_url: DbOpt = None,
) -> None:
    """Ingredient cost per canteen and meal. 食材成本"""
    ctx = context(database_url)
    until = date.fromisoformat(end) if end else ctx.clock.today()
    since = date.fromisoformat(start) if start else until - timedelta(days=29)
    rows = queries.ingredient_cost(ctx, since, until)
    if xlsx:
        xlsx.write_bytes(queries.xlsx(queries.cost_table(rows, since, until)))
        console.print(f"[green]已写入[/green] {xlsx}")
        return
    t = Table(title=f"食材成本 {since} – {until}")
    for col in ("食堂", "餐次", "天数", "食材成本（元）"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.canteen, r.meal, str(r.days), yuan(r.fen, grouped=True))
    console.print(t)
