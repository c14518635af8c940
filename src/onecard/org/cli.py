"""``onecard terminal …``: register and revoke terminals (消费机), set canteen rollout.

The CLI acts as the system (the bureau's authority). A device key is printed once, at
registration; only its hash is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer

from onecard.cli_kit import DbOpt, console, context
from onecard.org.actors import Actor
from onecard.org.directory import canteen_id_by_code
from onecard.rollout import terminals

app = typer.Typer(no_args_is_help=True)


@app.command("register")
def register(
    canteen: Annotated[str, typer.Argument(help="食堂编码 canteen code")],
    code: Annotated[str, typer.Argument(help="消费机编号 terminal code")],
    name: Annotated[str, typer.Option(help="名称")] = "",
    database_url: DbOpt = None,
) -> None:
    """Register a terminal at a canteen and print its device key once. 登记消费机"""
    ctx = context(database_url)
    key = terminals.register_terminal(
        ctx, Actor.system("cli"), canteen_id_by_code(ctx, canteen), code, name
    )
    console.print(f"[green]已登记[/green] 消费机 {code} · 食堂 {canteen}")
    console.print(f"设备密钥 device key (只显示这一次): [bold]{key}[/bold]")


@app.command("revoke")
def revoke(
    code: Annotated[str, typer.Argument(help="消费机编号")], database_url: DbOpt = None
) -> None:
    """Revoke a terminal; its next request is refused. 停用消费机"""
    terminals.revoke_terminal(context(database_url), Actor.system("cli"), code)
    console.print(f"[yellow]已停用[/yellow] 消费机 {code}")


@app.command("rollout")
def rollout(
    canteen: Annotated[str, typer.Argument(help="食堂编码")],
    status: Annotated[str, typer.Argument(help="planned / installed / live")],
    database_url: DbOpt = None,
) -> None:
    """Set a canteen's rollout status (R-R1, R-R3). 设置上线状态"""
    ctx = context(database_url)
    terminals.set_rollout_status(ctx, Actor.system("cli"), canteen_id_by_code(ctx, canteen), status)
    console.print(f"食堂 {canteen} 上线状态: {status}")
