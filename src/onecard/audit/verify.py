"""``onecard audit verify``: walk the chain and find any edit, deletion or reordering.

Contract: ``verify(conn, anchors=())`` reads every event in ``seq`` order (streamed) and
the chain head, on one snapshot, and returns an ``AuditReport``:
- a ``seq`` that is not the previous one plus one (the first is 1): events deleted (or
  inserted with a made-up number);
- a ``prev_hash`` that is not the previous event's ``hash``: events deleted, reordered
  or replaced;
- a ``hash`` that is not ``event_hash`` of the stored fields: an event edited;
- a head that does not name the last event (its ``seq`` and ``hash``): the newest events
  deleted, or the head moved;
- an anchor ``(seq, hash)`` written down earlier that the chain no longer holds: the
  chain rebuilt with recomputed hashes (the one thing a chain alone cannot show).
The database refuses UPDATE and DELETE on events (``backstops``), so any of these means
someone went around it. A report lists the first ``MAX_PROBLEMS`` problems.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from onecard.audit.models import AuditChain, AuditEvent
from onecard.audit.service import GENESIS, event_hash
from onecard.core.context import Context

MAX_PROBLEMS = 50


@dataclass
class AuditReport:
    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)
    more: int = 0  # problems found beyond MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more += 1


def verify(conn: Connection, anchors: Iterable[tuple[int, str]] = ()) -> AuditReport:
    rep = AuditReport()
    wanted = dict(anchors)
    seen_anchor: set[int] = set()
    expected_seq, prev_hash = 1, GENESIS
    cols = [c for c in AuditEvent.__table__.columns]
    rows = conn.execution_options(yield_per=5000).execute(select(*cols).order_by(AuditEvent.seq))
    for r in rows:
        row = dict(r._mapping)
        seq = int(row["seq"])
        rep.events += 1
        if seq != expected_seq:
            if seq > expected_seq:
                rep.problem(f"记录 #{expected_seq}–#{seq - 1} 缺失 (deleted)")
            else:
                rep.problem(f"记录 #{seq} 出现在 #{expected_seq - 1} 之后 (out of order)")
        if row["prev_hash"] != prev_hash:
            rep.problem(f"记录 #{seq} 的前一哈希与前一条记录不符 (chain broken)")
        if event_hash(row) != row["hash"]:
            rep.problem(f"记录 #{seq} 的内容与其哈希不符 (edited)")
        if seq in wanted:
            seen_anchor.add(seq)
            if wanted[seq] != row["hash"]:
                rep.problem(f"锚点 #{seq} 的哈希不符 (chain rewritten)")
        expected_seq, prev_hash = seq + 1, str(row["hash"])
    head = conn.execute(select(AuditChain.seq, AuditChain.hash).where(AuditChain.id == 1)).first()
    last_seq = expected_seq - 1
    if head is None:
        if rep.events:
            rep.problem("链头缺失 (chain head missing)")
    else:
        rep.head_seq, rep.head_hash = int(head.seq), str(head.hash)
        if rep.head_seq != last_seq or rep.head_hash != prev_hash:
            rep.problem(
                f"链头指向 #{rep.head_seq}，链止于 #{last_seq}"
                " (newest records deleted or head moved)"
            )
    for seq in sorted(set(wanted) - seen_anchor):
        rep.problem(f"锚点 #{seq} 不在链中 (chain rewritten or truncated)")
    return rep


def verify_database(ctx: Context, anchors: Iterable[tuple[int, str]] = ()) -> AuditReport:
    """``verify`` on one snapshot (REPEATABLE READ on PostgreSQL), so events appended
    while it reads neither show up half nor disagree with the head it reads."""
    engine = ctx.db.engine
    if ctx.db.is_postgres:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            try:
                return verify(conn, anchors)
            finally:
                conn.rollback()
    with ctx.db.read() as conn:
        return verify(conn, anchors)
