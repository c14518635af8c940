"""``onecard community …``: the civil affairs rules in force, a month's supervision
(meals, subsidies, anomalies), and a canteen's monthly subsidy claim (issue 17 §4).

The CLI acts as the system (the bureau's authority); community canteens are named by
code. Errors leave through ``cli.main``'s exit codes (unknown code → 3, bad month → 2,
a claim already approved → 5).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from onecard.cli_kit import DbOpt, console, context
from onecard.community import claims, queries
from onecard.core.money import yuan
from onecard.core.tables import to_xlsx
from onecard.core.words import word
from onecard.org.actors import Actor

app = typer.Typer(no_args_is_help=True)
CLI = Actor.system("cli")


@app.command("rules")
def rules(database_url: DbOpt = None) -> None:
    """The subsidy rules in force. 补贴规则"""
    r = queries.rules(context(database_url))
    console.print(f"规则版本 {r['version']}")
    for k, v in asdict(r["rules"]).items():
        console.print(f"  {k}: {v}")


@app.command("supervise")
def supervise(
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    database_url: DbOpt = None,
) -> None:
    """Meals and subsidies per canteen per day, and the anomalies. 实时监管"""
    first, last = claims.month_bounds(month)
    seen = queries.supervision(context(database_url), first, last)
    t = Table("日期", "食堂", "人次", "餐费", "居民支付", "餐费补贴", "送餐补贴")
    for d in seen["days"]:
        t.add_row(
            str(d["meal_day"]),
            d["canteen"],
            str(d["meals"]),
            yuan(d["price_fen"]),
            yuan(d["wallet_fen"]),
            yuan(d["subsidy_fen"]),
            yuan(d["delivery_fen"]),
        )
    console.print(t)
    for a in seen["anomalies"]:
        console.print(
            f"[red]{word(a['kind'], 'anomaly')}[/red] {a['when']} {a['canteen']} "
            f"{a['resident']} {yuan(a['price_fen'])} {a['detail']}"
        )


@app.command("claim")
def claim(
    canteen: Annotated[str, typer.Argument(help="社区食堂编号")],
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    approve: Annotated[bool, typer.Option("--approve", help="审核通过并记账")] = False,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="导出 Excel 到此文件")] = None,
    database_url: DbOpt = None,
) -> None:
    """Open (or bring up to date) a canteen's monthly subsidy claim. 月度补贴申报"""
    ctx = context(database_url)
    claim_id = claims.build_claim(ctx, CLI, queries.canteen_id_by_code(ctx, canteen), month)
    if approve:
        approved, rejected = claims.approve_claim(ctx, CLI, claim_id)
        console.print(f"[green]已审核通过[/green] 通过 {yuan(approved)} 驳回 {yuan(rejected)}")
    view = queries.claim(ctx, claim_id)
    console.print(
        f"申报 #{view.id} {view.canteen} {view.month}: {len(view.lines)} 笔, "
        f"{yuan(view.total_fen)} 元, {word(view.status, 'community_claim')}"
    )
    if xlsx is not None:
        xlsx.write_bytes(to_xlsx(queries.claim_table(view)))
        console.print(f"已导出 {xlsx}")
