"""Database backstops for the audit trail (DDL run by migration 0005), as the ledger has.

- ``audit_events`` is append-only: UPDATE and DELETE raise, on SQLite and PostgreSQL.
- ``audit_chain`` (the head) only moves forward: an UPDATE that does not raise ``seq``
  and any DELETE raise. Appending needs the UPDATE, so that one is allowed.
TRUNCATE is not a row operation and is not refused (the test fixtures empty every table
between tests); ``onecard audit verify --anchor`` catches a chain rebuilt from nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

PG = [
    """
    CREATE OR REPLACE FUNCTION onecard_audit_append_only() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION onecard_audit_append_only()
    """,
    """
    CREATE OR REPLACE FUNCTION onecard_audit_head_forward() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'DELETE' OR NEW.seq <= OLD.seq OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'audit chain head only moves forward: % refused', TG_OP
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER audit_chain_forward BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION onecard_audit_head_forward()
    """,
]

SQLITE = [
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE on audit_events refused'); END
    """,
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: DELETE on audit_events refused'); END
    """,
    """
    CREATE TRIGGER audit_chain_forward BEFORE UPDATE ON audit_chain
    WHEN NEW.seq <= OLD.seq OR NEW.id <> OLD.id
    BEGIN SELECT RAISE(ABORT, 'audit chain head only moves forward: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
    BEGIN SELECT RAISE(ABORT, 'audit chain head only moves forward: DELETE refused'); END
    """,
]

PG_DROP = [
    "DROP TRIGGER IF EXISTS audit_chain_forward ON audit_chain",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS onecard_audit_head_forward()",
    "DROP FUNCTION IF EXISTS onecard_audit_append_only()",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_events_no_update",
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS audit_chain_forward",
    "DROP TRIGGER IF EXISTS audit_chain_no_delete",
]


def install(conn: Connection) -> None:
    for ddl in PG if conn.dialect.name == "postgresql" else SQLITE:
        conn.execute(text(ddl))


def remove(conn: Connection) -> None:
    for ddl in PG_DROP if conn.dialect.name == "postgresql" else SQLITE_DROP:
        conn.execute(text(ddl))
