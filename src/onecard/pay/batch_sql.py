"""The payment batch's SQL (PostgreSQL, psycopg parameter style): what ``pay.batch``
sends in its two round trips. The entries, postings and purse balances are not here:
``ledger.journal`` writes them.

The reads are set-wise, one statement per kind of fact for the whole batch. LATERAL
lookups are fenced by LIMIT/OFFSET (else PostgreSQL flattens them back into a join): one
index probe per key whatever the statistics say.
"""

from __future__ import annotations

import json
from typing import Any

# The payers of a batch, found in the database from its credentials (no round trip to
# learn them first): active cards' holders and the people behind the payment codes.
PAYERS = (
    "SELECT person_id FROM cards WHERE card_no = ANY(%(nos)s::text[]) AND status = 'active'"
    " UNION SELECT id FROM people WHERE paycode_token = ANY(%(tokens)s::text[])"
)
# LATERAL lookups fenced by LIMIT/OFFSET (else PostgreSQL flattens them back into a
# join): one index probe per key whatever the statistics say. A hash join over a seq
# scan of ``payments`` was chosen while the day's payments were filling it, a cost that
# grew with every payment of the lunch.
SEEN = (
    "SELECT s.terminal_id, s.txn_id, s.id, s.request_hash, s.response, s.status"
    " FROM json_to_recordset(%(keys)s::json) AS v(t bigint, x text),"
    " LATERAL (SELECT * FROM payments WHERE terminal_id = v.t AND txn_id = v.x LIMIT 1) s"
)
CANTEENS = (
    "SELECT c.id, c.unit_id, c.name, c.serves_visitors, c.serves_guests, c.purse_order, a.id,"
    " coalesce(r.goods_from_subsidy, false), c.region_id,"
    " (SELECT version FROM interregion_fund_version WHERE id = 1)"
    " FROM canteens c LEFT JOIN shop_rules r ON r.unit_id = c.unit_id LEFT JOIN LATERAL (SELECT id FROM accounts WHERE owner_kind = 'canteen'"
    " AND owner_id = c.id AND kind = 'canteen_payable' LIMIT 1) a ON true"
    " WHERE c.id = ANY(%(canteens)s::bigint[])"
)
# Every accepted dining agreement (a deployment has a few dozen; read only when the
# deployment has more than one fund region, ``pay.interregion``).
AGREEMENTS = (
    "SELECT id, home_region_id, host_region_id, unit_ids, canteen_ids, price_class, purse,"
    " valid_from, valid_to FROM interregion_agreements WHERE status = 'accepted'"
)
CARDS = "SELECT card_no, person_id, status FROM cards WHERE card_no = ANY(%(nos)s::text[])"
PEOPLE_COLUMNS = (
    "SELECT p.id, p.name, p.unit_id, u.name, p.category, p.status, p.paycode_token,"
    " p.paycode_secret, p.paycode_last_step, p.region_id FROM people p JOIN units u ON u.id = p.unit_id"
)
# Code payers' rows are locked (their step moves); card payers' are only read.
CODE_PEOPLE = (
    f"{PEOPLE_COLUMNS} WHERE p.paycode_token = ANY(%(tokens)s::text[]) ORDER BY p.id"
    " FOR UPDATE OF p"
)
CARD_PEOPLE = (
    f"{PEOPLE_COLUMNS} WHERE p.id IN (SELECT person_id FROM cards"
    " WHERE card_no = ANY(%(nos)s::text[]) AND status = 'active')"
)
MEALS = (
    "SELECT m.canteen_id, m.code, m.id, m.name, m.starts, m.ends, m.per_person_limit,"
    " p.diner_class, p.price_fen FROM meal_periods m LEFT JOIN LATERAL"
    " (SELECT diner_class, price_fen FROM meal_prices WHERE meal_period_id = m.id OFFSET 0)"
    " p ON true"
    " WHERE m.canteen_id = ANY(%(canteens)s::bigint[])"
)
PURSES = (
    "SELECT id, owner_id, kind, balance FROM accounts WHERE owner_kind = 'person'"
    f" AND owner_id IN ({PAYERS}) ORDER BY id FOR UPDATE"
)
# Per payer, fenced too: sampled during a rush, the plain join was the statement the
# batch's connection spent most of its time in (a plan over the whole day's payments,
# chosen while the table was still new to the planner), PostgreSQL at ~0.8 core even at
# 100 payments/s.
MEAL_COUNTS = (
    "WITH mp AS MATERIALIZED (SELECT id FROM meal_periods"
    " WHERE canteen_id = ANY(%(canteens)s::bigint[]))"
    f" SELECT c.person_id, m.meal_period_id, m.n FROM ({PAYERS}) AS c(person_id)"
    " CROSS JOIN LATERAL (SELECT meal_period_id, count(*) AS n FROM payments"
    " WHERE person_id = c.person_id AND business_date = %(day)s AND status = 'approved'"
    " AND meal_period_id IN (SELECT id FROM mp) GROUP BY meal_period_id OFFSET 0) m"
)
# ``ledger.service.lock_for_posting`` and ``period_for``: the entry table's ROW EXCLUSIVE
# lock first (a period being closed waits for this batch, or this batch for it), then
# each fund region's last closed quarter (ledger periods are per fund region).
LOCK_ENTRIES = "LOCK TABLE journal_entries IN ROW EXCLUSIVE MODE"
LAST_CLOSED = "SELECT region_id, max(code) FROM ledger_periods GROUP BY region_id"
IDS = (
    "SELECT nextval(pg_get_serial_sequence('journal_entries', 'id')),"
    " nextval(pg_get_serial_sequence('payments', 'id')) FROM generate_series(1, %(n)s)"
)
STEPS = (
    "UPDATE people p SET paycode_last_step = v.step"
    " FROM unnest(%(ids)s::bigint[], %(steps)s::bigint[]) AS v(id, step)"
    " WHERE p.id = v.id AND p.paycode_last_step < v.step"
)
PAYMENTS = (
    "INSERT INTO payments (id, region_id, terminal_id, txn_id, request_hash, status,"
    " refusal_code, canteen_id, person_id, home_unit_id, credential_kind, meal_period_id,"
    " diner_class, amount_fen, subsidy_fen, cash_fen, refunded_fen, refunded_subsidy_fen,"
    " entry_id, business_date, created_at, response)"
    " SELECT id, region_id, terminal_id, txn_id, request_hash, status, refusal_code,"
    " canteen_id, person_id, home_unit_id, credential_kind, meal_period_id, diner_class,"
    " amount_fen, subsidy_fen, cash_fen, 0, 0, entry_id, %(day)s, %(now)s, response"
    " FROM json_to_recordset(%(rows)s::json) AS v(id bigint, region_id bigint,"
    " terminal_id bigint, txn_id text, request_hash text, status text, refusal_code text,"
    " canteen_id bigint, person_id bigint, home_unit_id bigint, credential_kind text,"
    " meal_period_id bigint, diner_class text, amount_fen bigint, subsidy_fen bigint,"
    " cash_fen bigint, entry_id bigint, response text)"
)


# Tokens no one holds any more (rotated away): their codes are refused ``code_revoked``.
RETIRED = "SELECT token FROM paycode_retired_tokens WHERE token = ANY(%(tokens)s::text[])"
# The active items of the batch's canteens named by its item lines.
ITEMS = (
    "SELECT i.canteen_id, i.sku, i.price_fen, i.kind, i.id FROM json_to_recordset(%(lines)s::json)"
    " AS v(c bigint, s text), LATERAL (SELECT canteen_id, sku, price_fen, kind, id FROM items"
    " WHERE canteen_id = v.c AND sku = v.s AND active LIMIT 1) i"
)

# The approvals' item lines (only sent when a batch has any: a meal-only batch pays no
# extra statement).
LINES = (
    "INSERT INTO payment_lines (payment_id, line_no, item_id, qty, unit_price_fen, line_fen)"
    " SELECT payment_id, line_no, item_id, qty, unit_price_fen, line_fen"
    " FROM json_to_recordset(%(rows)s::json) AS v(payment_id bigint, line_no int,"
    " item_id bigint, qty int, unit_price_fen bigint, line_fen bigint)"
)


def as_json(rows: list[dict[str, Any]]) -> str:
    """Rows for ``json_to_recordset``: one string parameter (psycopg's element-by-element
    list dumper was ~15 % of the server's CPU per payment; see also ``int_array``)."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
