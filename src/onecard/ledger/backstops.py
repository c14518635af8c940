"""Database backstops for the ledger invariants (DDL run by the migrations).

- Append-only: UPDATE or DELETE on ``journal_entries``/``postings`` raises (both dialects).
- Zero-sum: on PostgreSQL a DEFERRABLE INITIALLY DEFERRED constraint trigger re-sums the
  entry of every inserted posting at commit, so even raw SQL cannot commit an unbalanced
  entry. SQLite has no deferred triggers: there the Python check and ``verify`` hold it.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

PG = [
    """
    CREATE OR REPLACE FUNCTION onecard_append_only() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION onecard_append_only()
    """,
    """
    CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION onecard_append_only()
    """,
    """
    CREATE OR REPLACE FUNCTION onecard_entry_balanced() RETURNS trigger AS $$
    DECLARE s bigint; n integer;
    BEGIN
      SELECT coalesce(sum(amount), 0), count(*) INTO s, n FROM postings
        WHERE entry_id = NEW.entry_id;
      IF s <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: % postings sum to %', NEW.entry_id, n, s
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER postings_zero_sum AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION onecard_entry_balanced()
    """,
]

SQLITE = [
    """
    CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on journal_entries refused'); END
    """,
    """
    CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE on journal_entries refused'); END
    """,
    """
    CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on postings refused'); END
    """,
    """
    CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE on postings refused'); END
    """,
]


def install(conn: Connection) -> None:
    for ddl in PG if conn.dialect.name == "postgresql" else SQLITE:
        conn.execute(text(ddl))
