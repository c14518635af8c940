"""What every command group shares: the console, the progress bar, the ``--database-url``
option and the command's ``Context`` (with the configured bank).

Contract: ``context(url)`` builds a context on the configured (or given) database and
remembers it; ``context_factory`` is what the money-run and bank command groups call (tests
swap it for their own context); ``close_contexts()`` (called by ``cli.main`` when a command returns)
disposes of every one, so no database connection outlives the command. Area command
groups (``pay/cli.py``, ``funding/cli.py`` …) import these from here, never from
``onecard.cli``, which mounts them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from onecard.core.config import Settings, get_settings
from onecard.core.context import Context

console = Console()


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
    """The command's context, with the configured bank; its engine is disposed when
    ``main`` returns, so no database connection outlives the command (tests run many
    commands in one process)."""
    settings = get_settings()
    if database_url:
        settings = Settings(**{**settings.model_dump(), "database_url": database_url})
    return context_for(settings)


def context_for(settings: Settings) -> Context:
    from onecard.channels.factory import bank_for

    ctx = Context.from_settings(settings, bank=bank_for)
    _opened.append(ctx)
    return ctx


def close_contexts() -> None:
    while _opened:
        ctx = _opened.pop()
        ctx.dispose()
        for gateway in (ctx.bank, ctx.ecny):
            dispose = getattr(gateway, "dispose", None)
            if callable(dispose):
                dispose()


# How a command group gets its context: tests swap this to run the commands against
# their own context (and sandbox bank).
def _default_factory(database_url: str | None) -> Context:
    return context(database_url)


context_factory: Callable[[str | None], Context] = _default_factory


DbOpt = Annotated[str | None, typer.Option("--database-url", help="覆盖 ONECARD_DATABASE_URL")]
