"""``onecard face …``: a terminal's liveness declaration, a person's withdrawal.

The CLI acts as the system (the bureau's authority). Enrolment needs the person's
consent and picture: it is done on /me or through the API, not here.
"""

from __future__ import annotations

from typing import Annotated

import typer

from onecard.cli_kit import DbOpt, console, context
from onecard.faces import service
from onecard.org.actors import Actor
from onecard.org.directory import person_id_by_staff_no

app = typer.Typer(no_args_is_help=True)
CLI = Actor.system("cli")


@app.command("liveness")
def liveness(
    terminal: Annotated[str, typer.Argument(help="消费机编码")],
    off: Annotated[bool, typer.Option("--off", help="没有活体检测（停用刷脸）")] = False,
    database_url: DbOpt = None,
) -> None:
    """Declare that a terminal runs liveness detection (face pay on), or not. 活体检测"""
    service.set_liveness(context(database_url), CLI, terminal, not off)
    console.print(f"{terminal}: 刷脸支付{'停用' if off else '启用'}")


@app.command("withdraw")
def withdraw(
    staff_no: Annotated[str, typer.Argument(help="工号")],
    database_url: DbOpt = None,
) -> None:
    """Withdraw a person's consent: their face template is deleted at once. 撤回同意"""
    ctx = context(database_url)
    gone = service.withdraw(ctx, CLI, person_id_by_staff_no(ctx, staff_no))
    console.print(f"{staff_no}: {'人脸模板已删除' if gone else '未登记人脸'}")
