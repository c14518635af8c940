"""``onecard ledger …``: check the ledger.

``verify`` recomputes every balance from the postings and exits 7 (``LedgerError``,
docs/operations.md) at the first discrepancy, 0 when the books hold.
"""

from __future__ import annotations

from typing import Annotated

import typer

from onecard.cli_kit import DbOpt, console, context
from onecard.core.errors import LedgerError
from onecard.ledger.verify import verify

app = typer.Typer()


@app.command("verify")
def verify_command(
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
    raise LedgerError(rep.problems[0])
