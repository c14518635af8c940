"""``onecard terminal simulate``: a terminal that loses its network, keeps selling and
comes back (``terminals.simulator``). Mounted on the ``terminal`` group by ``cli.py``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from onecard.cli_kit import console
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
