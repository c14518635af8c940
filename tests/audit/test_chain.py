"""The audit trail is append-only and hash-chained; ``onecard audit verify`` finds any edit,
deletion or reordering (exit 7), on SQLite and PostgreSQL.

Tampering goes around the database's refusal the way someone with the owner's rights
would: the backstop triggers are set aside for the one statement. Every test leaves the
database as the fixtures expect (the ledger is verified after each test; the audit
tables are emptied with the rest)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, exc, select, text

from onecard.audit import backstops
from onecard.audit import service as audit
from onecard.audit.models import AuditChain, AuditEvent
from onecard.audit.verify import verify, verify_database
from onecard.core.context import Context
from onecard.org.actors import Actor

ONECARD = str(Path(sys.executable).with_name("onecard"))
BUREAU = Actor("person:9:局长", person_id=9)


def _fill(ctx: Context, n: int = 5) -> None:
    for i in range(n):
        with ctx.db.begin() as conn:
            audit.record(
                conn,
                ctx,
                BUREAU,
                "rules",
                "meal_period",
                target=f"食堂 lunch {i}",
                before={"prices": {"own": 300}},
                after={"prices": {"own": 300 + i}},
            )
        ctx.clock.advance(seconds=1)  # type: ignore[attr-defined]


def _verify(ctx: Context, anchors: list[tuple[int, str]] | None = None) -> list[str]:
    return verify_database(ctx, anchors or []).problems


@contextmanager
def _tampering(ctx: Context) -> Iterator[Connection]:
    """A connection with the audit backstops set aside (what only an owner could do)."""
    with ctx.db.begin() as conn:
        if ctx.db.is_postgres:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_chain DISABLE TRIGGER USER"))
        else:
            backstops.remove(conn)
        yield conn
        if ctx.db.is_postgres:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_chain ENABLE TRIGGER USER"))
        else:
            backstops.install(conn)


def test_records_form_a_gapless_chain_that_verifies(ctx: Context) -> None:
    _fill(ctx)
    with ctx.db.read() as conn:
        rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq)).all()
        head = conn.execute(select(AuditChain.seq, AuditChain.hash)).one()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert (head.seq, head.hash) == (5, rows[-1].hash)
    rep = verify_database(ctx)
    assert rep.ok and rep.events == 5 and rep.head_seq == 5


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET target = 'x'",
        "DELETE FROM audit_events WHERE seq = 5",
        "UPDATE audit_chain SET seq = 3",
        "DELETE FROM audit_chain",
    ],
)
def test_the_database_refuses_edits_and_deletions(ctx: Context, sql: str) -> None:
    _fill(ctx)
    with pytest.raises(exc.DBAPIError, match="audit"), ctx.db.begin() as conn:
        conn.execute(text(sql))
    assert _verify(ctx) == []


def test_an_edited_record_is_found(ctx: Context) -> None:
    _fill(ctx)
    with _tampering(ctx) as conn:
        conn.execute(
            text("UPDATE audit_events SET after = :a WHERE seq = 3"), {"a": '{"prices":{"own":1}}'}
        )
    assert _verify(ctx) == ["记录 #3 的内容与其哈希不符 (edited)"]


def test_a_deleted_record_is_found(ctx: Context) -> None:
    _fill(ctx)
    with _tampering(ctx) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    problems = _verify(ctx)
    assert "记录 #2–#2 缺失 (deleted)" in problems
    assert "记录 #3 的前一哈希与前一条记录不符 (chain broken)" in problems


def test_deleting_the_newest_records_is_found(ctx: Context) -> None:
    _fill(ctx)
    with _tampering(ctx) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 4"))
    assert _verify(ctx) == ["链头指向 #5，链止于 #3 (newest records deleted or head moved)"]


def test_reordered_records_are_found(ctx: Context) -> None:
    """Two records swap places (their numbers exchanged): both links break."""
    _fill(ctx)
    with _tampering(ctx) as conn:
        conn.execute(text("UPDATE audit_events SET seq = 100 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = 100"))
    problems = _verify(ctx)
    assert "记录 #2 的前一哈希与前一条记录不符 (chain broken)" in problems
    assert "记录 #2 的内容与其哈希不符 (edited)" in problems
    assert "记录 #3 的内容与其哈希不符 (edited)" in problems


def test_a_rebuilt_chain_is_found_by_an_anchor(ctx: Context) -> None:
    """Someone rewrites record 2 and recomputes every hash after it (and the head): the
    chain is consistent again, but not with the head written down before."""
    _fill(ctx)
    with ctx.db.read() as conn:
        anchor = conn.execute(select(AuditChain.seq, AuditChain.hash)).one()
        rows = [
            dict(r._mapping)
            for r in conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq))
        ]
    rows[1]["target"] = "改过的"
    body = [{k: v for k, v in r.items() if k not in ("seq", "prev_hash", "hash")} for r in rows]
    forged = audit.chain_rows(0, audit.GENESIS, body)
    with _tampering(ctx) as conn:
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(AuditEvent.__table__.insert(), forged)
        conn.execute(
            AuditChain.__table__.update().values(seq=forged[-1]["seq"], hash=forged[-1]["hash"])
        )
    assert _verify(ctx) == []  # consistent in itself…
    assert _verify(ctx, [(int(anchor.seq), str(anchor.hash))]) == [
        "锚点 #5 的哈希不符 (chain rewritten)"
    ]


def test_the_command_exits_7_on_tampering_and_0_on_a_sound_chain(ctx: Context) -> None:
    _fill(ctx)
    url = ctx.db.engine.url.render_as_string(hide_password=False)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ONECARD, "audit", "verify", "--database-url", url, *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                "PATH": "/usr/bin:/bin",
                "COLUMNS": "200",
                "ONECARD_ENV": "test",
                "ONECARD_SECRET_KEY": "test-secret",
            },
        )

    ok = run()
    assert ok.returncode == 0 and "audit verify: OK" in ok.stdout, ok.stdout + ok.stderr
    head = verify_database(ctx)
    assert f"#{head.head_seq} {head.head_hash}" in ok.stdout
    assert run("--anchor", f"{head.head_seq}:{head.head_hash}").returncode == 0
    assert run("--anchor", "5:nothex").returncode == 2
    with _tampering(ctx) as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone else' WHERE seq = 1"))
    broken = run()
    assert broken.returncode == 7, broken.stdout + broken.stderr
    assert "记录 #1 的内容与其哈希不符" in broken.stdout
    with _tampering(ctx) as conn:  # put it back for the fixtures
        conn.execute(text("UPDATE audit_events SET actor = :a WHERE seq = 1"), {"a": BUREAU.label})
    assert _verify(ctx) == []


def test_concurrent_writers_keep_one_chain(pg_ctx: Context) -> None:
    """Eight transactions at a time append on PostgreSQL: appends serialise on the chain
    head, so the chain has no gap, no fork and verifies."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def writer(k: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(10):
                with pg_ctx.db.begin() as conn:
                    audit.append(
                        conn,
                        pg_ctx,
                        BUREAU,
                        [audit.Event("card", "card_lost", f"{k}-{i}-{j}") for j in range(2)],
                    )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    rep = verify_database(pg_ctx)
    assert rep.ok, rep.problems
    assert rep.events == rep.head_seq == 8 * 10 * 2


def test_verify_reads_the_chain_it_is_given(ctx: Context) -> None:
    """(``verify`` takes a connection: the ledger's checks and tests may share one.)"""
    _fill(ctx, 2)
    with ctx.db.read() as conn:
        assert verify(conn).ok


def test_0005_moves_the_old_money_run_records_into_the_chain(ctx: Context) -> None:
    """Down to 0003 (the events go back to ``funding_audit``), up again: the old records
    become the chain's first links, in order, and the chain verifies."""
    from alembic import command

    from onecard.audit import records as funding_audit
    from onecard.migrations.runner import alembic_config

    with ctx.db.begin() as conn:
        funding_audit.record(conn, ctx, Actor.system("cli"), "issue_notices", "2026Q1", {"n": 3})
        funding_audit.record(conn, ctx, Actor.system("cli"), "settle", "2026Q1", {"fee_fen": 5})
    command.downgrade(alembic_config(ctx.db.engine), "0003")
    try:
        with ctx.db.engine.connect() as conn:
            old = conn.execute(text("SELECT action, scope FROM funding_audit ORDER BY id")).all()
        assert [tuple(r) for r in old] == [("issue_notices", "2026Q1"), ("settle", "2026Q1")]
    finally:
        command.upgrade(alembic_config(ctx.db.engine), "head")
    moved = funding_audit.records(ctx)
    assert [(r["id"], r["action"], r["kind"], r["totals"]) for r in moved] == [
        (1, "issue_notices", "money_run", {"n": 3}),
        (2, "settle", "money_run", {"fee_fen": 5}),
    ]
    rep = verify_database(ctx)
    assert rep.ok and rep.head_seq == 2
    with ctx.db.begin() as conn:  # the chain goes on from there
        funding_audit.record(conn, ctx, Actor.system("cli"), "reconcile", "2026-03-10", {})
    assert verify_database(ctx).head_seq == 3
