"""``onecard partner …``: the bureau's partner credentials — create, rotate, revoke, list.

The CLI acts as the system (the bureau's authority); each change is audited. A secret
is printed once, when it is made: only its sealed form is kept.
"""

from __future__ import annotations

from typing import Annotated

import typer

from onecard.cli_kit import DbOpt, console, context
from onecard.org.actors import Actor
from onecard.partners import queries, service, signing

app = typer.Typer(no_args_is_help=True)
CLI = Actor.system("cli")


def _show_secret(client_id: str, secret: str) -> None:
    console.print(f"client id: {client_id}")
    console.print(f"secret:    {secret}")
    console.print("（密钥只显示这一次，请安全交给合作方 / shown once: hand it over safely）")


@app.command("create")
def create(
    client_id: Annotated[str, typer.Argument(help="客户端编号（小写字母、数字、连字符）")],
    name: Annotated[str, typer.Option("--name", help="合作方名称")],
    scope: Annotated[
        list[str], typer.Option("--scope", help=f"授权范围，可多次：{', '.join(signing.SCOPES)}")
    ],
    database_url: DbOpt = None,
) -> None:
    """A partner system and its first secret. 新建合作方"""
    _show_secret(client_id, service.create(context(database_url), CLI, client_id, name, scope))


@app.command("rotate")
def rotate(
    client_id: Annotated[str, typer.Argument(help="客户端编号")],
    grace_hours: Annotated[int, typer.Option("--grace-hours", help="旧密钥继续有效的小时数")] = (
        signing.GRACE_HOURS
    ),
    database_url: DbOpt = None,
) -> None:
    """A new secret; the old one signs until the grace period ends. 轮换密钥"""
    _show_secret(client_id, service.rotate(context(database_url), CLI, client_id, grace_hours))


@app.command("revoke")
def revoke(
    client_id: Annotated[str, typer.Argument(help="客户端编号")],
    database_url: DbOpt = None,
) -> None:
    """Refuse every request of this partner from now on. 撤销"""
    service.revoke(context(database_url), CLI, client_id)
    console.print(f"{client_id}: 已撤销 / revoked")


@app.command("list")
def list_partners(database_url: DbOpt = None) -> None:
    """Every partner, its scopes and status (never a secret). 合作方列表"""
    for p in queries.partners(context(database_url)):
        console.print(
            f"{p['client_id']}\t{p['name']}\t{' '.join(p['scopes']) or '-'}\t{p['status']}"
            f"\t有效密钥 {p['valid_credentials']}"
        )
