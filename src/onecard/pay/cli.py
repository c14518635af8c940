"""``onecard card …``: the card desk's commands (issue, lost, unfreeze, replace, cancel).

The CLI acts as the system (``Actor.system()``, the bureau's authority); every command
calls the same service as the API and prints the result in Chinese.
"""

from __future__ import annotations

from typing import Annotated

import typer

from onecard.cli_kit import DbOpt, console, context
from onecard.org.actors import Actor
from onecard.org.directory import person_id_by_staff_no
from onecard.pay import cards

app = typer.Typer(no_args_is_help=True)
CardNo = Annotated[str, typer.Argument(help="卡号 card number")]


@app.command("issue")
def issue(
    staff_no: Annotated[str, typer.Argument(help="工号 staff number")],
    card_no: Annotated[str | None, typer.Option(help="指定卡号 (默认自动生成)")] = None,
    database_url: DbOpt = None,
) -> None:
    """Issue a card to a person. 发卡"""
    ctx = context(database_url)
    new = cards.issue_card(ctx, Actor.system("cli"), person_id_by_staff_no(ctx, staff_no), card_no)
    console.print(f"[green]已发卡[/green] 工号 {staff_no} · 卡号 {new}")


@app.command("lost")
def lost(card_no: CardNo, database_url: DbOpt = None) -> None:
    """Report a card lost: refused at every terminal from now on. 挂失"""
    cards.report_lost(context(database_url), Actor.system("cli"), card_no)
    console.print(f"[yellow]已挂失[/yellow] 卡号 {card_no}")


@app.command("unfreeze")
def unfreeze(card_no: CardNo, database_url: DbOpt = None) -> None:
    """Unfreeze a lost card that turned up. 解挂"""
    cards.unfreeze(context(database_url), Actor.system("cli"), card_no)
    console.print(f"[green]已解挂[/green] 卡号 {card_no}")


@app.command("replace")
def replace(
    card_no: CardNo,
    new_card_no: Annotated[str | None, typer.Option(help="新卡号 (默认自动生成)")] = None,
    database_url: DbOpt = None,
) -> None:
    """Replace a card; the balance stays with the person. 补卡"""
    new = cards.replace_card(context(database_url), Actor.system("cli"), card_no, new_card_no)
    console.print(f"[green]已补卡[/green] 原卡 {card_no} 已注销 · 新卡号 {new}")


@app.command("cancel")
def cancel(card_no: CardNo, database_url: DbOpt = None) -> None:
    """Cancel a card for good. 注销"""
    cards.cancel_card(context(database_url), Actor.system("cli"), card_no)
    console.print(f"已注销 卡号 {card_no}")
