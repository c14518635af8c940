"""``onecard bank …`` (files exchanged with the bank) and ``onecard bank-sandbox …``.

``bank`` is the finance office's side of the file exchange and works with any adapter
where it can: write the next batch file, read a return file, read a statement file (the
same intake as the reconciliation page), list and re-download files. ``bank-sandbox``
is the simulated bank itself, on its shared store (``ONECARD_BANK_SANDBOX_URL``): run it
(deliver its callbacks), play the outside world (open accounts, a unit paying in) and
online banking (execute a batch file, export a statement). Errors become exit codes in
``cli.main``; a file that needs a person's attention exits 5.
"""

from __future__ import annotations

import getpass
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from onecard import cli_kit
from onecard.core.context import Context
from onecard.core.errors import InvalidInput
from onecard.core.money import fen_from_yuan, yuan
from onecard.org.actors import Actor

bank_app = typer.Typer(help="银行文件 / files exchanged with the bank", no_args_is_help=True)
sandbox_app = typer.Typer(help="沙箱银行 / the simulated bank")

DbOpt = Annotated[str | None, typer.Option("--database-url", help="覆盖 ONECARD_DATABASE_URL")]


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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"日期应为 2026-01-08 这样的格式：{text}") from None


def _fmt(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InvalidInput("文件须以 .csv 或 .xlsx 结尾")
    return suffix[1:]


# --- bank: the file exchange ------------------------------------------------------------
@bank_app.command("batch")
def cmd_batch(
    kind: Annotated[
        str, typer.Option("--kind", help="transfers（批量转账）| collections（批量代扣）")
    ] = "transfers",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="输出文件 .xlsx 或 .csv")] = None,
    database_url: DbOpt = None,
) -> None:
    """Write every order waiting for the bank into the next batch file. 生成批量付款文件"""
    from onecard.funding.bank_files import write_batch

    if kind not in ("transfers", "collections"):
        raise InvalidInput(f"--kind 应为 transfers 或 collections：{kind}")
    fmt = _fmt(out) if out else "xlsx"
    ctx = _ctx(database_url)
    got = write_batch(ctx, _actor(), kind, fmt)  # type: ignore[arg-type]
    con = _console()
    if got is None:
        con.print("[cyan]没有等待发送的指令[/cyan]")
        return
    path = out or Path(got.name)
    path.write_bytes(got.data)
    con.print(
        f"[green]已写入 {path}[/green]：{got.orders} 笔，合计 {yuan(got.amount_fen)} 元。"
        "请在网银上传该文件，处理后下载处理结果文件，用 onecard bank returns 读入。"
    )


@bank_app.command("returns")
def cmd_returns(file: Path, database_url: DbOpt = None) -> None:
    """Read the bank's return file: each order paid or failed, once. 读入处理结果文件"""
    from onecard.funding.bank_files import import_returns

    ctx = _ctx(database_url)
    res = import_returns(ctx, _actor(), file.read_bytes(), file.name)
    con = _console()
    t = Table(title=f"处理结果 {file.name}")
    for head in ("业务参考号", "对方户名", "金额(元)", "结果", "失败原因", "本次"):
        t.add_column(head)
    news = {"new": "新", "already": "已读过", "conflict": "冲突"}
    for ln in res.lines:
        t.add_row(
            ln["reference"],
            ln["name"],
            yuan(int(ln["amount_fen"])),
            ln["result"],
            ln["reason"],
            news[str(ln["status"])],
        )
    con.print(t)
    label = "[green]完成[/green]" if res.changed else "[cyan]已处理过，本次无变化[/cyan]"
    tot = res.totals
    con.print(
        f"{label} 共 {tot['lines']} 笔：成功 {tot['paid']}，失败 {tot['failed']}，"
        f"本次更新指令 {tot['settled']} 笔"
    )
    for p in res.problems:
        con.print(f"[red]⚠ {p}[/red]")
    if res.problems:
        raise typer.Exit(5)


@bank_app.command("statement")
def cmd_statement(file: Path, database_url: DbOpt = None) -> None:
    """Read a statement file (CSV or the bank's Excel): receipts, orders, reconciliation. 读入对账单"""
    from onecard.funding.reconciliation import STATUS_ZH, import_statement

    ctx = _ctx(database_url)
    got = import_statement(ctx, _actor(), file.read_bytes(), file.name)
    con = _console()
    label = "[green]完成[/green]" if got.changed else "[cyan]已处理过，本次无变化[/cyan]"
    con.print(
        f"{label} 流水 {got.lines} 行（新 {got.new_lines}），本次确认指令 {got.settled} 笔，"
        f"入账来款 {sum(r.totals.get('new', 0) for r in got.receipts)} 笔"
    )
    for day in got.days:
        counts = "，".join(f"{STATUS_ZH[k]} {day.totals[k]}" for k in STATUS_ZH if day.totals[k])
        con.print(f"{day.scope} 对账：{counts or '无流水'}")
        for p in day.problems:
            con.print(f"[red]⚠ {p}[/red]")
    for p in got.problems:
        con.print(f"[red]⚠ {p}[/red]")
    if got.needs_a_person:
        raise typer.Exit(5)


@bank_app.command("files")
def cmd_files(database_url: DbOpt = None) -> None:
    """The latest files written for or read from the bank. 银行文件记录"""
    from onecard.funding.bank_files import recent_files

    ctx = _ctx(database_url)
    t = Table(title="银行文件")
    for head in ("编号", "类型", "文件名", "笔数", "金额(元)", "时间(UTC)", "操作人"):
        t.add_column(head)
    for f in recent_files(ctx, 50):
        t.add_row(
            str(f["id"]),
            f["kind_zh"],
            f["name"],
            str(f["lines"]),
            yuan(int(f["amount_fen"])),
            f["created_at"].isoformat(" ", "seconds"),
            f["created_by"],
        )
    _console().print(t)


@bank_app.command("file")
def cmd_file(
    file_id: int,
    out: Annotated[Path, typer.Option("--out", "-o", help="输出文件")],
    database_url: DbOpt = None,
) -> None:
    """Write a file exchanged with the bank again, byte for byte. 重新导出银行文件"""
    from onecard.funding.bank_files import batch_file

    ctx = _ctx(database_url)
    _name, data = batch_file(ctx, _actor(), file_id)
    out.write_bytes(data)
    _console().print(f"[green]已写入 {out}[/green]")


# --- bank-sandbox: the simulated bank ---------------------------------------------------
def _sandbox(ctx: Context) -> Any:
    from onecard.channels.factory import sandbox_store_url
    from onecard.channels.sandbox import SandboxBank

    if isinstance(ctx.bank, SandboxBank):
        return ctx.bank
    s = ctx.settings
    return SandboxBank(secret=s.secret_key.encode(), clock=ctx.clock, store=sandbox_store_url(s))


def _deliver_here(ctx: Context) -> Any:
    from onecard.funding.notifications import handle_bank_notification

    def handle(body: bytes, signature: str) -> None:
        handle_bank_notification(ctx, body, signature)

    return handle


@sandbox_app.callback(invoke_without_command=True)
def sandbox_main(context: typer.Context) -> None:
    """The simulated bank: with no command, run it (deliver its callbacks). 沙箱银行"""
    if context.invoked_subcommand is None:
        cmd_run()


@sandbox_app.command("run")
def cmd_run(
    callback: Annotated[
        str | None,
        typer.Option(
            "--callback",
            help="POST callbacks here, e.g. http://127.0.0.1:8000/api/v1/channels/bank/notify",
        ),
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.1, max=60.0, help="seconds between rounds")
    ] = 1.0,
    database_url: DbOpt = None,
) -> None:
    """Run the sandbox bank: deliver its queued notifications until stopped. 运行沙箱银行"""
    from onecard.channels.courier import Courier, http_handler

    ctx = _ctx(database_url)
    bank = _sandbox(ctx)
    handler = http_handler(callback) if callback else _deliver_here(ctx)
    where = callback or "本库 (in-process)"
    _console().print(f"沙箱银行 {bank.store_url} → 回调 {where}；Ctrl-C 停止")
    courier = Courier(bank, handler, interval).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        courier.stop()


@sandbox_app.command("deliver")
def cmd_deliver(database_url: DbOpt = None) -> None:
    """Deliver the queued notifications once, into this database. 投递银行通知"""
    ctx = _ctx(database_url)
    bank = _sandbox(ctx)
    done = bank.deliver(_deliver_here(ctx))
    left = len(bank.pending_notifications())
    _console().print(f"已投递 {done} 条通知，待投递 {left} 条")


@sandbox_app.command("open-account")
def cmd_open_account(
    account: str,
    name: str,
    balance: Annotated[str, typer.Option("--balance", help="初始余额（元）")] = "0",
    database_url: DbOpt = None,
) -> None:
    """Open an outside account (a unit's, an operator's, a savings card). 开立外部账户"""
    bank = _sandbox(_ctx(database_url))
    bank.open_outside_account(account, name, _yuan(balance, allow_zero=True))
    _console().print(f"[green]已开户[/green] {account} {name}")


@sandbox_app.command("pay-in")
def cmd_pay_in(
    from_account: str,
    amount: str,
    memo: str,
    to: Annotated[
        str, typer.Option("--to", help="dining_fund | income | expenditure")
    ] = "dining_fund",
    database_url: DbOpt = None,
) -> None:
    """An outside account pays into a platform account (a unit's funds). 外部来款"""
    from onecard.channels.bank import PLATFORM_ACCOUNTS

    if to not in PLATFORM_ACCOUNTS:
        raise InvalidInput(f"--to 应为 {' | '.join(PLATFORM_ACCOUNTS)}：{to}")
    bank = _sandbox(_ctx(database_url))
    line = bank.credit_from_outside(from_account, PLATFORM_ACCOUNTS[to], _yuan(amount), memo)
    _console().print(f"[green]已到账[/green] 流水 {line.serial} {yuan(line.amount_fen)} 元")


@sandbox_app.command("statement")
def cmd_sandbox_statement(
    day: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="输出文件 .csv 或 .xlsx")],
    database_url: DbOpt = None,
) -> None:
    """Export a day's statement, as online banking would (CSV or Excel). 导出对账单"""
    bank = _sandbox(_ctx(database_url))
    d = _day(day)
    data = bank.statement_xlsx(d) if _fmt(out) == "xlsx" else bank.statement_file(d)
    out.write_bytes(data)
    _console().print(f"[green]已写入 {out}[/green]")


@sandbox_app.command("upload")
def cmd_upload(
    file: Path,
    out: Annotated[Path, typer.Option("--out", "-o", help="处理结果文件 .csv 或 .xlsx")],
    database_url: DbOpt = None,
) -> None:
    """Execute a batch file as online banking would; write its return file. 上传批量文件"""
    bank = _sandbox(_ctx(database_url))
    fmt = _fmt(out)
    out.write_bytes(bank.process_batch_file(file.read_bytes(), file.name, fmt))
    _console().print(f"[green]已处理，处理结果写入 {out}[/green]")


@sandbox_app.command("status")
def cmd_status(database_url: DbOpt = None) -> None:
    """The sandbox's store, its accounts' balances and queued notifications. 沙箱状态"""
    from onecard.channels.bank import PLATFORM_ACCOUNT_NAMES

    bank = _sandbox(_ctx(database_url))
    con = _console()
    con.print(f"存储 store: {bank.store_url}")
    for no, name in PLATFORM_ACCOUNT_NAMES.items():
        con.print(f"  {name} {no}: {yuan(bank.platform_balance(no))} 元")
    con.print(f"待投递通知 pending notifications: {len(bank.pending_notifications())}")


def _yuan(text: str, *, allow_zero: bool = False) -> int:
    try:
        fen = fen_from_yuan(text)
    except ValueError as exc:
        raise InvalidInput(f"金额 {text!r}：{exc}") from None
    if fen == 0 and not allow_zero:
        raise InvalidInput("金额须大于 0")
    return fen
