"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

``0001`` is explicit DDL, so a model change without a new revision shows up here as a
difference between the migrated database and the models; and the ledger's database
backstops (append-only triggers) are part of the migrated schema.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from onecard.core.context import Context
from onecard.models import metadata


def test_the_migrated_schema_matches_the_models(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(mc, metadata)
    assert diff == []
    with ctx.db.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0001"


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
