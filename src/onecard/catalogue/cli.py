"""``onecard shop …``: the bureau's reference prices and the goods above them.

The CLI acts as the system (``Actor.system()``, the bureau's authority) and calls the
same services as the API: a reference-price file is previewed unless ``--publish``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from onecard.catalogue import imports, queries
from onecard.cli_kit import DbOpt, console, context
from onecard.core.money import yuan
from onecard.org.actors import Actor

app = typer.Typer(no_args_is_help=True)


@app.command("import-references")
def import_references(
    file: Annotated[Path, typer.Argument(help="参考价表 (.xlsx / .csv)")],
    valid_from: Annotated[str, typer.Option("--from", help="起始日期 YYYY-MM-DD")],
    publish: Annotated[bool, typer.Option(help="发布 (默认只预览)")] = False,
    database_url: DbOpt = None,
) -> None:
    """Preview or publish the city's large-store reference prices. 导入参考价"""
    res = imports.import_references(
        context(database_url),
        Actor.system("cli"),
        file.read_bytes(),
        date.fromisoformat(valid_from),
        filename=file.name,
        dry_run=not publish,
    )
    verb = "已发布" if publish else "预览（未写入）"
    console.print(f"[green]{verb}[/green] {len(res.rows)} 条参考价，{valid_from} 起")
    _print_over(res.over)


@app.command("over-reference")
def over_reference(database_url: DbOpt = None) -> None:
    """List the goods priced above their reference today. 高于参考价的商品"""
    _print_over(queries.goods_over_reference(context(database_url)))


def _print_over(over: list[queries.OverReference]) -> None:
    if not over:
        console.print("没有高于参考价的商品")
    for o in over:
        console.print(
            f"[yellow]{o.canteen}[/yellow] {o.sku} {o.name}: 售价 {yuan(o.price_fen)} 元"
            f" > 参考价 {yuan(o.reference_fen)} 元（{o.valid_from.isoformat()} 起）"
        )
