"""``onecard funding …`` — the quarterly and yearly money runs, imports and statements.

Every run prints its totals (yuan at the edge, from integer fen), shows a progress bar,
and takes ``--dry-run`` where a person should see the figures before money moves. The
commands act as ``Actor.system("cli:<user>")``; errors become exit codes in ``cli.main``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from onecard import cli_kit
from onecard.core.context import Context
from onecard.core.errors import ImportRejected, InvalidInput, NotFound
from onecard.core.money import yuan
from onecard.core.runs import RunResult
from onecard.funding.errors import check_quarter
from onecard.org.actors import Actor

app = typer.Typer(help="资金 / quarterly funding runs", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--database-url", help="覆盖 ONECARD_DATABASE_URL")]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="只计算并显示，不写入任何数据")]
OverrideOpt = Annotated[
    str | None,
    typer.Option(
        "--override-calendar",
        help="仅限紧急情况：日历检查未通过时仍执行，须写明理由（记入操作记录）",
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option("--region", help="经费区域代码（单独核算经费的区域）；不填则为顶级区域"),
]


def _ctx(database_url: str | None) -> Context:
    return cli_kit.context_factory(database_url)


def _actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return Actor.system(f"cli:{user}")


def _console() -> Any:
    from onecard.cli_kit import console

    return console


@contextmanager
def _bar(description: str) -> Iterator[Callable[[int, int], None]]:
    from onecard.cli_kit import progress_bar

    with progress_bar() as bar:
        task = bar.add_task(description, total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield step


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"日期应为 2026-01-08 这样的格式：{text}") from None


FEN_KEYS_ZH = {
    "amount_fen": "金额",
    "amount_due_fen": "应缴",
    "already_fen": "此前已拨付",
    "available_fen": "可分配余额",
    "gross_fen": "消费总额",
    "fee_fen": "系统管理费",
    "withheld_fen": "考核扣减",
    "net_fen": "实付",
    "cash_fen": "现金余额",
    "subsidy_returned_fen": "补贴退回单位",
    "credit_fen": "贷方合计",
    "debit_fen": "借方合计",
}
COUNT_KEYS_ZH = {
    "units": "单位数",
    "new_notices": "新通知",
    "lines": "流水行数",
    "new": "新增",
    "unmatched": "未匹配",
    "receipts": "来款笔数",
    "people": "人数",
    "new_people": "本次拨付人数",
    "canteens": "食堂数",
    "matched": "已匹配",
    "amount_mismatch": "金额不符",
    "state_mismatch": "状态不符",
    "unclaimed": "未认领来款",
    "bank_only": "银行有系统无",
    "ledger_only": "系统有银行无",
}


def _print_result(res: RunResult, columns: list[tuple[str, str]]) -> None:
    con = _console()
    if res.lines and columns:
        t = Table(title=f"{res.scope}", show_lines=False)
        for _key, head in columns:
            t.add_column(head)
        for ln in res.lines:
            t.add_row(*[_fmt(k, ln.get(k)) for k, _ in columns])
        con.print(t)
    parts = []
    for k, v in res.totals.items():
        if k.endswith("_fen"):
            parts.append(f"{FEN_KEYS_ZH.get(k, k)} {yuan(int(v))} 元")
        elif k.startswith("unit:"):
            parts.append(f"{k[5:]} {yuan(int(v))} 元")
        else:
            parts.append(f"{COUNT_KEYS_ZH.get(k, k)} {v}")
    label = "[yellow]试运行（未写入）[/yellow]" if res.dry_run else "[green]完成[/green]"
    if res.dry_run and res.problems and res.action == "distribute":
        label = "[red]未拨付[/red]"
    elif not res.dry_run and not res.changed:
        label = "[cyan]已处理过，本次无变化[/cyan]"
    con.print(f"{label} 合计：" + "，".join(parts))
    for p in res.problems:
        con.print(f"[red]⚠ {p}[/red]")
    for n in res.notes:
        con.print(f"[yellow]{n}[/yellow]")


def _print_summary(
    ctx: Context, kind: str, period: str, results: list[RunResult], region: str | None = None
) -> None:
    """A preview opens with its summary: this run against the previous period (of the
    same fund region)."""
    from onecard.funding.summary import previous_quarter, summarise

    rows = summarise(ctx, kind, period, results, region)
    if not rows:
        return
    before = str(int(period) - 1) if kind == "year_end" else previous_quarter(period)
    t = Table(title="汇总")
    for head in ("项目", "本次", f"上期（{before}）", "差额"):
        t.add_column(head, justify="left" if head == "项目" else "right")
    for r in rows:
        show = yuan if r["money"] else str
        if r["before"] is None:
            t.add_row(r["label"], show(r["now"]), "—", "—")
        else:
            d = r["now"] - r["before"]
            t.add_row(
                r["label"], show(r["now"]), show(r["before"]), ("+" if d > 0 else "") + show(d)
            )
    _console().print(t)


VALUE_ZH = {
    "operation": {"self": "单位自营", "outsourced": "委托经营"},
    "status": {
        "new": "待结算",
        "nothing": "无需付款",
        "payout_pending": "付款中",
        "paid": "已付款",
        "payout_failed": "付款失败",
    },
}


def _fmt(key: str, v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "是" if v else "否"
    if key.endswith("_fen") and isinstance(v, int):
        return yuan(v)
    if key in VALUE_ZH:
        return VALUE_ZH[key].get(str(v), str(v))
    if key == "share_bp" and isinstance(v, int):
        return f"{v / 100:.2f}%"
    return str(v)


def _unit_id(ctx: Context, code: str) -> int:
    from onecard.org.models import Unit

    with ctx.db.read() as conn:
        uid = conn.execute(
            select(Unit.id).where((Unit.code == code) | (Unit.name == code))
        ).scalar()
    if uid is None:
        raise NotFound(what=f"单位 {code}")
    return int(uid)


def _canteen_id(ctx: Context, code: str) -> int:
    from onecard.org.models import Canteen

    with ctx.db.read() as conn:
        cid = conn.execute(
            select(Canteen.id).where((Canteen.code == code) | (Canteen.name == code))
        ).scalar()
    if cid is None:
        raise NotFound(what=f"食堂 {code}")
    return int(cid)


def _person_id(ctx: Context, staff_no: str) -> int:
    from onecard.org.models import Person

    with ctx.db.read() as conn:
        pid = conn.execute(select(Person.id).where(Person.staff_no == staff_no)).scalar()
    if pid is None:
        raise NotFound(what=f"工号 {staff_no}")
    return int(pid)


# --- notices and receipts ---------------------------------------------------------------
@app.command("notices")
def cmd_notices(
    quarter: str, dry_run: DryOpt = False, region: RegionOpt = None, database_url: DbOpt = None
) -> None:
    """Issue funding notices for a quarter (amount due = sum of staff standards). 缴款通知"""
    from onecard.funding.notices import issue_notices

    check_quarter(quarter)
    ctx = _ctx(database_url)
    with _bar(f"生成 {quarter} 缴款通知") as step:
        res = issue_notices(ctx, _actor(), quarter, dry_run=dry_run, progress=step, region=region)
    if dry_run:
        _print_summary(ctx, "notices", quarter, [res], region)
    _print_result(
        res,
        [
            ("unit", "单位"),
            ("reference", "通知编号"),
            ("headcount", "人数"),
            ("amount_due_fen", "应缴(元)"),
            ("due_date", "截止日"),
        ],
    )


@app.command("status")
def cmd_status(quarter: str, region: RegionOpt = None, database_url: DbOpt = None) -> None:
    """Paid / short / over / unpaid and late, per notice. 缴款情况"""
    from onecard.funding.notices import STATUS_ZH, notice_status

    ctx = _ctx(database_url)
    t = Table(title=f"{quarter} 缴款情况")
    for h in ("单位", "通知编号", "应缴(元)", "已缴(元)", "状态", "逾期"):
        t.add_column(h)
    for s in notice_status(ctx, quarter, region):
        t.add_row(
            s["unit"],
            s["reference"],
            yuan(s["amount_due_fen"]),
            yuan(s["paid_fen"]),
            STATUS_ZH[s["status"]],
            "逾期" if s["late"] else "",
        )
    _console().print(t)


@app.command("receipts")
def cmd_receipts(
    day: str,
    file: Annotated[
        Path | None, typer.Option("--file", help="银行对账单文件（CSV 或 Excel）")
    ] = None,
    dry_run: DryOpt = False,
    region: RegionOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Book units' payments from a day's bank statement into the dining fund. 单位来款入账"""
    from onecard.funding.notices import import_receipts

    ctx = _ctx(database_url)
    data = file.read_bytes() if file else None
    with _bar(f"导入 {day} 单位来款") as step:
        res = import_receipts(
            ctx, _actor(), _day(day), dry_run=dry_run, progress=step, data=data, region=region
        )
    _print_result(
        res,
        [
            ("serial", "流水号"),
            ("payer", "付款人"),
            ("amount_fen", "金额(元)"),
            ("unit", "匹配单位"),
            ("late", "逾期"),
            ("new", "新"),
        ],
    )


@app.command("assign-receipt")
def cmd_assign_receipt(
    serial: str,
    unit: str,
    notice: Annotated[
        str | None,
        typer.Option("--notice", help="缴款通知编号，如 JF-U003-2026Q1；不填则最早未缴足的通知"),
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Say whose an unmatched bank credit is (by unit code or name). 指定来款单位"""
    from onecard.funding.models import FundingNotice
    from onecard.funding.notices import assign_receipt

    ctx = _ctx(database_url)
    notice_id = None
    if notice:
        with ctx.db.read() as conn:
            notice_id = conn.execute(
                select(FundingNotice.id).where(FundingNotice.reference == notice)
            ).scalar()
        if notice_id is None:
            raise NotFound(what=f"缴款通知 {notice}")
    res = assign_receipt(ctx, _actor(), serial, _unit_id(ctx, unit), notice_id)
    _print_result(res, [("serial", "流水号"), ("unit", "单位"), ("amount_fen", "金额(元)")])


@app.command("transfer")
def cmd_transfer(
    dry_run: DryOpt = False, region: RegionOpt = None, database_url: DbOpt = None
) -> None:
    """Move matched receipts from the dining fund to the system income line. 转拨收入户"""
    from onecard.funding.notices import transfer_to_income

    ctx = _ctx(database_url)
    with _bar("转拨系统收入户") as step:
        res = transfer_to_income(ctx, _actor(), dry_run=dry_run, progress=step, region=region)
    _print_result(res, [("unit", "单位"), ("serial", "流水号"), ("amount_fen", "金额(元)")])


# --- distribution and people --------------------------------------------------------------
@app.command("distribute")
def cmd_distribute(
    quarter: str,
    unit: Annotated[
        str | None, typer.Option("--unit", help="单位代码或名称；不填则全部单位")
    ] = None,
    dry_run: DryOpt = False,
    override_calendar: OverrideOpt = None,
    region: RegionOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Credit each person's subsidy purse for the quarter (idempotent). 拨付到卡"""
    from onecard.funding.distribution import distribute, distribute_all

    check_quarter(quarter)
    ctx = _ctx(database_url)
    actor = _actor()
    cols = [
        ("staff_no", "工号"),
        ("name", "姓名"),
        ("months", "计发月数"),
        ("standard_fen", "季度标准(元)"),
        ("amount_fen", "金额(元)"),
        ("done", "此前已拨"),
    ]
    with _bar(f"{quarter} 拨付") as step:
        if unit:
            results = [
                distribute(
                    ctx,
                    actor,
                    _unit_id(ctx, unit),
                    quarter,
                    dry_run=dry_run,
                    progress=step,
                    override_calendar=override_calendar,
                )
            ]
        else:
            results = distribute_all(
                ctx,
                actor,
                quarter,
                dry_run=dry_run,
                progress=step,
                override_calendar=override_calendar,
                region=region,
            )
    if dry_run:
        _print_summary(ctx, "distribute", quarter, results, region)
    for res in results:
        _print_result(res, cols)
    if any(r.problems for r in results):
        raise typer.Exit(5)


@app.command("leave")
def cmd_leave(
    staff_no: str,
    on: Annotated[str | None, typer.Option("--on", help="离职日期，默认今天")] = None,
    database_url: DbOpt = None,
) -> None:
    """Mark a person as left; their subsidy goes back to the unit. 离职"""
    from onecard.funding.distribution import leave

    ctx = _ctx(database_url)
    res = leave(ctx, _actor(), _person_id(ctx, staff_no), _day(on) if on else None)
    _print_result(res, [])


@app.command("refund-cash")
def cmd_refund_cash(staff_no: str, dry_run: DryOpt = False, database_url: DbOpt = None) -> None:
    """Pay a leaver's own cash back to their bound savings card. 离职现金退卡"""
    from onecard.funding.payouts import refund_leaver_cash

    ctx = _ctx(database_url)
    res = refund_leaver_cash(ctx, _actor(), _person_id(ctx, staff_no), dry_run=dry_run)
    _print_result(res, [("person", "姓名"), ("card", "银行卡"), ("amount_fen", "金额(元)")])


# --- settlement ---------------------------------------------------------------------------
@app.command("quality-rule")
def cmd_quality_rule(canteen: str, bands: str, database_url: DbOpt = None) -> None:
    """Set a canteen's score bands, e.g. '90:100,80:98,0:95'. 考核分档"""
    from onecard.funding.settlement import parse_bands, set_quality_rule

    ctx = _ctx(database_url)
    clean = set_quality_rule(ctx, _actor(), _canteen_id(ctx, canteen), parse_bands(bands))
    _console().print(
        "[green]已设置考核分档[/green]：" + "，".join(f"≥{m} 分付 {s / 100:.2f}%" for m, s in clean)
    )


@app.command("settle")
def cmd_settle(
    quarter: str,
    dry_run: DryOpt = False,
    override_calendar: OverrideOpt = None,
    region: RegionOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Quarter-end settlement (after the quarter ends): fee 0.5%, quality share, payout; closes the period. 季度结算"""
    from onecard.funding.settlement import settle_quarter

    check_quarter(quarter)
    ctx = _ctx(database_url)
    with _bar(f"{quarter} 结算") as step:
        res = settle_quarter(
            ctx,
            _actor(),
            quarter,
            dry_run=dry_run,
            progress=step,
            override_calendar=override_calendar,
            region=region,
        )
    if dry_run:
        _print_summary(ctx, "settle", quarter, [res], region)
    _print_result(
        res,
        [
            ("canteen", "食堂"),
            ("operation", "经营方式"),
            ("gross_fen", "消费总额(元)"),
            ("fee_fen", "管理费(元)"),
            ("score", "考核分"),
            ("share_bp", "支付比例"),
            ("withheld_fen", "扣减(元)"),
            ("net_fen", "实付(元)"),
            ("status", "状态"),
        ],
    )


@app.command("year-end")
def cmd_year_end(
    year: int,
    dry_run: DryOpt = False,
    override_calendar: OverrideOpt = None,
    region: RegionOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Clear every subsidy purse (after the Q4 settlement); leftovers back to units (or finance). 年末清零"""
    from onecard.funding.year_end import clear_year

    ctx = _ctx(database_url)
    with _bar(f"{year} 年末清零") as step:
        res = clear_year(
            ctx,
            _actor(),
            year,
            dry_run=dry_run,
            progress=step,
            override_calendar=override_calendar,
            region=region,
        )
    if dry_run:
        _print_summary(ctx, "year_end", str(year), [res], region)
    _print_result(
        res,
        [("unit", "单位"), ("staff_no", "工号"), ("name", "姓名"), ("amount_fen", "清零金额(元)")],
    )


@app.command("return-funds")
def cmd_return_funds(
    dry_run: DryOpt = False, region: RegionOpt = None, database_url: DbOpt = None
) -> None:
    """Pay units what is owed back to them (leftovers, withheld parts). 退回单位"""
    from onecard.funding.payouts import return_to_units

    ctx = _ctx(database_url)
    with _bar("退回单位款项") as step:
        res = return_to_units(ctx, _actor(), dry_run=dry_run, progress=step, region=region)
    _print_result(res, [("unit", "单位"), ("account", "银行账户"), ("amount_fen", "金额(元)")])


@app.command("region-fund")
def cmd_region_fund(
    region: str,
    own: Annotated[
        bool,
        typer.Option("--own/--shared", help="单独核算经费（--own）或并入上级经费（--shared）"),
    ] = True,
    database_url: DbOpt = None,
) -> None:
    """Make a region keep its own dining fund (or give it back to the region above). 区域单独核算"""
    from onecard.funding.regions import set_own_fund

    ctx = _ctx(database_url)
    res = set_own_fund(ctx, _actor(), region, own=own)
    _print_result(res, [("region_id", "区域"), ("fund_region_id", "经费区域")])


@app.command("send-orders")
def cmd_send_orders(database_url: DbOpt = None) -> None:
    """Send bank orders still waiting (after the bank was unavailable). 重发银行指令"""
    from onecard.funding.payouts import pending_order_ids, send_orders

    ctx = _ctx(database_url)
    ids = pending_order_ids(ctx)
    problems = send_orders(ctx, ids)
    _console().print(f"待处理指令 {len(ids)} 条")
    for p in problems:
        _console().print(f"[red]⚠ {p}[/red]")


# --- statements, reconciliation, audit ------------------------------------------------------
@app.command("statement")
def cmd_statement(
    kind: Annotated[str, typer.Argument(help="canteen | unit | person")],
    code: Annotated[str, typer.Argument(help="食堂代码 / 单位代码 / 工号")],
    period: Annotated[str, typer.Argument(help="季度 2026Q1（个人：年份 2026）")],
    out: Annotated[Path, typer.Option("--out", "-o", help="输出文件 .pdf 或 .xlsx")],
    database_url: DbOpt = None,
) -> None:
    """Write a statement as PDF or Excel. 对账单/结算单"""
    from onecard.funding import statements as st

    ctx = _ctx(database_url)
    if kind == "canteen":
        doc = st.canteen_statement(ctx, _canteen_id(ctx, code), period)
    elif kind == "unit":
        doc = st.unit_statement(ctx, _unit_id(ctx, code), period)
    elif kind == "person":
        if not period.isdigit():
            raise InvalidInput(f"个人对账单的期间为年份，如 2026：{period}")
        doc = st.person_statement(ctx, _person_id(ctx, code), int(period))
    else:
        raise InvalidInput(f"对账单类型应为 canteen、unit 或 person：{kind}")
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        out.write_bytes(st.to_pdf(doc))
    elif suffix == ".xlsx":
        out.write_bytes(st.to_xlsx(doc))
    else:
        raise InvalidInput("输出文件须以 .pdf 或 .xlsx 结尾")
    con = _console()
    con.print(f"[bold]{doc.title}[/bold]")
    for k, v in doc.facts:
        con.print(f"  {k}：{v}")
    con.print(f"[green]已写入 {out}[/green]")


@app.command("reconcile")
def cmd_reconcile(
    day: str,
    file: Annotated[
        Path | None, typer.Option("--file", help="银行对账单文件（CSV 或 Excel）；不填则用银行的")
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Match a day's bank statement against our records; exit 5 if a line needs a person. 对账"""
    from onecard.funding.reconciliation import reconcile_day

    ctx = _ctx(database_url)
    data = file.read_bytes() if file else None
    with _bar(f"{day} 对账") as step:
        res = reconcile_day(ctx, _actor(), _day(day), data)
        step(1, 1)
    _print_result(
        res,
        [
            ("status_zh", "结果"),
            ("what", "业务"),
            ("ref", "流水/指令"),
            ("bank_fen", "银行(元)"),
            ("ledger_fen", "系统(元)"),
        ],
    )
    if res.problems:
        raise typer.Exit(5)


@app.command("audit")
def cmd_audit(
    action: Annotated[str | None, typer.Option("--action")] = None,
    database_url: DbOpt = None,
) -> None:
    """Who ran what, when, with which totals (see also ``onecard audit``). 审计记录"""
    from onecard.audit.records import records

    ctx = _ctx(database_url)
    t = Table(title="审计记录（北京时间）")
    for h in ("时间", "操作人", "来源", "操作", "范围", "合计"):
        t.add_column(h)
    for r in records(ctx, action):
        t.add_row(
            r["at_local"].replace("T", " "),
            r["actor"],
            r["origin"],
            r["action"],
            r["scope"],
            str(r["totals"]),
        )
    _console().print(t)


# --- imports --------------------------------------------------------------------------------
def _print_import(res: Any) -> None:
    con = _console()
    for label, items in (("新增", res.new), ("变更", res.changed), ("离职", res.leaving)):
        for it in items:
            who = it.get("staff_no") or it.get("unit_name") or ""
            extra = it.get("changes") or ""
            con.print(f"  {label} {who} {it.get('name', '')} {extra}")
    head = "[yellow]试运行（未写入）[/yellow]" if res.dry_run else "[green]已导入[/green]"
    con.print(
        f"{head} 共 {res.rows} 行：新增 {len(res.new)}，变更 {len(res.changed)}，"
        f"离职 {len(res.leaving)}，无变化 {res.unchanged}"
    )


def _import(run: Callable[[], Any]) -> None:
    try:
        _print_import(run())
    except ImportRejected as exc:
        con = _console()
        for err in getattr(exc, "rows", []):
            con.print(f"[red]✗ {err}[/red]")
        raise


@app.command("roster-import")
def cmd_roster_import(
    file: Path,
    on: Annotated[str | None, typer.Option("--on", help="入职/离职生效日期，默认今天")] = None,
    dry_run: DryOpt = False,
    database_url: DbOpt = None,
) -> None:
    """Import a staff roster (Excel or CSV); all rows checked first. 导入人员花名册"""
    from onecard.org.imports import import_roster

    ctx = _ctx(database_url)
    data = file.read_bytes()
    _import(
        lambda: import_roster(
            ctx, _actor(), data, file.name, dry_run=dry_run, effective=_day(on) if on else None
        )
    )


@app.command("roster-template")
def cmd_roster_template(
    out: Path,
    unit: Annotated[str | None, typer.Option("--unit")] = None,
    database_url: DbOpt = None,
) -> None:
    """Export the roster (pre-filled) as an Excel template. 导出花名册模板"""
    from onecard.org.imports import roster_template

    ctx = _ctx(database_url)
    out.write_bytes(roster_template(ctx, _unit_id(ctx, unit) if unit else None))
    _console().print(f"[green]已写入 {out}[/green]")


@app.command("unit-info-template")
def cmd_unit_info_template(out: Path, database_url: DbOpt = None) -> None:
    """Export the unit information table (信息统计表) as Excel (.xlsx) or CSV. 导出信息统计表"""
    from onecard.org.imports import unit_info_csv, unit_info_template

    ctx = _ctx(database_url)
    data = unit_info_csv(ctx) if out.suffix.lower() == ".csv" else unit_info_template(ctx)
    out.write_bytes(data)
    _console().print(f"[green]已写入 {out}[/green]")


@app.command("unit-info-import")
def cmd_unit_info_import(file: Path, dry_run: DryOpt = False, database_url: DbOpt = None) -> None:
    """Import the filled-in unit information table. 导入信息统计表"""
    from onecard.org.imports import import_unit_info

    ctx = _ctx(database_url)
    data = file.read_bytes()
    _import(lambda: import_unit_info(ctx, _actor(), data, file.name, dry_run=dry_run))
