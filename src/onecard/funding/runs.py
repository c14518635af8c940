"""What every money run returns: totals first, then one line per unit/canteen/person.

Contract: ``RunResult`` is plain data (ints and strings) so the CLI prints it, the API
returns it as JSON and tests assert on it. ``dry_run`` results are computed exactly as a
real run would compute them, but nothing is written. ``changed`` is False when a real run
found everything already done (a repeated run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unit_of_work(ctx: Any, dry_run: bool) -> Any:
    """A real run's one transaction, or for a dry run a read that never commits."""
    return ctx.db.read() if dry_run else ctx.db.begin()
