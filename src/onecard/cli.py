"""``onecard`` — the command line. The only place errors become exit codes.

Commands share the services with the web app; none of them commits anything itself.
Exit codes: 0 ok, 1 unexpected, 2 bad input, 3 not found, 4 not allowed, 5 conflict,
6 refused, 7 ledger invariant broken (``ledger verify`` found a discrepancy),
8 the bank could not be reached (retry later with the same order id).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from onecard.channels.bank import BankUnavailable
from onecard.core import errors as e
from onecard.core.config import Settings, get_settings
from onecard.core.context import Context

app = typer.Typer(help="食堂一卡通 OneCard — canteen one-card platform", no_args_is_help=True)
db_app = typer.Typer(help="数据库 / database schema")
ledger_app = typer.Typer(help="账务 / ledger checks")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
console = Console()

EXIT_CODES: dict[type[e.OneCardError], int] = {
    e.OneCardError: 1,
    e.InvalidInput: 2,
    e.NotFound: 3,
    e.AuthError: 4,
    e.Conflict: 5,
    e.Refused: 6,
    e.LedgerError: 7,
    BankUnavailable: 8,
}


def exit_code_for(exc: e.OneCardError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


_opened: list[Context] = []


def context(database_url: str | None = None) -> Context:
    """The command's context; its engine is disposed when ``main`` returns, so no
    database connection outlives the command (tests run many commands in one process)."""
    settings = get_settings()
    if database_url:
        settings = Settings(**{**settings.model_dump(), "database_url": database_url})
    ctx = Context.from_settings(settings)
    _opened.append(ctx)
    return ctx


def _close_contexts() -> None:
    while _opened:
        _opened.pop().db.engine.dispose()


DbOpt = Annotated[str | None, typer.Option("--database-url", help="覆盖 ONECARD_DATABASE_URL")]


@db_app.command("upgrade")
def db_upgrade(database_url: DbOpt = None) -> None:
    """Create or upgrade the schema to the newest migration. 升级数据库结构"""
    from onecard.core.db import create_schema

    ctx = context(database_url)
    create_schema(ctx.db.engine)
    console.print("[green]数据库已是最新结构[/green]")


@ledger_app.command("verify")
def ledger_verify(
    database_url: DbOpt = None,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="group every entry (no fingerprint: slower, no probability) 逐笔核对分录",
        ),
    ] = False,
) -> None:
    """Recompute every balance from postings; exit 7 at the first discrepancy. 账务核验"""
    from onecard.ledger.verify import verify

    ctx = context(database_url)
    with ctx.db.read() as conn:
        rep = verify(conn, exact=exact)
    console.print(
        f"分录 entries {rep.entries:,} · 过账 postings {rep.postings:,} · 账户 accounts {rep.accounts:,}"
    )
    if rep.ok:
        console.print("[green]账务核验通过 ledger verify: OK[/green]")
        return
    for p in rep.problems:
        console.print(f"[red]✗ {p}[/red]")
    raise e.LedgerError(rep.problems[0])


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: DbOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="server processes 进程数")] = 1,
) -> None:
    """Serve the API and pages. 启动服务"""
    if workers == 1:
        serve_context(context(database_url), host, port)
        return
    import os

    import uvicorn

    # Each process builds its own context from the environment (onecard.web.asgi).
    if database_url:
        os.environ["ONECARD_DATABASE_URL"] = database_url
    uvicorn.run(
        "onecard.web.asgi:create",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def serve_context(ctx: Context, host: str, port: int) -> None:
    import uvicorn

    from onecard.web.app import create_app

    uvicorn.run(create_app(ctx), host=host, port=port, log_level="warning", access_log=False)


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite 文件")] = Path("onecard-demo.db"),
    staff: int = 500,
    port: int = 8000,
    serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="建好后启动服务")] = True,
) -> None:
    """Build a demo city in SQLite and serve it on 127.0.0.1. 演示城市"""
    from onecard.core.db import create_schema
    from onecard.demo import build_demo

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db.resolve()}"
    ctx = context(url)
    create_schema(ctx.db.engine)
    with progress_bar() as bar:
        tasks: dict[str, TaskID] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        city = build_demo(ctx, staff=staff, progress=step)
    with ctx.db.read() as conn:
        from onecard.ledger.verify import verify

        checked = verify(conn)
    if not checked.ok:
        raise e.LedgerError(checked.problems[0])
    c = city.counts
    base = f"http://127.0.0.1:{port}"
    console.print(
        f"\n[bold green]演示城市已建成[/bold green]: {c['units']} 个单位, {c['canteens']} 个食堂, {c['staff']} 名职工; "
        f"本季度缴款、到账、拨付已走完 (一家单位欠缴后补缴), 近几个工作日 {c['meals']:,} 笔就餐; 账务核验通过"
    )
    console.print(f"数据库 database: {db.resolve()}")
    console.print(
        "\n[bold]试一笔付款 Try a payment[/bold] (午餐时段 11:30–13:30 外会被拒绝 — 换成 amount_fen 可随时试):"
    )
    console.print(
        f"curl -s -X POST {base}/api/v1/terminal/payments "
        f"-H 'Authorization: Terminal {city.terminal_code}:{city.terminal_key}' "
        f"-H 'Content-Type: application/json' "
        f'-d \'{{"txn_id":"demo-1","credential":"{city.card_no}","amount_fen":1200}}\'',
        soft_wrap=True,
    )
    console.print(f"\n演示消费机 terminal: {city.terminal_code}  密钥 key: {city.terminal_key}")
    console.print(f"登录 sign-in ({base}/login), 密码 password onecard2026:")
    for role, staff_no in city.logins.items():
        console.print(f"  {role:<16} 工号 {staff_no}")
    console.print(f"状态页 status: {base}/status · API 文档: {base}/docs\n")
    if serve_it:
        # The same context: its sandbox bank holds the quarter's statements.
        serve_context(ctx, "127.0.0.1", port)


def _mount_optional() -> None:
    """Area command groups register themselves here as they exist."""
    import importlib

    for module, name, help_text in (
        ("onecard.pay.cli", "card", "卡务 / cards: issue, lost, unfreeze, replace"),
        ("onecard.org.cli", "terminal", "消费机 / terminals and rollout"),
        ("onecard.org.admin_cli", "org", "机构 / regions, units, canteens, administrators"),
        ("onecard.funding.cli", "funding", "资金 / quarterly funding runs"),
        ("onecard.bench.cli", "bench", "性能基准 / benchmarks"),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue
        if isinstance(mod.app, typer.Typer):
            app.add_typer(mod.app, name=name, help=help_text)
        else:
            app.command(name=name, help=help_text)(mod.app)


_mount_optional()


def main() -> None:
    try:
        app(standalone_mode=False)
    except e.OneCardError as exc:
        console.print(f"[red]错误 {exc.code}: {exc.message(get_settings().language)}[/red]")
        sys.exit(exit_code_for(exc))
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    finally:
        _close_contexts()


if __name__ == "__main__":
    main()
