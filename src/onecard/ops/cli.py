"""``onecard backup`` and ``onecard restore``: the commands over ``ops.backup``.

Both take the database from ``--database-url`` or ``ONECARD_DATABASE_URL``, show a
progress bar and print what they did; errors become exit codes in ``cli.main``
(2: not a backup / a tool failed, 3: file or tool missing, 5: the target already holds
data or the backup file exists). ``restore`` runs ``ledger verify`` on what it restored
unless told not to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from onecard.core.config import get_settings
from onecard.core.errors import LedgerError
from onecard.ops import backup as b

DbOpt = Annotated[str | None, typer.Option("--database-url", help="覆盖 ONECARD_DATABASE_URL")]
FileArg = Annotated[Path, typer.Argument(help="备份文件 backup file")]


def _url(database_url: str | None) -> str:
    return database_url or get_settings().database_url


def _bar(kind: b.Kind) -> Progress:
    from onecard.cli_kit import console

    # PostgreSQL progress is in bytes (of table data / of the dump), SQLite's in pages.
    amount = DownloadColumn() if kind == "postgresql" else MofNCompleteColumn()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        amount,
        TimeElapsedColumn(),
        console=console,
    )


def _reporter(bar: Progress) -> b.Progress:
    tasks: list[TaskID] = []  # made at the first step: an error before shows no bar

    def step(label: str, done: int, total: int) -> None:
        if not tasks:
            tasks.append(bar.add_task(label, total=total))
        bar.update(tasks[0], description=label, completed=done, total=total)

    return step


def backup_command(
    file: FileArg,
    database_url: DbOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="覆盖已存在的备份文件 replace an existing file")
    ] = False,
) -> None:
    """Back up the database to one file, safe while payments are taken. 备份数据库"""
    from onecard.cli_kit import console

    url = _url(database_url)
    with _bar(b.database_kind(url)) as bar:
        rep = b.backup(url, file, overwrite=overwrite, progress=_reporter(bar))
    console.print(
        f"[green]备份完成 backup written[/green]: {rep.path} · {rep.bytes / 1e6:,.1f} MB · "
        f"{rep.tables} 张表 tables · {rep.seconds:.1f} s"
    )


def restore_command(
    file: FileArg,
    database_url: DbOpt = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="覆盖已有数据的目标库 overwrite a database that holds data"),
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--verify/--no-verify", help="恢复后核验账务 run ledger verify after"),
    ] = True,
) -> None:
    """Restore a backup into a new or empty database (--replace: over one). 从备份恢复"""
    from onecard.cli_kit import console, context

    url = _url(database_url)
    kind = b.backup_kind(file.resolve())
    with _bar(kind) as bar:
        rep = b.restore(file, url, replace=replace, progress=_reporter(bar))
    how = "新建并恢复 created and restored" if rep.created else "已恢复 restored"
    if rep.replaced:
        how = "已覆盖并恢复 replaced and restored"
    console.print(
        f"[green]{how}[/green] {rep.target}: {rep.tables} 张表 tables · "
        f"{rep.entries:,} 笔分录 entries · 迁移版本 revision {rep.revision} · "
        f"{rep.seconds:.1f} s"
    )
    if rep.revision != b.newest_revision():
        console.print(
            f"[yellow]备份的数据库结构较旧，请运行 onecard db upgrade[/yellow] "
            f"(schema {rep.revision} → {b.newest_revision()})"
        )
    if not check:
        return
    from onecard.ledger.verify import verify

    ctx = context(url)
    with ctx.db.read() as conn:
        checked = verify(conn)
    if not checked.ok:
        for p in checked.problems:
            console.print(f"[red]✗ {p}[/red]")
        raise LedgerError(checked.problems[0])
    console.print("[green]账务核验通过 ledger verify: OK[/green]")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
