"""``onecard reports …``: keep the dashboard's roll-ups current.

``catch-up`` folds the payments, reversals and refunds added since the last fold into the
roll-ups (``reports.service.catch_up``; the dashboard also does it on every visit). With
``--now`` it folds up to the newest rows without waiting out the grace: only on a
database nothing else writes to (after a bulk load or a restore).
"""

from __future__ import annotations

from typing import Annotated

import typer

from onecard import cli_kit
from onecard.cli_kit import DbOpt, console
from onecard.reports.service import GRACE_SECONDS, catch_up

app = typer.Typer()


@app.command("catch-up")
def catch_up_command(
    database_url: DbOpt = None,
    now: Annotated[
        bool, typer.Option("--now", help="fold up to the newest rows (a quiet database only)")
    ] = False,
) -> None:
    """Fold new payments into the dashboard's roll-ups. 看板汇总追平"""
    ctx = cli_kit.context_factory(database_url)
    done = catch_up(ctx, grace_seconds=0 if now else GRACE_SECONDS)
    if not done.folded:
        console.print("看板汇总已是最新 roll-ups up to date")
    for source, (lo, hi) in done.folded.items():
        console.print(f"{source}: ids {lo + 1:,}–{hi:,} folded")
