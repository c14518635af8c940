"""Offline terminals' working sets timed and weighed on the bench city (issue 15 §3).

Contract: ``time_working_sets(ctx, terminals, changes)`` enrols ``terminals`` live
terminals of distinct canteens with a fresh device key and, for each, measures what the
server and the terminal pay for a working set (``terminals.service.working_set``):

- **full**: the first download (it writes version 1) — seconds, the answer's JSON bytes,
  its entries (meals, accepted people, lost cards) and the version row the server keeps
  (entries without secrets + one digest per key);
- **memory**: the same download again (nothing changed: no new version), under
  ``tracemalloc``, whose peak is the server's extra Python heap for one working set;
  the terminal's is the heap its parsed entries take (``json.loads`` of the answer,
  also under ``tracemalloc``);
- **unchanged**: a refresh ``since`` the version held, nothing changed — seconds, bytes;
- **incremental**: ``changes`` people pay by code (their ``paycode_last_step`` moves, as a
  code payment writes it), then a refresh ``since`` the version held — seconds, bytes, the
  upserts it carries and the rows the server keeps for the new version (its changes).

It writes only to the bench's own database: keys, versions, and the stepped codes.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update

from onecard.core.context import Context
from onecard.org.models import Person, Terminal
from onecard.pay.decide import TerminalIdentity
from onecard.terminals import service, signing
from onecard.terminals.models import OfflineWorkingSet
from onecard.terminals.models import OfflineWorkingSetEntry as Entry


@dataclass
class WorkingSetFigures:
    terminal: str
    entries: int
    people: int
    full_seconds: float
    full_bytes: int
    stored_bytes: int  # the rows kept for the version: entries (no secrets) + digests
    server_peak_bytes: int  # tracemalloc peak while building one working set
    terminal_bytes: int  # tracemalloc: the parsed answer as a terminal holds it
    unchanged_seconds: float
    unchanged_bytes: int
    changes: int
    incremental_seconds: float
    incremental_bytes: int
    incremental_upserts: int
    incremental_stored_bytes: int


@dataclass
class OfflineReport:
    terminals: list[WorkingSetFigures] = field(default_factory=list)


def _terminals(ctx: Context, n: int) -> list[TerminalIdentity]:
    """The first live terminal of each of the first ``n`` canteens whose terminals have
    no working set yet (so "full" is a first version, stored in full)."""
    with ctx.db.read() as conn:
        first = (
            select(func.min(Terminal.id).label("id"))
            .where(
                Terminal.status == "live",
                Terminal.canteen_id.not_in(
                    select(Terminal.canteen_id).where(
                        Terminal.id.in_(select(OfflineWorkingSet.terminal_id))
                    )
                ),
            )
            .group_by(Terminal.canteen_id)
            .order_by(func.min(Terminal.id))
            .limit(n)
            .subquery()
        )
        rows = conn.execute(
            select(Terminal.id, Terminal.code, Terminal.region_id, Terminal.canteen_id).where(
                Terminal.id.in_(select(first.c.id))
            )
        ).all()
    return [
        TerminalIdentity(int(r.id), str(r.code), int(r.region_id), int(r.canteen_id)) for r in rows
    ]


def _stored_bytes(ctx: Context, terminal_id: int, version: int) -> int:
    """What the server keeps for ``version``: the rows of the keys that changed in it."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                func.coalesce(func.sum(func.length(Entry.entry)), 0),
                func.count(),
            ).where(Entry.terminal_id == terminal_id, Entry.version == version)
        ).one()
    # Each row also holds its key, a 32-character digest and the version: ~60 bytes.
    return int(row[0]) + 60 * int(row[1])


def _step_codes(ctx: Context, region_id: int, n: int) -> None:
    """``n`` of the region's people spend a payment code (their last step moves on)."""
    with ctx.db.begin() as conn:
        ids = select(Person.id).where(Person.region_id == region_id).order_by(Person.id).limit(n)
        conn.execute(
            update(Person)
            .where(Person.id.in_(ids.scalar_subquery()))
            .values(paycode_last_step=Person.paycode_last_step + 1)
        )


def _timed(
    ctx: Context, t: TerminalIdentity, since: int | None
) -> tuple[float, dict[str, Any], bytes]:
    started = time.perf_counter()
    got = service.working_set(ctx, t, since)
    body = json.dumps(got, ensure_ascii=False).encode()
    return time.perf_counter() - started, got, body


def _peak(fn: Callable[[], object]) -> tuple[int, object]:
    tracemalloc.start()
    try:
        out = fn()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


def one_terminal(ctx: Context, t: TerminalIdentity, changes: int) -> WorkingSetFigures:
    service.enrol(ctx, t, signing.public_hex(signing.new_key()))
    full_s, got, body = _timed(ctx, t, None)
    version = int(got["version"])
    entries = got["upserts"]
    people = sum(1 for k in entries if k.startswith("person:"))
    server_peak, _ = _peak(lambda: service.working_set(ctx, t, None))
    terminal_peak, _ = _peak(lambda: json.loads(body))
    same_s, _, same_body = _timed(ctx, t, version)
    _step_codes(ctx, t.region_id, changes)
    inc_s, inc, inc_body = _timed(ctx, t, version)
    return WorkingSetFigures(
        terminal=t.code,
        entries=len(entries),
        people=people,
        full_seconds=full_s,
        full_bytes=len(body),
        stored_bytes=_stored_bytes(ctx, t.id, version),
        server_peak_bytes=server_peak,
        terminal_bytes=terminal_peak,
        unchanged_seconds=same_s,
        unchanged_bytes=len(same_body),
        changes=changes,
        incremental_seconds=inc_s,
        incremental_bytes=len(inc_body),
        incremental_upserts=len(inc["upserts"]),
        incremental_stored_bytes=_stored_bytes(ctx, t.id, int(inc["version"])),
    )


def time_working_sets(ctx: Context, terminals: int = 3, changes: int = 100) -> OfflineReport:
    rep = OfflineReport()
    for t in _terminals(ctx, terminals):
        rep.terminals.append(one_terminal(ctx, t, changes))
    return rep
