"""``onecard account …``: the bureau's sign-in chores from the command line.

The CLI acts as the system (the bureau's authority): it issues the one-time code a
person needs to bind a first authenticator — how the first bureau administrator of a
new installation gets in — and signs a person out everywhere. It also issues activation
codes (one person, or a whole unit's people without a password, to an Excel file),
resets a forgotten password (ends the sessions, issues a new code), unlocks a locked
sign-in and sets a temporary password that must be changed at the next sign-in — each
through ``web.account_activation``, audited like the pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onecard.cli_kit import DbOpt, console, context
from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.org.sessions import end_all_sessions
from onecard.web import account_activation as activation
from onecard.web.accounts import ENROLMENT_CODE_DAYS, issue_enrolment_code

app = typer.Typer(no_args_is_help=True)
StaffNo = Annotated[str, typer.Argument(help="工号 staff number")]


def _person(ctx: Context, staff_no: str) -> int:
    pid = org_queries.person_id(ctx, staff_no)
    if pid is None:
        raise NotFound(what="人员")
    return pid


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


def _show(issued: activation.Issued) -> None:
    from onecard.core.clock import local_text

    until = local_text(issued.expires_at)
    console.print(
        f"{issued.name} 工号 {issued.staff_no} 的激活码 activation code (只显示这一次): "
        f"[bold]{issued.code}[/bold]  有效期至 valid until {until}"
    )
    console.print("本人在 /activate 输入工号（或手机号）和激活码并设置密码；再次发放将作废此码。")


@app.command("activation-code")
def activation_code(staff_no: StaffNo, database_url: DbOpt = None) -> None:
    """Issue a person's one-time activation code (shown once). 发放激活码"""
    ctx = context(database_url)
    _show(activation.issue_activation_code(ctx, Actor.system("cli"), _person(ctx, staff_no)))


@app.command("reset")
def reset(staff_no: StaffNo, database_url: DbOpt = None) -> None:
    """Forgot password: clear it, end every session, issue a new activation code. 重置密码"""
    ctx = context(database_url)
    done = activation.reset_account(ctx, Actor.system("cli"), _person(ctx, staff_no))
    console.print(f"工号 {staff_no}: 密码已清除，已退出 {done.sessions_ended} 处登录")
    _show(done.issued)


@app.command("unlock")
def unlock(staff_no: StaffNo, database_url: DbOpt = None) -> None:
    """Clear a person's sign-in failure lock. 解除登录锁定"""
    ctx = context(database_url)
    cleared = activation.unlock_account(ctx, Actor.system("cli"), _person(ctx, staff_no))
    console.print(f"工号 {staff_no}: 已解除登录锁定（清除 {cleared} 个计数）")


@app.command("activation-codes")
def activation_codes(
    unit: Annotated[str, typer.Option("--unit", help="单位代码 unit code")],
    out: Annotated[Path, typer.Option("--out", help="Excel 文件 (.xlsx)")],
    reissue: Annotated[
        bool, typer.Option("--reissue", help="也为已有未过期激活码的人员重发（旧码作废）")
    ] = False,
    database_url: DbOpt = None,
) -> None:
    """Activation codes for a unit's people without a password, to an Excel file. 导出激活码"""

    ctx = context(database_url)
    uid = org_queries.unit_id(ctx, unit)
    if uid is None:
        raise NotFound(what="单位")
    issued = activation.issue_unit_codes(ctx, Actor.system("cli"), uid, reissue=reissue)
    out.write_bytes(activation.codes_xlsx(issued))
    console.print(f"单位 {unit}: {len(issued)} 个激活码已写入 {out}（只在此文件中出现一次）")


@app.command("temp-password")
def temp_password(staff_no: StaffNo, database_url: DbOpt = None) -> None:
    """Set a one-time temporary password; it must be changed at the next sign-in. 临时密码"""
    ctx = context(database_url)
    password = activation.set_temporary_password(ctx, Actor.system("cli"), _person(ctx, staff_no))
    console.print(
        f"工号 {staff_no} 的临时密码 temporary password (只显示这一次): [bold]{password}[/bold]"
    )
    console.print("首次登录后必须修改；此人原有的登录已全部退出。")
