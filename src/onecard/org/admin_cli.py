"""``onecard org …``: regions, units, canteens, administrators and the city's
information table from the command line.

Rows are named by their codes (a unit or canteen also by its name), as people type
them. The commands act as ``Actor.system("cli:<user>")`` — the bureau's authority —
through the same services as the pages and the API, so every change is checked and
audited the same way; errors become exit codes in ``cli.main`` (2 bad input, 3 not
found, 4 not allowed, 5 a code in use or a refused retirement). Output is Chinese.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from onecard.core.context import Context
from onecard.core.errors import ImportRejected, NotFound
from onecard.core.money import yuan
from onecard.funding import payees
from onecard.org import admin, grants, imports, listing, retirement
from onecard.org.actors import Actor
from onecard.org.fields import FIELD_NAMES_ZH, LEVEL_ZH, OPERATION_ZH, REGION_LEVEL_ZH
from onecard.org.models import Canteen, Person, Region, RoleGrant, Unit

app = typer.Typer(
    help="机构 / organisation: regions, units, canteens, administrators", no_args_is_help=True
)
region_app = typer.Typer(help="区域 / regions (city → county → township)", no_args_is_help=True)
unit_app = typer.Typer(help="单位 / units", no_args_is_help=True)
canteen_app = typer.Typer(help="食堂 / canteens", no_args_is_help=True)
admin_app = typer.Typer(help="管理员与角色 / administrators and roles", no_args_is_help=True)
app.add_typer(region_app, name="region")
app.add_typer(unit_app, name="unit")
app.add_typer(canteen_app, name="canteen")
app.add_typer(admin_app, name="admin")

DbOpt = Annotated[str | None, typer.Option("--database-url", help="覆盖 ONECARD_DATABASE_URL")]
Opt = Annotated[str | None, typer.Option()]


def _default_context(database_url: str | None) -> Context:
    from onecard.cli_kit import context

    return context(database_url)


# Tests swap this to run the commands against their own context.
context_factory: Callable[[str | None], Context] = _default_context


def _actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return Actor.system(f"cli:{user}")


def _console() -> Any:
    from onecard.cli_kit import console

    return console


def _id(ctx: Context, table: Any, key: str, what: str, by_name: bool = True) -> int:
    with ctx.db.read() as conn:
        cond = table.code == key
        if by_name:
            cond = cond | ((table.name == key) & table.retired_at.is_(None))
        found = conn.execute(select(table.id).where(cond).order_by(table.id)).scalar()
    if found is None:
        raise NotFound(what=f"{what} {key}")
    return int(found)


def _given(**options: Any) -> dict[str, Any]:
    """The options the person gave (an option left out changes nothing)."""
    return {k: v for k, v in options.items() if v is not None}


def _shown(v: Any) -> str:
    return "—" if v is None or v == "" else str(v)


def _changes(changes: dict[str, list[Any]]) -> str:
    return "；".join(
        f"{FIELD_NAMES_ZH.get(k, k)}：{_shown(a)} → {_shown(b)}" for k, (a, b) in changes.items()
    )


def _print_change(ch: admin.Change) -> None:
    con = _console()
    verb = {"create": "已新建", "update": "已修改", "retire": "已撤销"}[ch.action]
    if not ch.changed:
        con.print(f"[cyan]{ch.scope}：没有修改[/cyan]")
        return
    con.print(f"[green]{verb}[/green] {ch.scope}")
    for k, after in ch.after.items():
        before = ch.before.get(k) if ch.before else None
        con.print(f"  {FIELD_NAMES_ZH.get(k, k)}：{_shown(before)} → {_shown(after)}")
    for res in ch.retried:
        state = "已重新发送" if res.changed else "未发送"
        con.print(f"  结算付款 {res.scope} {state} {'；'.join(res.problems)}")


# --- regions ------------------------------------------------------------------------------
@region_app.command("list")
def region_list(
    all_: Annotated[bool, typer.Option("--all", help="含已撤销")] = False,
    database_url: DbOpt = None,
) -> None:
    """List the regions. 区域列表"""
    rows = listing.regions(context_factory(database_url), include_retired=all_)
    names = {r["id"]: r["name"] for r in rows}
    t = Table(title="区域")
    for h in ("代码", "名称", "级别", "上级", "单位数", "状态"):
        t.add_column(h)
    for r in rows:
        t.add_row(
            r["code"],
            r["name"],
            REGION_LEVEL_ZH[r["level"]],
            names.get(r["parent_id"], "—"),
            str(r["units"]),
            "已撤销" if r["retired_at"] else "正常",
        )
    _console().print(t)


@region_app.command("add")
def region_add(
    code: str,
    name: str,
    parent: Annotated[str, typer.Option(help="上级区域代码")],
    level: Annotated[str, typer.Option(help="county / township")] = "county",
    database_url: DbOpt = None,
) -> None:
    """Create a county (under the city) or township (under a county). 新增区域"""
    ctx = context_factory(database_url)
    parent_id = _id(ctx, Region, parent, "区域")
    raw = {"code": code, "name": name, "level": level, "parent_id": parent_id}
    _print_change(admin.create_region(ctx, _actor(), raw))


@region_app.command("edit")
def region_edit(
    code: str, new_code: Opt = None, name: Opt = None, database_url: DbOpt = None
) -> None:
    """Rename or re-code a region. 修改区域"""
    ctx = context_factory(database_url)
    rid = _id(ctx, Region, code, "区域", by_name=False)
    _print_change(admin.update_region(ctx, _actor(), rid, _given(code=new_code, name=name)))


@region_app.command("retire")
def region_retire(code: str, database_url: DbOpt = None) -> None:
    """Retire a region with no unit or region left in it. 撤销区域"""
    ctx = context_factory(database_url)
    _print_change(retirement.retire_region(ctx, _actor(), _id(ctx, Region, code, "区域")))


# --- units --------------------------------------------------------------------------------
@unit_app.command("list")
def unit_list(
    q: Annotated[str, typer.Option(help="名称或代码包含")] = "",
    all_: Annotated[bool, typer.Option("--all", help="含已撤销")] = False,
    database_url: DbOpt = None,
) -> None:
    """List the units with their people and canteens. 单位列表"""
    rows = listing.units(context_factory(database_url), include_retired=all_, q=q)
    t = Table(title=f"单位（{len(rows)}）")
    for h in ("代码", "名称", "区域", "级别", "在职", "食堂", "单位账户", "状态"):
        t.add_column(h)
    for r in rows:
        t.add_row(
            r["code"],
            r["name"],
            r["region_name"],
            LEVEL_ZH[r["level"]],
            str(r["people"]),
            str(r["canteens"]),
            r["bank_account"] or "—",
            "已撤销" if r["retired_at"] else "正常",
        )
    _console().print(t)


def _unit_options(
    region: str | None,
    level: str | None,
    bank_account: str | None,
    contact: str | None,
    phone: str | None,
    has_canteen: bool | None,
    standard: str | None,
    ctx: Context,
) -> dict[str, Any]:
    return _given(
        region_id=_id(ctx, Region, region, "区域") if region else None,
        level=level,
        bank_account=bank_account,
        contact=contact,
        phone=phone,
        has_canteen=has_canteen,
        default_standard_fen=standard,
    )


CanteenFlag = Annotated[bool | None, typer.Option("--has-canteen/--no-canteen", help="有无食堂")]
StandardOpt = Annotated[str | None, typer.Option("--standard", help="默认每季度就餐标准（元）")]


@unit_app.command("add")
def unit_add(
    code: str,
    name: str,
    region: Annotated[str | None, typer.Option(help="区域代码（默认本市）")] = None,
    level: Annotated[str | None, typer.Option(help="市直 / 县直 / 乡镇")] = None,
    bank_account: Annotated[str | None, typer.Option(help="单位账户（退款打入）")] = None,
    contact: Opt = None,
    phone: Opt = None,
    has_canteen: CanteenFlag = None,
    standard: StandardOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Create a unit with its ledger accounts. 新增单位"""
    ctx = context_factory(database_url)
    raw = _unit_options(region, level, bank_account, contact, phone, has_canteen, standard, ctx)
    if "region_id" not in raw:
        with ctx.db.read() as conn:
            # The top region: the city, or the province (its own units, 省直).
            city = conn.execute(
                select(Region.id).where(Region.parent_id.is_(None)).order_by(Region.id)
            ).scalar()
        raw["region_id"] = city
    _print_change(admin.create_unit(ctx, _actor(), {"code": code, "name": name, **raw}))


@unit_app.command("edit")
def unit_edit(
    unit: Annotated[str, typer.Argument(help="单位代码或名称")],
    code: Opt = None,
    name: Opt = None,
    region: Opt = None,
    level: Opt = None,
    bank_account: Opt = None,
    contact: Opt = None,
    phone: Opt = None,
    has_canteen: CanteenFlag = None,
    standard: StandardOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Edit a unit; a corrected account re-sends failed payouts. 修改单位"""
    ctx = context_factory(database_url)
    uid = _id(ctx, Unit, unit, "单位")
    raw = _given(code=code, name=name) | _unit_options(
        region, level, bank_account, contact, phone, has_canteen, standard, ctx
    )
    _print_change(payees.update_unit(ctx, _actor(), uid, raw))


@unit_app.command("show")
def unit_show(
    unit: Annotated[str, typer.Argument(help="单位代码或名称")], database_url: DbOpt = None
) -> None:
    """One unit, its canteens, and what stands in the way of retiring it. 单位详情"""
    ctx = context_factory(database_url)
    uid = _id(ctx, Unit, unit, "单位")
    r = listing.unit(ctx, uid)
    con = _console()
    con.print(f"[bold]{r['code']} {r['name']}[/bold] · {r['region_name']} · {LEVEL_ZH[r['level']]}")
    con.print(
        f"单位账户 {r['bank_account'] or '—'} · 联系人 {r['contact'] or '—'} {r['phone'] or ''}"
        f" · 在职 {r['people']} 人 · 默认标准 {yuan(r['default_standard_fen'])} 元/季度"
    )
    for c in listing.canteens(ctx, unit_id=uid):
        con.print(f"  食堂 {c['code']} {c['name']} · {OPERATION_ZH[c['operation']]}")
    reasons = retirement.blockers(ctx, "unit", uid)
    con.print("可以撤销" if not reasons else "不能撤销：" + "；".join(reasons))


@unit_app.command("retire")
def unit_retire(
    unit: Annotated[str, typer.Argument(help="单位代码或名称")], database_url: DbOpt = None
) -> None:
    """Retire a unit with no people, money or canteen left (exit 5 with the reasons). 撤销单位"""
    ctx = context_factory(database_url)
    _print_change(retirement.retire_unit(ctx, _actor(), _id(ctx, Unit, unit, "单位")))


# --- canteens -----------------------------------------------------------------------------
@canteen_app.command("list")
def canteen_list(
    unit: Annotated[str | None, typer.Option(help="单位代码或名称")] = None,
    all_: Annotated[bool, typer.Option("--all", help="含已撤销")] = False,
    database_url: DbOpt = None,
) -> None:
    """List the canteens. 食堂列表"""
    ctx = context_factory(database_url)
    uid = _id(ctx, Unit, unit, "单位") if unit else None
    rows = listing.canteens(ctx, unit_id=uid, include_retired=all_)
    t = Table(title=f"食堂（{len(rows)}）")
    for h in ("编码", "名称", "所属单位", "经营方式", "经营者", "结算账户", "窗口", "座位", "上线"):
        t.add_column(h)
    for c in rows:
        t.add_row(
            c["code"],
            c["name"] + (" [已撤销]" if c["retired_at"] else ""),
            c["unit_name"],
            OPERATION_ZH[c["operation"]],
            c["operator_name"] or "—",
            c["operator_bank_account"] or "—",
            str(c["windows"]),
            str(c["capacity"]),
            c["rollout_status"],
        )
    _console().print(t)


@canteen_app.command("add")
def canteen_add(
    code: str,
    name: str,
    unit: Annotated[str, typer.Option(help="所属单位代码或名称")],
    operation: Annotated[str, typer.Option(help="自营 / 委托经营")] = "自营",
    operator: Annotated[str | None, typer.Option(help="经营者名称")] = None,
    operator_account: Annotated[str | None, typer.Option(help="经营者结算账户")] = None,
    location: Opt = None,
    hours: Annotated[str | None, typer.Option(help="开放时间")] = None,
    seats: Annotated[int | None, typer.Option(min=0)] = None,
    windows: Annotated[int | None, typer.Option(min=0)] = None,
    contract_starts: Opt = None,
    contract_ends: Opt = None,
    contact: Opt = None,
    phone: Opt = None,
    database_url: DbOpt = None,
) -> None:
    """Create a canteen of a unit (planned until its terminals are in). 新增食堂"""
    ctx = context_factory(database_url)
    raw = _given(
        code=code,
        name=name,
        unit_id=_id(ctx, Unit, unit, "单位"),
        operation=operation,
        operator_name=operator,
        operator_bank_account=operator_account,
        location=location,
        opening_hours=hours,
        capacity=seats,
        windows=windows,
        contract_starts=contract_starts,
        contract_ends=contract_ends,
        contact=contact,
        phone=phone,
    )
    _print_change(admin.create_canteen(ctx, _actor(), raw))


@canteen_app.command("edit")
def canteen_edit(
    canteen: Annotated[str, typer.Argument(help="食堂编码或名称")],
    code: Opt = None,
    name: Opt = None,
    unit: Annotated[str | None, typer.Option(help="所属单位代码或名称")] = None,
    operation: Opt = None,
    operator: Opt = None,
    operator_account: Annotated[str | None, typer.Option(help="经营者结算账户")] = None,
    location: Opt = None,
    hours: Opt = None,
    seats: Annotated[int | None, typer.Option(min=0)] = None,
    windows: Annotated[int | None, typer.Option(min=0)] = None,
    contract_starts: Opt = None,
    contract_ends: Opt = None,
    contact: Opt = None,
    phone: Opt = None,
    database_url: DbOpt = None,
) -> None:
    """Edit a canteen; a corrected operator account re-sends its failed payouts. 修改食堂"""
    ctx = context_factory(database_url)
    cid = _id(ctx, Canteen, canteen, "食堂")
    raw = _given(
        code=code,
        name=name,
        unit_id=_id(ctx, Unit, unit, "单位") if unit else None,
        operation=operation,
        operator_name=operator,
        operator_bank_account=operator_account,
        location=location,
        opening_hours=hours,
        capacity=seats,
        windows=windows,
        contract_starts=contract_starts,
        contract_ends=contract_ends,
        contact=contact,
        phone=phone,
    )
    _print_change(payees.update_canteen(ctx, _actor(), cid, raw))


@canteen_app.command("retire")
def canteen_retire(
    canteen: Annotated[str, typer.Argument(help="食堂编码或名称")], database_url: DbOpt = None
) -> None:
    """Retire a canteen with nothing unsettled and no terminal in use. 撤销食堂"""
    ctx = context_factory(database_url)
    _print_change(retirement.retire_canteen(ctx, _actor(), _id(ctx, Canteen, canteen, "食堂")))


@canteen_app.command("retry-payouts")
def canteen_retry(
    canteen: Annotated[str, typer.Argument(help="食堂编码或名称")], database_url: DbOpt = None
) -> None:
    """Send again the settlement payouts the bank returned for a canteen. 重新付款"""
    ctx = context_factory(database_url)
    done = payees.retry_failed_payouts(ctx, _actor(), _id(ctx, Canteen, canteen, "食堂"))
    con = _console()
    if not done:
        con.print("[cyan]没有付款失败的结算款[/cyan]")
    for res in done:
        amount = yuan(int(res.totals.get("net_fen", 0)))
        state = "[green]已重新发送[/green]" if res.changed else "[yellow]未发送[/yellow]"
        con.print(f"{state} {res.scope} {amount} 元 {'；'.join(res.problems)}")


# --- administrators -------------------------------------------------------------------------
@admin_app.command("list")
def admin_list(
    unit: Annotated[str | None, typer.Option(help="单位代码或名称")] = None,
    database_url: DbOpt = None,
) -> None:
    """Everyone holding a role (or one unit's admins and canteen managers). 管理员列表"""
    ctx = context_factory(database_url)
    uid = _id(ctx, Unit, unit, "单位") if unit else None
    t = Table(title="管理员与角色")
    for h in ("工号", "姓名", "所在单位", "角色", "范围"):
        t.add_column(h)
    for g in grants.administrators(ctx, _actor(), uid):
        t.add_row(
            g["staff_no"],
            g["name"],
            g["person_unit"],
            g["role_zh"],
            g["canteen_name"] or g["unit_name"] or g["region_name"] or "全市",
        )
    _console().print(t)


RoleArg = Annotated[
    str,
    typer.Argument(
        help="bureau_admin / clearing_operator / finance / auditor / unit_admin / canteen_manager"
    ),
]


@admin_app.command("grant")
def admin_grant(
    staff_no: str,
    role: RoleArg,
    unit: Annotated[str | None, typer.Option(help="单位管理员：单位代码或名称")] = None,
    canteen: Annotated[str | None, typer.Option(help="食堂管理员：食堂编码或名称")] = None,
    name: Annotated[str | None, typer.Option(help="新人员的姓名")] = None,
    person_unit: Annotated[str | None, typer.Option(help="新人员所在单位")] = None,
    phone: Opt = None,
    region: Annotated[
        str | None, typer.Option(help="全市角色限于该区域及其下级：区域代码或名称（默认全部）")
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Give a person a role, creating the person if the staff number is new. 授权"""
    ctx = context_factory(database_url)
    a = grants.Appointment(
        staff_no=staff_no,
        role=role,
        unit_id=_id(ctx, Unit, unit, "单位") if unit else None,
        canteen_id=_id(ctx, Canteen, canteen, "食堂") if canteen else None,
        name=name,
        person_unit_id=_id(ctx, Unit, person_unit, "单位") if person_unit else None,
        phone=phone,
        region_id=_id(ctx, Region, region, "区域") if region else None,
    )
    got = grants.appoint(ctx, _actor(), a)
    made = "（新建人员）" if got["created"] else ""
    _console().print(
        f"[green]已授权[/green] {got['staff_no']} {got['name']}{made}：{'、'.join(got['roles'])}"
    )


@admin_app.command("revoke")
def admin_revoke(
    staff_no: str,
    role: RoleArg,
    unit: Annotated[str | None, typer.Option(help="单位代码或名称")] = None,
    canteen: Annotated[str | None, typer.Option(help="食堂编码或名称")] = None,
    region: Annotated[str | None, typer.Option(help="区域代码或名称（区域的全市角色）")] = None,
    database_url: DbOpt = None,
) -> None:
    """Take a role away; it ends with the person's next request. 取消授权"""
    ctx = context_factory(database_url)
    uid = _id(ctx, Unit, unit, "单位") if unit else None
    cid = _id(ctx, Canteen, canteen, "食堂") if canteen else None
    rid = _id(ctx, Region, region, "区域") if region else None
    with ctx.db.read() as conn:
        q = (
            select(RoleGrant.id)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(Person.staff_no == staff_no, RoleGrant.role_code == role)
        )
        q = q.where(RoleGrant.unit_id == uid if uid else RoleGrant.unit_id.is_(None))
        q = q.where(RoleGrant.canteen_id == cid if cid else RoleGrant.canteen_id.is_(None))
        q = q.where(RoleGrant.region_id == rid if rid else RoleGrant.region_id.is_(None))
        gid = conn.execute(q).scalar()
    if gid is None:
        raise NotFound(what=f"{staff_no} 的 {grants.ROLE_ZH.get(role, role)} 授权")
    got = grants.revoke(ctx, _actor(), int(gid))
    left = "、".join(got["roles"]) or "无"
    _console().print(f"[yellow]已取消授权[/yellow] {staff_no}，现有角色：{left}")


# --- the information table --------------------------------------------------------------------
@app.command("template")
def info_template(
    out: Annotated[Path, typer.Argument(help="写入的文件（.xlsx，或 .csv 只含单位表）")],
    database_url: DbOpt = None,
) -> None:
    """Write the city's information table (信息统计表), pre-filled. 导出信息统计表"""
    ctx = context_factory(database_url)
    csv = out.suffix.lower() == ".csv"
    out.write_bytes(imports.unit_info_csv(ctx) if csv else imports.unit_info_template(ctx))
    _console().print(f"[green]已写入 {out}[/green]")


@app.command("import")
def info_import(
    file: Path,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只检查并显示，不写入")] = False,
    database_url: DbOpt = None,
) -> None:
    """Create and update units and canteens from the information table. 导入信息统计表"""
    ctx = context_factory(database_url)
    con = _console()
    try:
        res = imports.import_unit_info(ctx, _actor(), file.read_bytes(), file.name, dry_run=dry_run)
    except ImportRejected as exc:
        for err in getattr(exc, "rows", []):
            con.print(f"[red]✗ {err}[/red]")
        raise
    for label, items in (("新增单位", res.units_new), ("新增食堂", res.canteens_new)):
        for it in items:
            con.print(f"  {label} {it['code']} {it['name']}")
    for label, items in (("变更单位", res.units_changed), ("变更食堂", res.canteens_changed)):
        for it in items:
            con.print(f"  {label} {it['code']} {it['name']} {_changes(it['changes'])}")
    head = "[yellow]试运行（未写入）[/yellow]" if dry_run else "[green]已导入[/green]"
    con.print(
        f"{head} 共 {res.rows} 行：新增单位 {len(res.units_new)}，变更单位 {len(res.units_changed)}，"
        f"新增食堂 {len(res.canteens_new)}，变更食堂 {len(res.canteens_changed)}，"
        f"上报数据新增 {len(res.new)}、变更 {len(res.changed)}"
    )
