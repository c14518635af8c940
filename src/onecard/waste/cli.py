"""``onecard waste …``: waste per diner per canteen (table or Excel) and the bureau's
waste notices (R-R4, R-S5).

The CLI acts as the system (the bureau's authority); canteens are named by code. Errors
leave through ``cli.main``'s exit codes (bad input → 2, unknown code → 3).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from onecard import cli_kit
from onecard.cli_kit import DbOpt, console, context
from onecard.org.actors import Actor
from onecard.org.directory import canteen_id_by_code
from onecard.waste import queries, service

app = typer.Typer(no_args_is_help=True)
CLI = Actor.system("cli")


def _g(v: int | None) -> str:
    return "—" if v is None else f"{v:,}"


@app.command("per-diner")
def per_diner(
    start: Annotated[str | None, typer.Option(help="起始日 YYYY-MM-DD（默认 30 天前）")] = None,
    end: Annotated[str | None, typer.Option(help="截止日 YYYY-MM-DD（默认今天）")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="写入 Excel 文件")] = None,
    database_url: DbOpt = None,
) -> None:
    """Leftover grams per diner per canteen. 人均剩余"""
    ctx = context(database_url)
    until = date.fromisoformat(end) if end else ctx.clock.today()
    since = date.fromisoformat(start) if start else until - timedelta(days=29)
    if xlsx:
        xlsx.write_bytes(queries.per_diner_xlsx(ctx, since, until))
        console.print(f"[green]已写入[/green] {xlsx}")
        return
    t = Table(title=f"人均剩余 {since} – {until}")
    for col in queries.CANTEEN_COLUMNS:
        t.add_column(col)
    for c in queries.per_canteen(queries.per_diner(ctx, since, until)):
        t.add_row(c.canteen, str(c.days), _g(c.grams), _g(c.diners), _g(c.per_diner))
    console.print(t)


@app.command("notice")
def notice(
    canteen: Annotated[str, typer.Argument(help="食堂编码")],
    text: Annotated[str, typer.Argument(help="通报内容")],
    database_url: DbOpt = None,
) -> None:
    """Issue a waste notice (浪费通报) to a canteen. 发布浪费通报"""
    ctx = context(database_url)
    nid = service.issue_notice(ctx, CLI, canteen_id_by_code(ctx, canteen), text)
    console.print(f"[green]已通报[/green] #{nid}")


def score(
    canteen: Annotated[str, typer.Argument(help="食堂编码")],
    quarter: Annotated[str, typer.Argument(help="季度，如 2026Q1")],
    assessed: Annotated[int, typer.Argument(help="考核分数 0–100")],
    database_url: DbOpt = None,
) -> None:
    """Record the owning unit's quality score (0–100) for a quarter, less the quarter's
    waste deduction. 考核打分 (also ``onecard funding score``: cli.py registers it there)"""
    # Through ``context_factory`` like the funding runs it is mounted among (tests swap it).
    ctx = cli_kit.context_factory(database_url)
    s = service.record_quality_score(ctx, CLI, canteen_id_by_code(ctx, canteen), quarter, assessed)
    console.print(
        f"[green]已录入 {quarter} 考核分数 {s.final}[/green]"
        f"（考核 {s.assessed}，浪费扣 {s.waste_points}，通报扣 {s.notice_points}）"
    )


app.command("score")(score)
