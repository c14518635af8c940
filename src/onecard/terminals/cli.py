"""``onecard terminal simulate``: a terminal that loses its network, keeps selling and
comes back (``terminals.simulator``); ``onecard terminal reconcile DAY``: the day's
offline records per terminal (``terminals.recon``), exit 5 when a line needs a person
(as ``onecard ecny reconcile``). Mounted on the ``terminal`` group by ``cli.py``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from onecard.cli_kit import DbOpt, console, context
from onecard.core.clock import local_text
from onecard.core.errors import InvalidInput
from onecard.core.money import yuan
from onecard.org.actors import Actor
from onecard.terminals import recon
from onecard.terminals.simulator import SimTerminal, stepping_clock

app = typer.Typer(no_args_is_help=True)

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connecting fails


@app.command("simulate")
def simulate(
    url: Annotated[str, typer.Option(help="the server, e.g. http://127.0.0.1:8000")],
    terminal: Annotated[str, typer.Option(help="the terminal's code")],
    key: Annotated[str, typer.Option(help="the terminal's device key")],
    credential: Annotated[
        list[str], typer.Option("--credential", help="card numbers (or codes) to sell to, in turn")
    ],
    sales: Annotated[int, typer.Option(min=1, max=10_000, help="sales while offline")] = 5,
    online_sales: Annotated[int, typer.Option(min=0, max=10_000)] = 1,
    meal: Annotated[str | None, typer.Option(help="meal period code (else --amount-fen)")] = None,
    amount_fen: Annotated[int, typer.Option(min=1)] = 500,
    at: Annotated[
        str | None, typer.Option(help="the till's clock start, UTC ISO (default: now)")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """A till that loses its network, keeps selling and comes back. 模拟离线消费机

    Enrol, fetch the working set, sell online, lose the network (a real failed
    connection), keep selling offline, come back, refresh and upload in batches; prints
    a JSON summary."""
    start = datetime.fromisoformat(at) if at else datetime.now(UTC).replace(tzinfo=None)
    sim = SimTerminal(url, terminal, key, clock=stepping_clock(start, timedelta(minutes=1)))
    sim.enrol()
    first = sim.refresh()
    answers = []
    for n in range(online_sales):
        got = sim.sell(credential[n % len(credential)], meal=meal, amount_fen=amount_fen)
        answers.append(got.result)
    sim.base_url = UNREACHABLE  # the cable is pulled: the next request fails to connect
    offline = []
    for n in range(sales):
        got = sim.sell(credential[n % len(credential)], meal=meal, amount_fen=amount_fen)
        offline.append({"txn_id": got.txn_id, "result": got.result, "code": got.code})
    sim.base_url = url
    sim.restore()
    again = sim.refresh()
    results = sim.upload(batch)
    console.print_json(
        json.dumps(
            {
                "terminal": terminal,
                "working_set": {"first": first["version"], "after": again["version"]},
                "online": answers,
                "offline": offline,
                "kept": sum(1 for o in offline if o["result"] == "approved"),
                "uploaded": results,
                "left_unsent": len(sim.queue),
            },
            ensure_ascii=False,
        )
    )


@app.command("reconcile")
def cmd_reconcile(day: str, database_url: DbOpt = None) -> None:
    """Reconcile offline terminals' records of a day. 离线消费对账"""
    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"日期应为 YYYY-MM-DD：{day}") from None
    res = recon.reconcile_day(context(database_url), Actor.system("cli"), the_day)
    t = Table(title=f"{day} 离线消费机对账")
    for col in (
        "消费机",
        "序号",
        "记录",
        "已入账",
        "被拒",
        "重复上传",
        "记录金额(元)",
        "入账(元)",
        "欠款(元)",
        "已追回(元)",
        "缺号",
    ):
        t.add_column(col)
    for line in res.terminals:
        seqs = f"{line.first_seq}–{line.last_seq}" if line.first_seq is not None else "—"
        refused = ", ".join(f"{k} {v}" for k, v in sorted(line.refused.items())) or "0"
        gap = f"{line.gap[0]}–{line.gap[1]}" if line.gap else "—"
        t.add_row(
            line.code,
            seqs,
            str(line.records),
            str(line.applied),
            refused,
            str(line.duplicates),
            yuan(line.record_fen),
            yuan(line.booked_fen),
            f"{yuan(line.debt_fen)} ({line.debts})",
            yuan(line.debt_recovered_fen),
            gap,
        )
    console.print(t)
    console.print(f"消费机 {len(res.terminals)} 台 · 问题 {len(res.problems)}")
    if res.problems:
        p = Table(title="需处理")
        for col in ("问题", "消费机", "序号", "说明"):
            p.add_column(col)
        for item in res.problems:
            p.add_row(item["kind_zh"], item["terminal"], str(item["seq"]), _detail(item))
        console.print(p)
        raise typer.Exit(5)


def _detail(item: dict[str, Any]) -> str:
    if item["kind"] == "refused":
        return f"{item['txn_id']}：{item['reason']}"
    if item["kind"] == "amount_mismatch":
        return f"{item['txn_id']}：记录 {yuan(item['record_fen'])} 元，入账 {yuan(item['booked_fen'])} 元"
    taken = local_text(item["taken_before"])
    return f"至 {item['last_seq']} 号未上传，早于 {taken}（时限 {item['hours']} 小时）"
