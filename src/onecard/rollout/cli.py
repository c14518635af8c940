"""``onecard rollout …``: the terminal plan, terminal moves, inspections, a canteen's
go-live, card progress, supervision and notices (R-R1, R-R3).

The CLI acts as the system (the bureau's authority); terminals and canteens are named by
code, units by code. Errors leave through ``cli.main``'s exit codes (409 illegal move or
go-live refused → 5, unknown code → 3, bad input → 2). A device key is printed once, at
installation.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from onecard.cli import DbOpt, console, context
from onecard.core.errors import InvalidInput, NotFound
from onecard.org.actors import Actor
from onecard.org.directory import canteen_id_by_code
from onecard.org.models import Unit
from onecard.org.terminals import terminal_id_by_code
from onecard.rollout import queries, service
from onecard.rollout import states as st

app = typer.Typer(no_args_is_help=True)
CLI = Actor.system("cli")


@app.command("plan")
def plan(
    canteen: Annotated[
        str | None, typer.Argument(help="食堂编码 (all canteens if omitted)")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="只显示计划，不生成")] = False,
    database_url: DbOpt = None,
) -> None:
    """Show the terminal plan and add the missing terminals as planned. 生成安装计划"""
    ctx = context(database_url)
    if not show:
        if canteen:
            made = {canteen: service.plan_terminals(ctx, CLI, canteen_id_by_code(ctx, canteen))}
        else:
            made = service.plan_city(ctx, CLI)
        for code, codes in made.items():
            if codes:
                console.print(f"[green]已计划[/green] 食堂 {code}: {' '.join(codes)}")
    t = Table("食堂", "单位", "窗口", "就餐人数", "计划", "消费机", "上线状态")
    for c in queries.plan(ctx):
        if canteen and c.code != canteen:
            continue
        counts = " ".join(f"{st.TERMINAL_ZH.get(k, k)}{n}" for k, n in sorted(c.terminals.items()))
        t.add_row(
            f"{c.code} {c.name}",
            c.unit_name,
            str(c.windows),
            str(c.diners),
            str(c.planned),
            counts or "—",
            st.CANTEEN_ZH[c.rollout_status],
        )
    console.print(t)


def _move(code: str, to: str, database_url: str | None, note: str = "") -> None:
    ctx = context(database_url)
    key = service.move_terminal(ctx, CLI, terminal_id_by_code(ctx, code), to, note)
    console.print(f"消费机 {code}: {st.TERMINAL_ZH[to]}")
    if key:
        console.print(f"设备密钥 device key (只显示这一次): [bold]{key}[/bold]")


@app.command("install")
def install(
    code: Annotated[str, typer.Argument(help="消费机编号")], database_url: DbOpt = None
) -> None:
    """planned → installed; prints the device key once. 标记已安装"""
    _move(code, st.INSTALLED, database_url)


@app.command("accept")
def accept(
    code: Annotated[str, typer.Argument(help="消费机编号")],
    note: Annotated[str, typer.Option(help="备注")] = "",
    database_url: DbOpt = None,
) -> None:
    """installed → accepted. 验收通过"""
    _move(code, st.ACCEPTED, database_url, note)


@app.command("live")
def live(
    code: Annotated[str, typer.Argument(help="消费机编号")], database_url: DbOpt = None
) -> None:
    """accepted → live: the terminal takes payments from now on. 启用收款"""
    _move(code, st.LIVE, database_url)


@app.command("revoke")
def revoke(
    code: Annotated[str, typer.Argument(help="消费机编号")],
    note: Annotated[str, typer.Option(help="备注")] = "",
    database_url: DbOpt = None,
) -> None:
    """Any state → revoked. 停用"""
    _move(code, st.REVOKED, database_url, note)


@app.command("inspect")
def inspect(
    canteen: Annotated[str, typer.Argument(help="食堂编码")],
    passed: Annotated[
        list[str] | None, typer.Option("--pass", help="通过的检查项目（可重复）")
    ] = None,
    failed: Annotated[
        list[str] | None, typer.Option("--fail", help="未通过的项目（可重复）")
    ] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="检查日期 YYYY-MM-DD（默认今天）")
    ] = None,
    note: Annotated[str, typer.Option(help="备注")] = "",
    database_url: DbOpt = None,
) -> None:
    """Record an acceptance inspection (passes when no item failed). 记录验收检查

    Without --pass/--fail the standard checklist is recorded as all passed."""
    ctx = context(database_url)
    items = [(i, True) for i in passed or []] + [(i, False) for i in failed or []]
    if not items:
        items = [(i, True) for i in service.CHECKLIST]
    try:
        day = date.fromisoformat(on) if on else ctx.clock.today()
    except ValueError:
        raise InvalidInput("检查日期格式应为 2026-03-01") from None
    iid, ok = service.record_inspection(
        ctx, CLI, canteen_id_by_code(ctx, canteen), day, items, note
    )
    state = queries.canteen_plan(ctx, canteen_id_by_code(ctx, canteen)).rollout_status
    console.print(
        f"验收检查 #{iid} 食堂 {canteen}: {'[green]通过[/green]' if ok else '[red]未通过[/red]'}"
        f" · 上线状态 {st.CANTEEN_ZH[state]}"
    )


@app.command("canteen-live")
def canteen_live(
    canteen: Annotated[str, typer.Argument(help="食堂编码")], database_url: DbOpt = None
) -> None:
    """inspected → live (a passed inspection and a live terminal needed). 食堂上线"""
    ctx = context(database_url)
    service.make_canteen_live(ctx, CLI, canteen_id_by_code(ctx, canteen))
    console.print(f"[green]食堂 {canteen} 已上线[/green]")


@app.command("progress")
def progress(database_url: DbOpt = None) -> None:
    """Card issuing per unit and the city. 发卡进度"""
    units, city = queries.card_progress(context(database_url))
    t = Table("单位", "在册人数", "已发卡", "发卡率")
    for u in [*units, city]:
        t.add_row(f"{u.code} {u.name}".strip(), str(u.people), str(u.with_card), f"{u.pct}%")
    console.print(t)


@app.command("behind")
def behind(
    xlsx: Annotated[Path | None, typer.Option(help="导出 Excel（督办清单与通知）")] = None,
    database_url: DbOpt = None,
) -> None:
    """Units behind the plan, how far. 督办清单"""
    ctx = context(database_url)
    t = Table("单位", "未上线食堂", "消费机 已启用/计划", "发卡率")
    for u in queries.supervision(ctx, behind_only=True):
        t.add_row(
            f"{u.code} {u.name}",
            "、".join(u.canteens_not_live) or "—",
            f"{u.terminals_live}/{u.terminals_planned}",
            f"{u.cards_pct}%",
        )
    console.print(t)
    if xlsx:
        xlsx.write_bytes(queries.supervision_xlsx(ctx))
        console.print(f"已导出 {xlsx}")


@app.command("notice")
def notice(
    unit: Annotated[str, typer.Argument(help="单位代码")],
    text: Annotated[str, typer.Argument(help="通知内容")],
    kind: Annotated[str, typer.Option(help="urge（督办）或 praise（通报表扬）")] = "urge",
    database_url: DbOpt = None,
) -> None:
    """Send a unit an urging (督办) or a praise (通报表扬). 下发通知"""
    ctx = context(database_url)
    with ctx.db.read() as conn:
        uid = conn.execute(select(Unit.id).where(Unit.code == unit)).scalar()
    if uid is None:
        raise NotFound(what=f"单位 {unit}")
    nid = service.issue_notice(ctx, CLI, int(uid), kind, text)
    console.print(f"通知 #{nid} 已下发给 {unit}（{service.NOTICE_ZH[kind]}）")
