"""``onecard menus …``: close a day's pre-orders (no-shows) and print a day's counts.

``close-day DAY`` is the daily run (R-S2, R-S3): every pre-order of DAY still placed
becomes a no-show — a prepaid hold charged or released per the canteen's rule — audited,
idempotent (a second run changes nothing). The CLI acts as the system; errors leave
through ``cli.main``'s exit codes. The context comes from ``cli_kit.context_factory``
(the daily run is a money movement: tests run it against their own context).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer
from rich.table import Table

from onecard import cli_kit
from onecard.cli_kit import DbOpt, console
from onecard.core.money import yuan
from onecard.menus import queries, service
from onecard.org.actors import Actor
from onecard.org.directory import canteen_id_by_code

app = typer.Typer(no_args_is_help=True)
CLI = Actor.system("cli")


@app.command("close-day")
def close_day(
    day: Annotated[str | None, typer.Argument(help="日期 YYYY-MM-DD（默认昨天）")] = None,
    database_url: DbOpt = None,
) -> None:
    """Close a past day's pre-orders: no-shows charged or released. 结算未取餐预订"""
    ctx = cli_kit.context_factory(database_url)
    d = date.fromisoformat(day) if day else ctx.clock.today() - timedelta(days=1)
    res = service.close_day(ctx, CLI, d)
    console.print(
        f"{d}：结算 {res.closed} 单，扣款 {res.charged} 单 {yuan(res.charged_fen)} 元，"
        f"退回 {res.released} 单 {yuan(res.released_fen)} 元，取餐时付款未取 {res.unpaid} 单"
    )


@app.command("counts")
def counts(
    canteen: Annotated[str, typer.Argument(help="食堂编码")],
    day: Annotated[str | None, typer.Argument(help="日期 YYYY-MM-DD（默认明天）")] = None,
    database_url: DbOpt = None,
) -> None:
    """A canteen's pre-ordered portions per dish. 预订份数"""
    ctx = cli_kit.context_factory(database_url)
    d = date.fromisoformat(day) if day else ctx.clock.today() + timedelta(days=1)
    cid = canteen_id_by_code(ctx, canteen)
    t = Table(title=f"{canteen} {d} 预订份数")
    for col in ("餐次", "编码", "菜品", "份数", "单数", "预付", "已取"):
        t.add_column(col)
    for c in queries.counts(ctx, cid, d):
        t.add_row(
            c.meal, c.sku, c.name, str(c.portions), str(c.orders), str(c.prepaid), str(c.picked_up)
        )
    console.print(t)
