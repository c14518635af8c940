"""``onecard`` — the command line. The only place errors become exit codes.

Commands share the services with the web app; none of them commits anything itself.
Exit codes: 0 ok, 1 unexpected, 2 bad input, 3 not found, 4 not allowed, 5 conflict
(also: a run's result needs a person — a short unit, a reconciliation line), 6 refused,
7 an integrity check failed (``ledger verify`` found a discrepancy, or ``audit verify`` a
record edited, deleted or reordered), 8 the bank could not be reached (retry later with
the same order id). A command's own exit code (``typer.Exit``) is the process's exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID

from onecard.audit import cli as audit_cli
from onecard.bench import cli as bench_cli
from onecard.catalogue import cli as catalogue_cli
from onecard.channels import cli as channels_cli
from onecard.cli_kit import DbOpt, close_contexts, console, context, context_for, progress_bar
from onecard.community import cli as community_cli
from onecard.core import errors as e
from onecard.core.config import Settings, get_settings
from onecard.core.context import Context
from onecard.core.errors import BankUnavailable
from onecard.faces import cli as faces_cli
from onecard.funding import cli as funding_cli
from onecard.interregion import cli as interregion_cli
from onecard.ledger import cli as ledger_cli
from onecard.menus import cli as menus_cli
from onecard.ops import cli as ops_cli
from onecard.org import admin_cli as org_admin_cli
from onecard.org import cli as org_cli
from onecard.partners import cli as partners_cli
from onecard.pay import cli as pay_cli
from onecard.pay import ecny_cli
from onecard.reports import cli as reports_cli
from onecard.reports import forecast_cli
from onecard.rollout import cli as rollout_cli
from onecard.sourcing import cli as sourcing_cli
from onecard.terminals import cli as terminals_cli
from onecard.waste import cli as waste_cli
from onecard.web import account_cli

app = typer.Typer(help="食堂一卡通 OneCard — canteen one-card platform", no_args_is_help=True)
db_app = typer.Typer(help="数据库 / database schema")
app.add_typer(db_app, name="db")
app.add_typer(ledger_cli.app, name="ledger", help="账务 / ledger checks")

EXIT_CODES: dict[type[e.OneCardError], int] = {
    e.OneCardError: 1,
    e.InvalidInput: 2,
    e.NotFound: 3,
    e.AuthError: 4,
    e.Conflict: 5,
    e.Refused: 6,
    e.LedgerError: 7,
    BankUnavailable: 8,
    e.Unavailable: 8,
}


def exit_code_for(exc: e.OneCardError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


@db_app.command("upgrade")
def db_upgrade(database_url: DbOpt = None) -> None:
    """Create or upgrade the schema to the newest migration. 升级数据库结构"""
    from onecard.core.db import create_schema

    ctx = context(database_url)
    create_schema(ctx.db.engine)
    console.print("[green]数据库已是最新结构[/green]")


@app.command()
def init(
    city: Annotated[str, typer.Option("--city", help="城市名称，如 郴州市")],
    admin_staff_no: Annotated[str, typer.Option("--admin-staff-no", help="首位管理员的工号")],
    admin_name: Annotated[str, typer.Option("--admin-name", help="首位管理员的姓名")],
    network_no: Annotated[
        str | None, typer.Option("--network-no", help="一卡通网络号（默认 ONECARD_REGION_NO）")
    ] = None,
    code: Annotated[
        str | None, typer.Option("--code", help="行政区划代码（默认 ONECARD_REGION_CODE）")
    ] = None,
    bureau_name: Annotated[
        str | None,
        typer.Option("--bureau-name", help="机关事务管理局名称（默认 城市+机关事务管理局）"),
    ] = None,
    bureau_code: Annotated[
        str, typer.Option("--bureau-code", help="机关事务管理局的单位代码")
    ] = "BUREAU",
    level: Annotated[
        str,
        typer.Option(
            "--level", help="最高一级区域：city（市，默认）或 province（省，其下再建各市）"
        ),
    ] = "city",
    database_url: DbOpt = None,
) -> None:
    """Start a new city (or a province) on an empty database: schema, top region, first
    bureau admin. 新城市（或省）初始化"""
    import getpass

    from onecard.core.db import create_schema
    from onecard.core.errors import CityExists
    from onecard.org.actors import Actor
    from onecard.org.start import existing_city, start_city

    ctx = context(database_url)
    found = existing_city(ctx.db.engine)
    if found is not None:
        raise CityExists(city=found)
    create_schema(ctx.db.engine)
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    s = ctx.settings
    started = start_city(
        ctx,
        Actor.system(f"cli:{user}"),
        city=city,
        code=code or s.region_code,
        network_no=network_no or s.region_no,
        bureau_name=bureau_name or f"{city.strip()}机关事务管理局",
        bureau_code=bureau_code,
        admin_staff_no=admin_staff_no,
        admin_name=admin_name,
        level=level,
    )
    console.print(
        f"[bold green]{city.strip()} 已建立[/bold green]（网络号 {network_no or s.region_no}）："
        "数据库结构、系统账户、机关事务管理局及首位管理员"
    )
    console.print(f"管理员工号 staff no: {started.admin_staff_no}")
    console.print(f"一次性密码 one-time password: [bold]{started.password}[/bold] （只显示这一次）")
    # Binding a first authenticator takes an enrolment code as well as the password
    # (docs/web.md); the first administrator has nobody to issue one, so init does.
    from onecard.web.accounts import issue_enrolment_code

    enrol = issue_enrolment_code(ctx, Actor.system(f"cli:{user}"), started.admin_id)
    console.print(f"验证器绑定码 enrolment code: [bold]{enrol}[/bold] （只显示这一次）")
    console.print(
        "首次登录（/login）须修改密码，并凭绑定码用手机验证器（TOTP）扫码绑定；"
        "之后在管理控制台建立单位、食堂和其他管理员。"
    )


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

    app_ = create_app(ctx, bank_courier=True)
    uvicorn.run(app_, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite 文件")] = Path("onecard-demo.db"),
    staff: int = 500,
    port: int = 8000,
    serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="建好后启动服务")] = True,
) -> None:
    """Build a demo city in SQLite and serve it on 127.0.0.1. 演示城市"""
    from onecard.channels.factory import ecny_store_url, sandbox_store_url
    from onecard.core.db import create_schema
    from onecard.demo import build_demo

    url = f"sqlite:///{db.resolve()}"
    # The demo's bank is always a fresh sandbox next to its database.
    demo_settings = Settings(
        **get_settings().model_dump()
        | {"database_url": url, "bank": "sandbox", "bank_sandbox_url": ""}
    )
    bank_db = Path(sandbox_store_url(demo_settings).removeprefix("sqlite:///"))
    ecny_db = Path(ecny_store_url(demo_settings).removeprefix("sqlite:///"))
    for path in (db, bank_db, ecny_db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    ctx = context_for(demo_settings)
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
    console.print(f"数据库 database: {db.resolve()}  沙箱银行 bank: {bank_db}")
    console.print(
        f"命令行 CLI: ONECARD_DATABASE_URL={url} ONECARD_BANK=sandbox onecard funding status …",
        soft_wrap=True,
    )
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
        code = city.enrolment_codes.get(role)
        skip = city.skip_codes.get(role)
        if code or skip:
            console.print(
                f"  {role:<16} 工号 {staff_no}  需要身份验证器 needs an authenticator (TOTP): "
                f"绑定码 enrolment code {code} · 演示跳过码 demo skip code {skip}",
                soft_wrap=True,
            )
        else:
            console.print(f"  {role:<16} 工号 {staff_no}  无需身份验证器 no authenticator")
    console.print(
        "  (演示跳过码在验证器页面代替 6 位动态码，仅演示环境有效 — "
        "the skip code replaces the 6-digit code on the authenticator page; never in production)"
    )
    if city.activation:
        a_no, a_name, a_code = city.activation
        console.print(
            f"激活账户 activate ({base}/activate): {a_name} 工号 {a_no} 激活码 activation code "
            f"[bold]{a_code}[/bold]",
            soft_wrap=True,
        )
    console.print(f"状态页 status: {base}/status · API 文档: {base}/docs\n")
    if serve_it:
        # The same context and sandbox bank, which holds the quarter's statements (and
        # keeps them for any later command on the same database).
        serve_context(ctx, "127.0.0.1", port)


# Area command groups, mounted by plain imports (each module always exists).
app.add_typer(pay_cli.app, name="card", help="卡务 / cards: issue, lost, unfreeze, replace")
app.add_typer(ecny_cli.app, name="ecny", help="数字人民币 / e-CNY: resolve, reconcile")
app.add_typer(catalogue_cli.app, name="shop", help="超市 / reference prices, goods above them")
app.add_typer(org_cli.app, name="terminal", help="消费机 / terminals and rollout")
# ``onecard terminal simulate``: the offline terminal client, in the terminal group.
org_cli.app.registered_commands.extend(terminals_cli.app.registered_commands)
app.add_typer(
    rollout_cli.app, name="rollout", help="上线验收 / terminal plan, acceptance, supervision"
)
app.add_typer(
    community_cli.app, name="community", help="社区食堂 / residents' subsidies, claims, supervision"
)
app.add_typer(
    interregion_cli.app,
    name="interregion",
    help="跨区域就餐 / dining agreements, quarterly clearing",
)
app.add_typer(waste_cli.app, name="waste", help="反浪费 / waste per diner, waste notices")
app.add_typer(menus_cli.app, name="menus", help="菜单与预订 / close a day's pre-orders, counts")
app.add_typer(sourcing_cli.app, name="sourcing", help="采购与溯源 / batch traces, ingredient cost")
app.add_typer(org_admin_cli.app, name="org", help="机构 / regions, units, canteens, administrators")
app.add_typer(account_cli.app, name="account", help="账户 / sign-in: enrolment codes, sessions")
app.add_typer(
    faces_cli.app, name="face", help="刷脸支付 / face pay: terminals' liveness, withdrawal"
)
app.add_typer(partners_cli.app, name="partner", help="合作方接口 / partner API credentials")
# The quality score is entered with the funding runs but recorded by waste, which takes
# the quarter's waste off it (funding stands below waste: tests/test_layers.py).
funding_cli.app.command("score")(waste_cli.score)
app.add_typer(funding_cli.app, name="funding", help="资金 / quarterly funding runs")
app.add_typer(audit_cli.app, name="audit", help="操作记录 / the audit trail: verify, list, export")
app.add_typer(reports_cli.app, name="reports", help="看板 / the dashboard's roll-ups")
app.add_typer(forecast_cli.app, name="forecast", help="需求预测 / demand forecast: backtest")
app.command(name="bench", help="性能基准 / benchmarks")(bench_cli.app)
app.add_typer(channels_cli.bank_app, name="bank", help="银行文件 / files exchanged with the bank")
app.add_typer(channels_cli.sandbox_app, name="bank-sandbox", help="沙箱银行 / the simulated bank")
ops_cli.register(app)  # onecard backup / onecard restore


def cli_origin() -> str:
    """Where a command's changes come from, for the audit trail: ``cli:<user>@<host>``."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        user = "?"
    return f"cli:{user}@{socket.gethostname()}"


def main() -> None:
    from onecard.audit.service import set_origin

    set_origin(cli_origin())
    code: object = 0
    try:
        # Outside standalone mode click returns a command's ``typer.Exit`` code instead
        # of exiting with it: it is ours to pass on.
        code = app(standalone_mode=False)
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
        close_contexts()
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
