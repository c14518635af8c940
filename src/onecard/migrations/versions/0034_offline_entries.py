"""Offline working sets keep what changed, per key, instead of every version in full.

Why: measured on the bench city (``onecard bench --offline-only``), a canteen that takes
the whole city's 83,600 people got a 21.9 MB working set, and every version the server
issued stored all of it again (20.7 MB: entries and a digest per key), even when 100
people had changed; an uploaded record was checked by parsing its version's whole
entries. Now ``offline_ws_entries`` holds one row per key and version it changed in
(``latest`` marks the key's newest row): a version stores only its changes, a record
reads its person's entry as of its version by index, and a refresh since version v
sends the keys whose newest row is after v. ``offline_working_sets`` keeps the
versions' times and limits.

The existing versions are unfolded into rows (a key is written where its digest
changed, or NULL where it went away); downgrading folds them back.

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-30
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SETS = sa.table(
    "offline_working_sets",
    sa.column("id", sa.BigInteger()),
    sa.column("terminal_id", sa.BigInteger()),
    sa.column("version", sa.BigInteger()),
    sa.column("entries", sa.Text()),
    sa.column("digests", sa.Text()),
)
ENTRIES = sa.table(
    "offline_ws_entries",
    sa.column("terminal_id", sa.BigInteger()),
    sa.column("key", sa.String()),
    sa.column("version", sa.BigInteger()),
    sa.column("entry", sa.Text()),
    sa.column("digest", sa.String()),
    sa.column("latest", sa.Boolean()),
)


def upgrade() -> None:
    op.create_table(
        "offline_ws_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("terminal_id", BIG_ID, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=32), nullable=True),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_offline_ws_entries_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_ws_entries")),
        sa.UniqueConstraint(
            "terminal_id",
            "key",
            "version",
            name=op.f("uq_offline_ws_entries_terminal_id_key_version"),
        ),
    )
    op.create_index(
        "ix_offline_ws_entries_latest",
        "offline_ws_entries",
        ["terminal_id", "latest", "version"],
    )
    _unfold(op.get_bind())
    with op.batch_alter_table("offline_working_sets") as batch:
        batch.drop_column("entries")
        batch.drop_column("digests")


def _unfold(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(SETS.c.terminal_id, SETS.c.version, SETS.c.entries, SETS.c.digests).order_by(
            SETS.c.terminal_id, SETS.c.version
        )
    ).all()
    held: dict[int, dict[str, str]] = {}
    newest: dict[tuple[int, str], dict[str, object]] = {}
    out: list[dict[str, object]] = []
    for tid, version, entries_text, digests_text in rows:
        entries, digests = json.loads(entries_text), json.loads(digests_text)
        before = held.get(int(tid), {})
        for key, dg in digests.items():
            if before.get(key) != dg:
                row = {
                    "terminal_id": tid,
                    "key": key,
                    "version": version,
                    "entry": json.dumps(entries[key], ensure_ascii=False),
                    "digest": dg,
                    "latest": False,
                }
                out.append(row)
                newest[(int(tid), key)] = row
        for key in before.keys() - digests.keys():
            row = {"terminal_id": tid, "key": key, "version": version, "entry": None}
            row.update(digest=None, latest=False)
            out.append(row)
            newest[(int(tid), key)] = row
        held[int(tid)] = digests
    for row in newest.values():
        row["latest"] = True
    for start in range(0, len(out), 5000):
        conn.execute(sa.insert(ENTRIES), out[start : start + 5000])


def downgrade() -> None:
    with op.batch_alter_table("offline_working_sets") as batch:
        batch.add_column(sa.Column("entries", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("digests", sa.Text(), nullable=False, server_default="{}"))
    conn = op.get_bind()
    changes = conn.execute(
        sa.select(
            ENTRIES.c.terminal_id,
            ENTRIES.c.version,
            ENTRIES.c.key,
            ENTRIES.c.entry,
            ENTRIES.c.digest,
        ).order_by(ENTRIES.c.terminal_id, ENTRIES.c.version)
    ).all()
    versions = conn.execute(
        sa.select(SETS.c.id, SETS.c.terminal_id, SETS.c.version).order_by(
            SETS.c.terminal_id, SETS.c.version
        )
    ).all()
    by_version: dict[tuple[int, int], list[tuple[str, str | None, str | None]]] = {}
    for tid, version, key, entry, dg in changes:
        by_version.setdefault((int(tid), int(version)), []).append((key, entry, dg))
    state: dict[int, tuple[dict[str, object], dict[str, str]]] = {}
    for vid, tid, version in versions:
        entries, digests = state.setdefault(int(tid), ({}, {}))
        for key, entry, dg in by_version.get((int(tid), int(version)), []):
            if entry is None:
                entries.pop(key, None)
                digests.pop(key, None)
            else:
                entries[key] = json.loads(entry)
                digests[key] = str(dg)
        conn.execute(
            sa.update(SETS)
            .where(SETS.c.id == vid)
            .values(entries=json.dumps(entries, ensure_ascii=False), digests=json.dumps(digests))
        )
    op.drop_index("ix_offline_ws_entries_latest", table_name="offline_ws_entries")
    op.drop_table("offline_ws_entries")
