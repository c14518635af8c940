"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

``0001`` is explicit DDL, so a model change without a new revision shows up here as a
difference between the migrated database and the models; and the ledger's database
backstops (append-only triggers) are part of the migrated schema.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from onecard import migrations
from onecard.core.context import Context
from onecard.ledger import backstops
from onecard.models import metadata


def test_the_migrated_schema_matches_the_models(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(mc, metadata)
    assert diff == []
    with ctx.db.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0035"


def test_the_ledger_backstops_are_installed_by_the_migration(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        if ctx.db.is_postgres:
            names = set(
                conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()
            )
            expected = {"journal_entries_append_only", "postings_append_only", "postings_zero_sum"}
        else:
            names = set(
                conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
            )
            expected = {
                "journal_entries_no_update",
                "journal_entries_no_delete",
                "postings_no_update",
                "postings_no_delete",
            }
    assert expected <= names


@pytest.mark.parametrize("table", ["accounts", "postings", "payments", "people"])
def test_money_columns_are_integers(ctx: Context, table: str) -> None:
    for column in metadata.tables[table].columns:
        if column.name.endswith("_fen") or column.name in ("amount", "balance"):
            assert column.type.python_type is int, (table, column.name)


def test_0002_counts_the_legs_of_the_entries_already_there(ctx: Context) -> None:
    """Down to 0001 (no ``legs``) with a ledger in it, then up again: every entry gets the
    number of its postings, the append-only backstop is back, and verify passes."""
    from alembic import command

    from onecard.ledger.verify import verify
    from onecard.migrations.runner import alembic_config
    from world import build_world, fund

    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000, cash=300)
    command.downgrade(alembic_config(ctx.db.engine), "0001")
    try:
        with ctx.db.engine.connect() as conn:
            columns = conn.execute(text("SELECT * FROM journal_entries LIMIT 0")).keys()
        assert "legs" not in columns
    finally:
        command.upgrade(alembic_config(ctx.db.engine), "head")
    with ctx.db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.legs, (SELECT count(*) FROM postings p WHERE p.entry_id = e.id)"
                " FROM journal_entries e"
            )
        ).all()
        assert rows and all(legs == n >= 2 for legs, n in rows)
        assert verify(conn).ok
    with pytest.raises(Exception, match="append-only"), ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE journal_entries SET memo = 'x'"))


def test_0003_caches_the_units_income_lines_at_what_their_postings_give(ctx: Context) -> None:
    from alembic import command

    from onecard.ledger.service import Leg, account_id, derived_balance, post, system_account
    from onecard.ledger.verify import verify
    from onecard.migrations.runner import alembic_config
    from world import build_world, fund

    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000)
    with ctx.db.begin() as conn:  # funds arrived, not yet distributed
        income = account_id(conn, "unit", w.units["A"], "unit_income")
        bank = system_account(conn, "bank_clearing")
        post(
            conn,
            region_id=w.region,
            kind="unit_funds_in",
            key="test:income",
            legs=[Leg(bank, -500), Leg(income, 500)],
            actor="test",
            booked_at=ctx.clock.now(),
        )
    command.downgrade(alembic_config(ctx.db.engine), "0002")
    try:
        with ctx.db.engine.connect() as conn:
            old = conn.execute(
                text("SELECT count(*) FROM accounts WHERE kind = 'unit_income' AND cached")
            ).scalar()
        assert old == 0
    finally:
        command.upgrade(alembic_config(ctx.db.engine), "head")
    with ctx.db.engine.connect() as conn:
        lines = conn.execute(
            text("SELECT id, cached, balance FROM accounts WHERE kind = 'unit_income'")
        ).all()
        assert lines and all(cached for _, cached, _ in lines)
        assert [bal for _, _, bal in lines] == [derived_balance(conn, i) for i, _, _ in lines]
        assert any(bal > 0 for _, _, bal in lines)
        assert verify(conn).ok


def test_0007_gives_existing_units_their_regions_level_and_canteen_flag(ctx: Context) -> None:
    """Down to 0003 (no unit level, canteen flag, windows or retirement) with a city in
    it, then up again: each unit takes its region's level and has a canteen exactly when
    one is registered for it; the new CHECKs hold."""
    from alembic import command

    from onecard.migrations.runner import alembic_config
    from world import build_world

    w = build_world(ctx)
    command.downgrade(alembic_config(ctx.db.engine), "0003")
    try:
        with ctx.db.engine.connect() as conn:
            columns = conn.execute(text("SELECT * FROM units LIMIT 0")).keys()
        assert "has_canteen" not in columns and "level" not in columns
        with ctx.db.engine.begin() as conn:  # a unit added by an older release
            conn.execute(
                text(
                    "INSERT INTO units (region_id, code, name, default_standard_fen)"
                    " VALUES (:r, 'U009', '旧单位', 0)"
                ),
                {"r": w.region},
            )
    finally:
        command.upgrade(alembic_config(ctx.db.engine), "head")
    with ctx.db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT code, level, has_canteen, retired_at FROM units ORDER BY code")
        ).all()
        windows = conn.execute(text("SELECT DISTINCT windows FROM canteens")).scalars().all()
    assert [(c, lvl, bool(h), r) for c, lvl, h, r in rows] == [
        ("U001", "city", True, None),
        ("U002", "city", True, None),
        ("U003", "city", False, None),
        ("U009", "city", False, None),
    ]
    assert windows == [0]
    for bad in (
        "UPDATE units SET level = 'province'",
        "UPDATE canteens SET windows = -1",
    ):
        with pytest.raises(Exception, match=r"(?i)check"), ctx.db.engine.begin() as conn:
            conn.execute(text(bad))


def _revision(name: str) -> Any:
    """A revision module, loaded from its file (its name starts with a digit)."""
    path = Path(migrations.__file__).parent / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_frozen_backstops_still_equal_the_live_ones() -> None:
    """0001 and 0002 carry a copy of the ledger backstops (a migration never imports live
    code). Should ``ledger/backstops.py`` change, this fails: the change then needs a new
    revision that installs it, and this test the new revision's copy."""
    first = _revision("0001_initial")
    assert first.PG == backstops.PG
    assert first.SQLITE == backstops.SQLITE
    second = _revision("0002_entry_legs")
    assert second.NO_UPDATE in backstops.SQLITE


def test_no_revision_imports_live_ledger_code() -> None:
    versions = Path(migrations.__file__).parent / "versions"
    for name in ("0001_initial", "0002_entry_legs"):
        assert "onecard.ledger" not in (versions / f"{name}.py").read_text(encoding="utf-8")


def test_0034_folds_and_unfolds_the_offline_working_sets(ctx: Context) -> None:
    """Downgrading writes each version in full again; upgrading stores only the changes,
    the same rows the server wrote."""
    import json

    from alembic import command

    from onecard.migrations.runner import alembic_config
    from onecard.org.actors import Actor
    from onecard.pay.cards import report_lost
    from terminals.offline_kit import app_client, till
    from world import build_world, fund

    w = build_world(ctx)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        first = dict(sim.entries)
        report_lost(ctx, Actor.system("bureau"), w.cards["a2"])
        fund(ctx, w, "b1", cash=2_000)
        sim.refresh()
        second = dict(sim.entries)
    rows_sql = text(
        "SELECT terminal_id, key, version, entry, digest, latest FROM offline_ws_entries"
    )
    with ctx.db.engine.connect() as conn:
        written = sorted(tuple(r) for r in conn.execute(rows_sql))
    command.downgrade(alembic_config(ctx.db.engine), "0033")
    try:
        with ctx.db.engine.connect() as conn:
            full = dict(
                conn.execute(text("SELECT version, entries FROM offline_working_sets")).all()
            )
        no_secret = [
            {k: {f: v for f, v in e.items() if f != "secret"} for k, e in s.items()}
            for s in (first, second)
        ]
        assert json.loads(full[1]) == no_secret[0] and json.loads(full[2]) == no_secret[1]
    finally:
        command.upgrade(alembic_config(ctx.db.engine), "head")
    with ctx.db.engine.connect() as conn:
        again = sorted(tuple(r) for r in conn.execute(rows_sql))
    assert [r[:3] + r[4:] for r in again] == [r[:3] + r[4:] for r in written]
    assert [json.loads(r[3]) if r[3] else None for r in again] == [
        json.loads(r[3]) if r[3] else None for r in written
    ]
