"""``core.db.without_nested_loops``: PostgreSQL plans without nested loops inside the
block and as before after it, in the same transaction; SQLite is untouched."""

from __future__ import annotations

from sqlalchemy import text

from onecard.core.context import Context
from onecard.core.db import without_nested_loops


def test_nested_loops_are_off_inside_the_block_only(pg_ctx: Context) -> None:
    with pg_ctx.db.begin() as conn:
        assert conn.execute(text("SHOW enable_nestloop")).scalar() == "on"
        with without_nested_loops(conn):
            assert conn.execute(text("SHOW enable_nestloop")).scalar() == "off"
        assert conn.execute(text("SHOW enable_nestloop")).scalar() == "on"


def test_the_block_runs_on_either_database(ctx: Context) -> None:
    with ctx.db.begin() as conn, without_nested_loops(conn):
        assert conn.execute(text("SELECT 1")).scalar() == 1
