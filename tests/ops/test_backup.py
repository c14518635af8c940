"""``onecard backup`` / ``onecard restore``: a city with payments, backed up, restored into
a fresh database, equal row for row and passing ``ledger verify`` on both sides; the
restored database takes payments; and every refusal (a database that holds data, a file
that is no backup, a damaged backup, an existing backup file) changes nothing. And
point-in-time recovery from a base backup and the WAL archive, on private clusters."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from onecard import cli
from onecard.core.context import Context, Database
from onecard.core.db import make_engine, normalise_url
from onecard.core.errors import OneCardError
from onecard.models import metadata
from onecard.ops import backup as b
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, fund

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    """One command as ``onecard`` runs it: errors become their exit codes."""
    try:
        res = runner.invoke(cli.app, list(args))
    finally:
        cli.close_contexts()
    if isinstance(res.exception, OneCardError):  # what cli.main prints, then its exit code
        return cli.exit_code_for(
            res.exception
        ), f"{res.output}{res.exception.code}: {res.exception}"
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def city_with_payments(ctx: Context) -> World:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000, cash=2000)
    fund(ctx, w, "a2", subsidy=300)
    fund(ctx, w, "b1", cash=900)
    pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
    pay(ctx, w.terminals["B"], PaymentRequest("t2", w.cards["a1"], amount_fen=1800))
    pay(ctx, w.terminals["A"], PaymentRequest("t3", w.cards["a2"], meal="lunch"))  # refused
    pay(ctx, w.terminals["B"], PaymentRequest("t4", w.cards["b1"], meal="lunch"))
    return w


# Every index, constraint and trigger: a restore that lost them (the ledger's append-only
# and zero-sum backstops are triggers) would hold the same rows and still be broken.
SCHEMA = {
    "postgresql": "SELECT 'index', indexname FROM pg_indexes WHERE schemaname = 'public'"
    " UNION ALL SELECT 'constraint', conname FROM pg_constraint"
    " WHERE connamespace = 'public'::regnamespace"
    " UNION ALL SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal"
    " ORDER BY 1, 2",
    "sqlite": "SELECT type, name, sql FROM sqlite_master ORDER BY 1, 2",
}


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in primary-key order, and the schema's objects."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out = {"(schema)": [tuple(r) for r in conn.execute(text(SCHEMA[conn.dialect.name]))]}
            for table in metadata.sorted_tables:
                order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
                rows = conn.execute(text(f'SELECT * FROM "{table.name}" ORDER BY {order}'))
                out[table.name] = [tuple(r) for r in rows]
            return out
    finally:
        engine.dispose()


@pytest.fixture
def fresh_url(ctx: Context, tmp_path: Path) -> Iterator[str]:
    """A database URL nothing exists at yet (SQLite file / PostgreSQL database)."""
    if not ctx.db.is_postgres:
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    base = make_url(normalise_url(ctx.settings.database_url))
    name = f"{base.database}_restored"
    admin = make_engine(
        base.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    # ``…_never``: where a test restores what must leave nothing behind.
    drops = [
        text(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        for n in (name, name.replace("restored", "never"))
    ]
    with admin.connect() as c:
        for drop in drops:
            c.execute(drop)
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        for drop in drops:
            c.execute(drop)
    admin.dispose()


def test_a_city_backed_up_restores_into_a_fresh_database_row_for_row(
    ctx: Context, fresh_url: str, tmp_path: Path
) -> None:
    w = city_with_payments(ctx)
    source = ctx.settings.database_url
    file = tmp_path / "city.backup"

    code, out = run("backup", str(file), "--database-url", source)
    assert code == 0, out
    assert "备份完成" in out and file.is_file()
    assert not list(tmp_path.glob("*.partial"))

    code, out = run("restore", str(file), "--database-url", fresh_url)
    assert code == 0, out
    assert "新建并恢复" in out and "账务核验通过" in out
    for url in (source, fresh_url):
        code, out = run("ledger", "verify", "--database-url", url)
        assert code == 0 and "OK" in out, out
    before, after = contents(source), contents(fresh_url)
    assert after == before
    assert len(after["payments"]) == 4 and len(after["journal_entries"]) > 3

    # The restored database is a working one: its id sequences carry on, a retry is
    # answered from the restored decision, a new payment is taken.
    restored = Context(db=Database(make_engine(fresh_url)), clock=ctx.clock, settings=ctx.settings)
    try:
        first = before["payments"][0]
        again = pay(restored, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], meal="lunch"))
        assert again.replayed and again.body.decode() == first[-1]  # payments.response
        new = pay(restored, w.terminals["A"], PaymentRequest("t9", w.cards["a1"], amount_fen=100))
        assert new.approved
    finally:
        restored.db.engine.dispose()
    code, out = run("ledger", "verify", "--database-url", fresh_url)
    assert code == 0, out


def test_restore_refuses_a_database_that_holds_data_unless_replace(
    ctx: Context, fresh_url: str, tmp_path: Path
) -> None:
    w = city_with_payments(ctx)
    source = ctx.settings.database_url
    file = tmp_path / "city.backup"
    assert run("backup", str(file), "--database-url", source)[0] == 0
    assert run("restore", str(file), "--database-url", fresh_url)[0] == 0
    # The restored database moves on: one more payment.
    restored = Context(db=Database(make_engine(fresh_url)), clock=ctx.clock, settings=ctx.settings)
    pay(restored, w.terminals["A"], PaymentRequest("t9", w.cards["a1"], amount_fen=100))
    restored.db.engine.dispose()
    moved = contents(fresh_url)
    assert moved != contents(source)

    code, out = run("restore", str(file), "--database-url", fresh_url)
    assert code == 5 and "target_holds_data" in out and "--replace" in out
    assert contents(fresh_url) == moved

    # Over the source itself, too: the live database is never overwritten by mistake.
    code, _ = run("restore", str(file), "--database-url", source, "--no-verify")
    assert code == 5

    code, out = run("restore", str(file), "--database-url", fresh_url, "--replace")
    assert code == 0 and "已覆盖并恢复" in out, out
    assert contents(fresh_url) == contents(source)


def test_a_damaged_backup_changes_nothing_even_with_replace(
    ctx: Context, fresh_url: str, tmp_path: Path
) -> None:
    """A backup cut short (a copy that ran out of disk) is refused, and the database it
    was to replace keeps every row: with PostgreSQL, psql commits whatever script it was
    given when its input ends, so a pg_restore that stops half-way must kill it."""
    city_with_payments(ctx)
    source = ctx.settings.database_url
    file = tmp_path / "city.backup"
    assert run("backup", str(file), "--database-url", source)[0] == 0
    assert run("restore", str(file), "--database-url", fresh_url)[0] == 0
    held = contents(fresh_url)

    data = file.read_bytes()
    cut = tmp_path / "cut.backup"
    # Cut in the data (PostgreSQL: its script breaks off inside a COPY), or just before
    # the end (its script ends cleanly where it stops: psql would commit it all).
    for keep in (len(data) * 3 // 4, len(data) - 1):
        cut.write_bytes(data[:keep])
        code, out = run("restore", str(cut), "--database-url", fresh_url, "--replace")
        assert code == 2, out
        assert contents(fresh_url) == held
    code, out = run("ledger", "verify", "--database-url", fresh_url)
    assert code == 0, out

    # Into a database that did not exist: nothing is left behind, not even the database.
    elsewhere = fresh_url.replace("restored", "never")
    code, out = run("restore", str(cut), "--database-url", elsewhere)
    assert code == 2, out
    assert not exists(elsewhere)


def test_what_is_not_a_backup_is_refused(ctx: Context, fresh_url: str, tmp_path: Path) -> None:
    city_with_payments(ctx)
    junk = tmp_path / "notes.txt"
    junk.write_text("午餐 12 元\n", encoding="utf-8")
    code, out = run("restore", str(junk), "--database-url", fresh_url)
    assert code == 2 and "not_a_backup" in out

    code, out = run("restore", str(tmp_path / "missing.backup"), "--database-url", fresh_url)
    assert code == 3 and "backup_source_missing" in out

    # A backup of the other kind of database.
    other = tmp_path / "other.backup"
    if ctx.db.is_postgres:
        sqlite_db = tmp_path / "s.db"
        from onecard.core.db import create_schema

        engine = make_engine(f"sqlite:///{sqlite_db}")
        create_schema(engine)
        engine.dispose()
        assert run("backup", str(other), "--database-url", f"sqlite:///{sqlite_db}")[0] == 0
    else:
        other.write_bytes(b.PG_MAGIC + b"\x01\x0e\x00" * 100)
    code, out = run("restore", str(other), "--database-url", fresh_url)
    assert code == 2 and "not_a_backup" in out
    assert not exists(fresh_url)  # nothing was made, not even the database


def exists(url: str) -> bool:
    u = make_url(normalise_url(url))
    if u.get_backend_name() == "sqlite":
        return Path(u.database or "").exists()
    admin = make_engine(u.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}
            ).first()
    finally:
        admin.dispose()
    return found is not None


def test_backup_keeps_an_existing_file_unless_overwrite(ctx: Context, tmp_path: Path) -> None:
    city_with_payments(ctx)
    source = ctx.settings.database_url
    file = tmp_path / "city.backup"
    file.write_bytes(b"yesterday")
    code, out = run("backup", str(file), "--database-url", source)
    assert code == 5 and "--overwrite" in out
    assert file.read_bytes() == b"yesterday"
    code, out = run("backup", str(file), "--database-url", source, "--overwrite")
    assert code == 0, out
    assert b.backup_kind(file) == ("postgresql" if ctx.db.is_postgres else "sqlite")


def test_backup_of_a_database_that_is_not_onecard_is_refused(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    code, out = run("backup", str(tmp_path / "b"), "--database-url", f"sqlite:///{other}")
    assert code == 2, out
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()


# --- point-in-time recovery (PostgreSQL's base backup + WAL archive) --------------------------
PITR_PRIMARY, PITR_RESTORED = 5452, 5453


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("ONECARD_TEST_DATABASE_URL"),
    reason="PostgreSQL runs only (ONECARD_TEST_DATABASE_URL)",
)
def test_point_in_time_recovery_from_a_base_backup_and_the_wal_archive() -> None:
    """docs/operations.md, step by step: archive_command, pg_basebackup, payments before
    and after a moment, then a new cluster from the base backup with restore_command and
    recovery_target_time: the payments before the moment are there, those after are
    not, and the ledger verifies."""
    from onecard.bench.city import CityScale, build_city
    from onecard.core.config import Settings
    from onecard.ledger.verify import verify
    from onecard.pay.service import TerminalIdentity
    from ops.clusters import Cluster, as_postgres, available, cluster_lock, postgres_dir
    from ops.clusters import run as run_tool

    why = available()
    if why:
        pytest.skip(why)
    archive, base = postgres_dir("onecard-ops-wal-"), postgres_dir("onecard-ops-base-")
    with cluster_lock():
        primary = restored = None
        try:
            primary = Cluster.create(
                PITR_PRIMARY,
                {
                    "archive_mode": "on",
                    "archive_command": f"'test ! -f {archive}/%f && cp %p {archive}/%f'",
                },
            )
            url = primary.url("onecard_pitr")
            city = build_city(
                url, CityScale(units=4, canteens=2, staff=40, terminals_per_canteen=1)
            )
            run_tool(
                as_postgres(
                    [
                        "pg_basebackup",
                        "-d",
                        f"host=127.0.0.1 port={primary.port} user=postgres",
                        "-D",
                        str(base / "data"),
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                    ]
                )
            )
            ctx = Context.from_settings(
                Settings(env="test", secret_key="test-secret", database_url=url)
            )
            terminal = next(t for ts in city.terminals.values() for t in ts)
            till = TerminalIdentity(terminal.id, terminal.code, city.region_id, terminal.canteen_id)
            people = [p for p in city.people if p.kind == "ok"]

            def pay_batch(tag: str) -> set[str]:
                done = set()
                for i, p in enumerate(people[:5]):
                    txn = f"{tag}-{i}"
                    pay(ctx, till, PaymentRequest(txn, p.card_no, amount_fen=300 + i))
                    done.add(txn)
                return done

            before = pay_batch("before")
            time.sleep(0.3)
            moment = str(primary.sql("SELECT clock_timestamp()::text")[0][0])
            time.sleep(0.3)
            after = pay_batch("after")
            ctx.dispose()
            lsn = primary.sql("SELECT pg_switch_wal()")[0][0]
            segment = primary.sql(f"SELECT pg_walfile_name('{lsn}')")[0][0]
            primary.wait_until(
                f"SELECT last_archived_wal >= '{segment}' FROM pg_stat_archiver", timeout=60
            )
            primary.drop()  # the machine is gone; what is left is the backup and the archive

            restored = Cluster.restored(
                PITR_RESTORED,
                base / "data",
                {
                    "restore_command": f"'cp {archive}/%f %p'",
                    "recovery_target_time": f"'{moment}'",
                    "recovery_target_action": "'promote'",
                },
            )
            restored.wait_until("SELECT NOT pg_is_in_recovery()", timeout=120)
            kept = {
                str(r[0])
                for r in restored.sql("SELECT txn_id FROM payments", database="onecard_pitr")
            }
            assert before <= kept and not (after & kept), (sorted(kept), moment)
            engine = make_engine(restored.url("onecard_pitr"))
            with engine.connect() as conn:
                report = verify(conn)
            engine.dispose()
            assert report.ok, report.problems[:5]
        finally:
            for c in (restored, primary):
                if c is not None:
                    c.drop()
            shutil.rmtree(archive, ignore_errors=True)
            shutil.rmtree(base, ignore_errors=True)
