"""What every money run returns: totals first, then one line per unit/canteen/person.

Contract: ``RunResult`` is plain data (ints and strings) so the CLI prints it, the API
returns it as JSON and tests assert on it. ``dry_run`` results are computed exactly as a
real run would compute them, but nothing is written. ``changed`` is False when a real run
found everything already done (a repeated run). ``problems`` are what stops or skips
work; ``notes`` what a reader should know besides (e.g. a calendar override).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text

Progress = Callable[[int, int], None]


def no_progress(_done: int, _total: int) -> None:
    return None


@dataclass
class RunResult:
    action: str
    scope: str
    dry_run: bool
    totals: dict[str, int] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    changed: bool = False
    problems: list[str] = field(default_factory=list)
    # What a person should know that is not a problem (a calendar override and its reason).
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Every real money run holds this PostgreSQL advisory lock for its transaction, so two
# runs started at once (two admins, a double click) run one after the other and the
# second sees what the first committed (READ COMMITTED reads after the lock) — it then
# finds the work done instead of tripping over a unique key. SQLite's BEGIN IMMEDIATE
# already serialises writers.
RUN_LOCK_KEY = 0x0C0FFEE1


@contextmanager
def unit_of_work(ctx: Any, dry_run: bool) -> Iterator[Connection]:
    """A real run's one transaction, or for a dry run a read that never commits."""
    if dry_run:
        with ctx.db.read() as conn:
            yield conn
        return
    with ctx.db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RUN_LOCK_KEY})
        yield conn
