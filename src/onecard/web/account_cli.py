"""``onecard account …``: the bureau's sign-in chores from the command line.

The CLI acts as the system (the bureau's authority): it issues the one-time code a
person needs to bind a first authenticator — how the first bureau administrator of a
new installation gets in — and signs a person out everywhere.
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from onecard.cli_kit import DbOpt, console, context
from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.org.sessions import end_all_sessions
from onecard.web.accounts import ENROLMENT_CODE_DAYS, issue_enrolment_code

app = typer.Typer(no_args_is_help=True)
StaffNo = Annotated[str, typer.Argument(help="工号 staff number")]


def _person(ctx: Context, staff_no: str) -> int:
    with ctx.db.read() as conn:
        pid = conn.execute(select(Person.id).where(Person.staff_no == staff_no)).scalar()
    if pid is None:
        raise NotFound(what="人员")
    return int(pid)


@app.command("enrol-code")
def enrol_code(staff_no: StaffNo, database_url: DbOpt = None) -> None:
    """Issue a one-time authenticator enrolment code (shown once). 发放验证器绑定码"""
    ctx = context(database_url)
    code = issue_enrolment_code(ctx, Actor.system("cli"), _person(ctx, staff_no))
    console.print(
        f"工号 {staff_no} 的验证器绑定码 enrolment code (只显示这一次): [bold]{code}[/bold]"
    )
    console.print(f"{ENROLMENT_CODE_DAYS} 天内有效；再次发放将作废此码。")


@app.command("sign-out-everywhere")
def sign_out_everywhere(staff_no: StaffNo, database_url: DbOpt = None) -> None:
    """End every session of a person. 退出全部登录"""
    ctx = context(database_url)
    ended = end_all_sessions(ctx, Actor.system("cli"), _person(ctx, staff_no), "ended_by_admin")
    console.print(f"工号 {staff_no}: 已退出 {ended} 处登录")
