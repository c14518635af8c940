"""The city's quarter: millions of payments bulk-loaded, then the money runs, each timed
next to bare SQL doing the same work over the same rows.

Contract:
- ``load_quarter(url, city, payments)`` writes ``payments`` approved lunches into the
  city's quarter (spread over its days and canteens, every purse staying ≥ 0) as they
  would have been booked one by one: a ``payment`` entry, its two postings, the decision
  record, and the purses' cached balances lowered by the same sums. It is generated in
  PostgreSQL (INSERT … SELECT) in one transaction. For speed the load runs with
  ``session_replication_role = replica``, i.e. without the row triggers (the zero-sum
  constraint trigger would re-sum each entry at COMMIT); the rows are balanced by
  construction and ``ledger verify`` afterwards re-checks every entry and purse.
- ``run_quarter(url, city, ctx)`` then times, on the same database: the quarter-end
  settlement of every canteen (``funding.settlement.settle_quarter``) against a bare
  GROUP BY of the same canteens' postings; year-end clearing (``funding.year_end.
  clear_year``) against a bare INSERT of the same entries and postings plus an UPDATE of
  the same purses, rolled back; the next quarter's distribution to every purse
  (``funding.distribution.distribute_all``, after loading the units' funds) against the
  same bare writes, rolled back; and ``ledger verify`` against a bare GROUP BY of all
  postings by account. Each pair is reported with its ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg

from onecard.bench.city import BenchCity, BenchTerminal, device_key, plain_url
from onecard.core.clock import next_quarter, quarter_bounds
from onecard.core.context import Context

Say = Callable[[str], None]


@dataclass
class Timed:
    name: str
    seconds: float
    baseline: str
    baseline_seconds: float
    rows: int = 0
    error: str = ""  # the run failed (its transaction rolled back): what it said

    @property
    def ratio(self) -> float:
        if self.error or not self.baseline_seconds:
            return float("nan")
        return self.seconds / self.baseline_seconds


@dataclass
class QuarterReport:
    payments: int = 0
    load_seconds: float = 0.0
    runs: list[Timed] = field(default_factory=list)
    verify_ok: bool = False
    problems: list[str] = field(default_factory=list)
    pages: Any = None  # bench.pages.PagesReport: the bureau's pages on this quarter


def _sq(cur: psycopg.Cursor[Any], table: str) -> str:
    cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,))
    row = cur.fetchone()
    assert row is not None
    return str(row[0])


def load_quarter(url: str, city: BenchCity, payments: int, say: Say = print) -> tuple[int, float]:
    """Bulk-load about ``payments`` approved payments into the city's quarter."""
    started = time.perf_counter()
    start, end = quarter_bounds(city.quarter)
    days = max(1, (end - start).days)
    with psycopg.connect(plain_url(url)) as pg, pg.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute("SET work_mem = '256MB'")
        # The terminal of each generated payment is found by a computed id; a nested loop
        # over that join (the planner's pick with a generate_series) is quadratic.
        cur.execute("SET enable_nestloop = off")
        cur.execute("ANALYZE people, accounts, terminals")
        cur.execute("SELECT count(*) FROM accounts WHERE kind = 'subsidy' AND balance >= 30000")
        row = cur.fetchone()
        payers = int(row[0]) if row else 0
        # Each payer's k payments spend at most what their subsidy purse holds.
        per_person = max(1, min(100, -(-payments // max(1, payers))))
        cities = city.regions or [city.region_id]
        entry_seq, pay_seq = _sq(cur, "journal_entries"), _sq(cur, "payments")
        say(f"  generating {payers * per_person:,} payments ({per_person} per payer)")
        cur.execute(
            f"""
            CREATE TEMP TABLE qgen AS
            SELECT nextval('{entry_seq}') AS entry_id, nextval('{pay_seq}') AS pay_id,
                   p.id AS person_id, p.unit_id, p.region_id, s.id AS sub_acct,
                   t.id AS terminal_id, t.code AS terminal_code, t.canteen_id,
                   c.id AS payable,
                   s.balance / %(k)s - ((p.id + g.i) %% 4) * 20 AS amount,
                   %(start)s::date + ((g.i * 61 + p.id) %% %(days)s)::int AS day
            FROM people p
            JOIN accounts s ON s.owner_kind = 'person' AND s.owner_id = p.id
                 AND s.kind = 'subsidy' AND s.balance >= %(k)s * 300
            CROSS JOIN generate_series(1, %(k)s) AS g(i)
            JOIN terminals t ON t.id = 1
                 + (array_position(%(cities)s, p.region_id) - 1) * %(terms)s
                 + ((p.id * 31 + g.i * 17) %% %(terms)s)
            JOIN accounts c ON c.owner_kind = 'canteen' AND c.owner_id = t.canteen_id
                 AND c.kind = 'canteen_payable'
            """,
            {
                "start": start,
                "days": days,
                "k": per_person,
                # Each person pays at their own city's terminals (a province's cities
                # were built one after another: each city's terminals are one id range).
                "cities": cities,
                "terms": sum(len(ts) for ts in city.terminals.values()) // len(cities),
            },
        )
        n = cur.rowcount
        say("  journal entries")
        cur.execute(
            """
            INSERT INTO journal_entries (id, region_id, kind, idempotency_key, period,
                booked_at, occurred_at, actor, reference, memo, legs)
            SELECT entry_id, region_id, 'payment', 'pay:' || terminal_id || ':q' || pay_id,
                   %(q)s, day + time '04:00', day + time '04:00', 'terminal:' || terminal_code,
                   'bench quarter', '', 2
            FROM qgen
            """,
            {"q": city.quarter},
        )
        say("  postings")
        cur.execute(
            "INSERT INTO postings (entry_id, account_id, amount)"
            " SELECT entry_id, payable, amount FROM qgen"
            " UNION ALL SELECT entry_id, sub_acct, -amount FROM qgen"
        )
        say("  decision records")
        cur.execute(
            """
            INSERT INTO payments (id, region_id, terminal_id, txn_id, request_hash, status,
                refusal_code, canteen_id, person_id, home_unit_id, credential_kind,
                meal_period_id, diner_class, amount_fen, subsidy_fen, cash_fen, refunded_fen,
                refunded_subsidy_fen, entry_id, business_date, created_at, response)
            SELECT pay_id, region_id, terminal_id, 'q' || pay_id, md5(pay_id::text) ||
                   md5(entry_id::text), 'approved', NULL, canteen_id, person_id, unit_id,
                   'card', NULL, NULL, amount, amount, 0, 0, 0, entry_id, day,
                   day + time '04:00',
                   '{"result":"approved","amount_fen":' || amount || '}'
            FROM qgen
            """
        )
        say("  purse balances")
        cur.execute(
            "UPDATE accounts a SET balance = a.balance - s.total"
            " FROM (SELECT sub_acct, sum(amount) AS total FROM qgen GROUP BY sub_acct) s"
            " WHERE a.id = s.sub_acct"
        )
        cur.execute("DROP TABLE qgen")
        pg.commit()
        pg.autocommit = True
        say("  VACUUM ANALYZE")
        cur.execute("VACUUM ANALYZE journal_entries, postings, payments, accounts")
    return n, time.perf_counter() - started


def city_from_db(url: str) -> BenchCity:
    """What the quarter part needs of a city already built in ``url`` (``--quarter-only``)."""
    with psycopg.connect(plain_url(url)) as pg, pg.cursor() as cur:
        cur.execute("SELECT min(period) FROM journal_entries WHERE kind = 'distribution'")
        row = cur.fetchone()
        if row is None or row[0] is None:
            raise SystemExit(f"no bench city in {plain_url(url)}: run onecard bench first")
        quarter = str(row[0])
        cur.execute("SELECT id FROM regions ORDER BY id LIMIT 1")
        region = cur.fetchone()
        cur.execute(
            "SELECT id FROM regions r WHERE EXISTS"
            " (SELECT 1 FROM units u WHERE u.region_id = r.id) ORDER BY id"
        )
        cities = [int(r) for (r,) in cur.fetchall()]
        cur.execute("SELECT id, code, canteen_id FROM terminals ORDER BY id")
        terminals: dict[int, list[BenchTerminal]] = {}
        for tid, code, cid in cur.fetchall():
            terminals.setdefault(int(cid), []).append(
                BenchTerminal(int(tid), str(code), device_key(str(code)), int(cid))
            )
    return BenchCity(
        url=url,
        region_id=int(region[0]) if region else 1,
        quarter=quarter,
        people=[],
        terminals=terminals,
        canteen_of_unit={},
        canteen_ids=sorted(terminals),
        lunch_price={},
        regions=cities,
    )


def _timed(fn: Callable[[], object]) -> tuple[float, str]:
    """Seconds taken, and the error if the run failed (a failed run is reported, and the
    next runs still go ahead)."""
    t0 = time.perf_counter()
    try:
        fn()
    except Exception as exc:
        return time.perf_counter() - t0, f"{type(exc).__name__}: {str(exc)[:200]}"
    return time.perf_counter() - t0, ""


def _bare(url: str, sql: list[str], params: dict[str, object], rollback: bool) -> float:
    with psycopg.connect(plain_url(url)) as pg, pg.cursor() as cur:
        t0 = time.perf_counter()
        for s in sql:
            cur.execute(s, params)
            if cur.description is not None:
                cur.fetchall()
        if rollback:
            pg.rollback()
        else:
            pg.commit()
        return time.perf_counter() - t0


# The bare writes a per-person run makes: one entry and two postings per purse, and the
# purses' balances — set-wise, in one transaction, rolled back.
def _bare_purse_writes(select_rows: str) -> list[str]:
    return [
        "CREATE TEMP TABLE bare ON COMMIT DROP AS SELECT nextval(pg_get_serial_sequence("
        f"'journal_entries', 'id')) AS entry_id, x.* FROM ({select_rows}) x",
        "INSERT INTO journal_entries (id, region_id, kind, idempotency_key, period, booked_at,"
        " occurred_at, actor, reference, memo, legs) SELECT entry_id, region_id, 'bare',"
        " 'bare:' || entry_id, %(period)s, now(), now(), 'bench', '', '', 2 FROM bare",
        "INSERT INTO postings (entry_id, account_id, amount) SELECT entry_id, purse, amount"
        " FROM bare UNION ALL SELECT entry_id, other, -amount FROM bare",
        "UPDATE accounts a SET balance = a.balance + b.amount FROM bare b WHERE a.id = b.purse",
    ]


def run_quarter(url: str, city: BenchCity, ctx: Context, say: Say = print) -> QuarterReport:
    from onecard.funding.distribution import distribute_all
    from onecard.funding.notices import issue_notices
    from onecard.funding.settlement import settle_quarter
    from onecard.funding.year_end import clear_year
    from onecard.ledger.verify import verify
    from onecard.org.actors import Actor

    actor = Actor.system("bench")
    rep = QuarterReport()
    q = city.quarter
    year = int(q[:4])

    # 1. Settlement of every canteen, against a bare GROUP BY of the same postings.
    say(f"settlement {q}: bare GROUP BY, then settle_quarter")
    base = _bare(
        url,
        [
            "SELECT p.account_id, sum(p.amount) FROM postings p"
            " JOIN journal_entries e ON e.id = p.entry_id"
            " JOIN accounts a ON a.id = p.account_id"
            " WHERE a.kind = 'canteen_payable' AND e.period <= %(q)s GROUP BY p.account_id"
        ],
        {"q": q},
        rollback=True,
    )
    codes = fund_region_codes(url)
    secs, err, each = _per_region(codes, lambda code: settle_quarter(ctx, actor, q, region=code))
    rep.runs.append(
        Timed(
            f"settlement (1 quarter, every canteen){each}",
            secs,
            "GROUP BY payables",
            base,
            error=err,
        )
    )

    # 2. Year-end clearing, against the same writes done bare and rolled back.
    say(f"year-end {year}: bare writes (rolled back), then clear_year")
    base = _bare(
        url,
        _bare_purse_writes(
            "SELECT a.region_id, a.id AS purse, r.id AS other, -a.balance AS amount"
            " FROM accounts a JOIN people p ON p.id = a.owner_id"
            " JOIN accounts r ON r.owner_kind = 'unit' AND r.owner_id = p.unit_id"
            " AND r.kind = 'unit_returned'"
            " WHERE a.owner_kind = 'person' AND a.kind = 'subsidy' AND a.balance > 0"
        ),
        {"period": next_quarter(q)},
        rollback=True,
    )
    # The clearing runs after the year's Q4 settlement (funding.calendar). The city has
    # one quarter: when it is not Q4, the clearing is timed with an explicit override
    # (a benchmark measures the run, it does not close a real year).
    override = None if q.endswith("Q4") else f"bench: year-end timed after {q} alone"
    secs, err, each = _per_region(
        codes, lambda code: clear_year(ctx, actor, year, override_calendar=override, region=code)
    )
    rep.runs.append(
        Timed(f"year-end clearing {year}{each}", secs, "INSERT+UPDATE purses", base, error=err)
    )

    # 3. The next quarter's distribution: the units' funds arrive, then every purse.
    nq = next_quarter(q)
    say(f"distribution {nq}: funds in, bare writes (rolled back), then distribute_all")
    _fund_units(url, city, nq)
    # Distribution waits for the quarter's notices (funding.calendar): issue them first.
    for code in codes:
        issue_notices(ctx, actor, nq, region=code)
    base = _bare(
        url,
        _bare_purse_writes(
            "SELECT a.region_id, a.id AS purse, i.id AS other,"
            f" {_STANDARD} AS amount FROM people p JOIN units u ON u.id = p.unit_id"
            " JOIN accounts a ON a.owner_kind = 'person' AND a.owner_id = p.id"
            " AND a.kind = 'subsidy' JOIN accounts i ON i.owner_kind = 'unit'"
            " AND i.owner_id = p.unit_id AND i.kind = 'unit_income'"
            f" WHERE {_STANDARD} > 0 AND p.status = 'active'"
        ),
        {"period": nq},
        rollback=True,
    )
    secs, err, each = _per_region(codes, lambda code: distribute_all(ctx, actor, nq, region=code))
    rep.runs.append(
        Timed(
            f"distribution {nq} (every purse){each}",
            secs,
            "INSERT+UPDATE purses",
            base,
            error=err,
        )
    )

    # 4. ledger verify, against a bare GROUP BY of every posting by account.
    say("ledger verify: bare GROUP BY, then verify")
    base = _bare(
        url,
        ["SELECT account_id, sum(amount) FROM postings GROUP BY account_id"],
        {},
        rollback=True,
    )
    t0 = time.perf_counter()
    with ctx.db.read() as conn:
        vr = verify(conn)
    secs = time.perf_counter() - t0
    rep.verify_ok, rep.problems = vr.ok, vr.problems
    rep.runs.append(Timed("ledger verify", secs, "GROUP BY postings", base, rows=vr.postings))
    return rep


def fund_region_codes(url: str) -> list[str | None]:
    """The fund regions whose runs the quarter times: the top alone for a city (None: the
    runs' default), each city of a province (the province itself holds no unit)."""
    with psycopg.connect(plain_url(url)) as pg, pg.cursor() as cur:
        cur.execute(
            "SELECT code FROM regions r WHERE own_fund"
            " AND EXISTS (SELECT 1 FROM units u WHERE u.region_id = r.id) ORDER BY id"
        )
        codes = [str(c) for (c,) in cur.fetchall()]
    return [None] if len(codes) <= 1 else list(codes)


def _per_region(
    codes: list[str | None], run: Callable[[str | None], object]
) -> tuple[float, str, str]:
    """Run once per fund region: total seconds, the first error, and a label part
    saying how many regions and the slowest (a province's runs go region by region)."""
    total, first_err, slowest = 0.0, "", 0.0
    for code in codes:
        secs, err = _timed(lambda code=code: run(code))  # type: ignore[misc]
        total += secs
        slowest = max(slowest, secs)
        first_err = first_err or err
    each = "" if len(codes) == 1 else f"; {len(codes)} regions, slowest {slowest:.1f} s"
    return total, first_err, each


# A person's quarterly standard: their own, or their unit's default (funding.notices).
_STANDARD = "CASE WHEN p.standard_fen > 0 THEN p.standard_fen ELSE u.default_standard_fen END"


def _fund_units(url: str, city: BenchCity, quarter: str) -> None:
    """The units pay the quarter's funds: bank → dining fund → each unit's income line."""
    start, _ = quarter_bounds(quarter)
    day = start + timedelta(days=5)
    with psycopg.connect(plain_url(url)) as pg, pg.cursor() as cur:
        seq = _sq(cur, "journal_entries")
        cur.execute(
            f"""
            CREATE TEMP TABLE fund ON COMMIT DROP AS
            SELECT nextval('{seq}') AS e1, nextval('{seq}') AS e2, u.id AS unit_id,
                   u.region_id, i.id AS income, sum({_STANDARD}) AS total
            FROM units u JOIN people p ON p.unit_id = u.id AND p.status = 'active'
            JOIN accounts i ON i.owner_kind = 'unit' AND i.owner_id = u.id
                 AND i.kind = 'unit_income'
            GROUP BY u.id, u.region_id, i.id HAVING sum({_STANDARD}) > 0
            """
        )
        cur.execute(
            """
            INSERT INTO journal_entries (id, region_id, kind, idempotency_key, period,
                booked_at, occurred_at, actor, reference, memo, legs)
            SELECT e, region_id, k, key, %(q)s, %(at)s, %(at)s, 'bench', '', '', 2
            FROM fund, LATERAL (VALUES (e1, 'unit_funds_in', 'bench:in:' || %(q)s || ':' || unit_id),
                                       (e2, 'to_income', 'bench:income:' || %(q)s || ':' || unit_id))
                 AS v(e, k, key)
            """,
            {"q": quarter, "at": day},
        )
        cur.execute(
            """
            INSERT INTO postings (entry_id, account_id, amount)
            SELECT e1, (SELECT id FROM accounts WHERE owner_kind = 'system'
                        AND kind = 'bank_clearing' AND region_id = fund.region_id), -total
                        FROM fund
            UNION ALL SELECT e1, (SELECT id FROM accounts WHERE owner_kind = 'system'
                        AND kind = 'dining_fund' AND region_id = fund.region_id), total
                        FROM fund
            UNION ALL SELECT e2, (SELECT id FROM accounts WHERE owner_kind = 'system'
                        AND kind = 'dining_fund' AND region_id = fund.region_id), -total
                        FROM fund
            UNION ALL SELECT e2, income, total FROM fund
            """
        )
        # The income lines are cached accounts: their balances move with their postings.
        cur.execute(
            "UPDATE accounts a SET balance = a.balance + f.total FROM fund f WHERE a.id = f.income"
        )
        pg.commit()
