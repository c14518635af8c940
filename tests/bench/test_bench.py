"""``onecard bench`` at toy scale: the harness's own figures must add up (not its speed)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from onecard.bench.city import CityScale, build_city, check_local
from onecard.bench.profile import summarise
from onecard.bench.run import RushOptions, run_city_quarter, run_rush
from onecard.core.db import make_engine, normalise_url

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("ONECARD_TEST_DATABASE_URL")
TINY = CityScale(units=6, canteens=4, staff=120, terminals_per_canteen=2)


@pytest.fixture
def bench_url() -> str:
    if not PG_URL:
        pytest.skip("needs ONECARD_TEST_DATABASE_URL (PostgreSQL)")
    url = make_url(normalise_url(PG_URL)).set(database=f"onecard_bench_t_{os.getpid()}")
    rendered = url.render_as_string(hide_password=False)
    yield rendered
    admin = make_engine(
        url.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def test_the_bench_only_targets_this_machine() -> None:
    with pytest.raises(SystemExit):
        check_local("postgresql://postgres@10.0.0.1:5432/onecard_bench")
    with pytest.raises(SystemExit):
        RushOptions(url="postgresql://postgres@db.example:5432/onecard_bench")


def test_tiny_city_two_modes_consistent(bench_url: str, tmp_path: Path) -> None:
    city = build_city(bench_url, TINY)
    assert city.counts["staff"] == 120 and city.counts["terminals"] == 8
    opts = RushOptions(
        url=bench_url,
        scale=TINY,
        seconds=2,
        clients=4,
        rates=(40, 20),
        open_seconds=1,
        pgbench=False,
        port=18000 + os.getpid() % 1000,
        warmup=0.5,
    )
    said: list[str] = []
    report = run_rush(opts, say=said.append, city=city)
    assert [m.mode for m in report.modes] == ["single", "batch", "engine"]
    k = report.consistency
    assert k.verify_ok, k.verify_problems
    assert k.lost_requests == 0
    # What the terminals were told, the payments table and the canteens' ledger agree.
    assert k.approved_fen == k.takings_fen == k.told_approved_fen > 0
    assert k.payment_entries == k.approved_count
    heard = sum(x.approved for m in report.modes for x in m.loads)
    assert heard == k.approved_count
    refused = sum(sum(x.refused.values()) for m in report.modes for x in m.loads)
    assert refused == k.refused_count
    for m in report.modes:
        assert m.closed.load.done > 0 and len(m.opens) == (2 if m.mode != "engine" else 0)
        assert m.closed.load.retry_mismatches == 0
        load = m.closed.load
        assert load.error_count == 0 and load.unexpected_refusals == 0, (m.mode, load.refused)
        assert m.peak_rss_mb > 0
    # Group commit: fewer commits than payments.
    single, batch, engine = report.modes
    assert single.commits_per_payment == 1.0
    assert batch.commits_per_payment < 1.0 and engine.commits_per_payment < 1.0

    # The city quarter: bulk-loaded payments, then the money runs next to bare SQL.
    q = run_city_quarter(dataclasses.replace(opts, quarter_payments=3000), city, said.append)
    assert q.payments > 0 and q.verify_ok, q.problems
    assert [r.name.split()[0] for r in q.runs] == [
        "settlement",
        "year-end",
        "distribution",
        "ledger",
    ]
    assert all(r.seconds > 0 and r.baseline_seconds > 0 and not r.error for r in q.runs)
    engine = make_engine(bench_url)
    try:
        with engine.connect() as c:
            settled = c.execute(
                text("SELECT coalesce(sum(gross_fen), 0) FROM funding_settlements")
            ).scalar_one()
            distributed = c.execute(
                text(
                    "SELECT count(*) FROM journal_entries WHERE kind = 'distribution'"
                    " AND idempotency_key LIKE 'dist:%'"
                )
            ).scalar_one()
            loaded = c.execute(
                text("SELECT coalesce(sum(amount_fen), 0) FROM payments WHERE status = 'approved'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert distributed == 120  # every active person, by their own or their unit's standard
    # The sum of approved amounts equals the canteens' settled gross.
    assert settled == loaded


def test_a_province_of_three_cities_each_with_its_own_fund(bench_url: str) -> None:
    city = build_city(bench_url, TINY, cities=3)
    assert city.counts["staff"] == 360 and len(city.regions) == 3
    assert len({p.id for p in city.people}) == 360
    assert len({p.token for p in city.people}) == 360
    assert {city.region_of_canteen[c] for c in city.canteen_ids} == set(city.regions)
    engine = make_engine(bench_url)
    try:
        with engine.connect() as c:
            levels = dict(c.execute(text("SELECT code, level FROM regions")).all())
            # Each city's quarter arrived in its own dining fund, to the fen.
            funds = dict(
                c.execute(
                    text(
                        "SELECT a.region_id, sum(p.amount) FROM postings p"
                        " JOIN accounts a ON a.id = p.account_id"
                        " JOIN journal_entries e ON e.id = p.entry_id"
                        " WHERE a.kind = 'dining_fund' AND e.kind = 'unit_funds_in'"
                        " GROUP BY a.region_id"
                    )
                ).all()
            )
            wrong_region = c.execute(
                text(
                    "SELECT count(*) FROM people p JOIN units u ON u.id = p.unit_id"
                    " WHERE p.region_id <> u.region_id"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert levels == {"430000": "province", "431000": "city", "430100": "city", "430200": "city"}
    expected = {
        r: sum(p.subsidy for p in city.people if city.region_of_unit[p.unit_id] == r)
        for r in city.regions
    }
    assert funds == expected and all(v > 0 for v in expected.values())
    assert wrong_region == 0
    opts = RushOptions(
        url=bench_url,
        scale=TINY,
        seconds=1,
        clients=4,
        open_seconds=0,
        modes=("batch",),
        pgbench=False,
        port=18000 + os.getpid() % 1000,
        warmup=0.2,
        cities=3,
    )
    report = run_rush(opts, say=lambda _: None, city=city)
    k = report.consistency
    assert k.verify_ok, k.verify_problems
    load = report.modes[0].closed.load
    assert load.done > 0 and load.error_count == 0 and load.unexpected_refusals == 0

    # The quarter's runs go region by region; every canteen of every city is settled.
    q = run_city_quarter(dataclasses.replace(opts, quarter_payments=3000), city, lambda _: None)
    assert q.verify_ok, q.problems
    assert all(not r.error for r in q.runs), [r.error for r in q.runs]
    assert "3 regions" in q.runs[0].name
    engine = make_engine(bench_url)
    try:
        with engine.connect() as c:
            settled = dict(
                c.execute(
                    text(
                        "SELECT c.region_id, sum(s.gross_fen) FROM funding_settlements s"
                        " JOIN canteens c ON c.id = s.canteen_id GROUP BY c.region_id"
                    )
                ).all()
            )
            loaded = c.execute(
                text("SELECT coalesce(sum(amount_fen), 0) FROM payments WHERE status = 'approved'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert set(settled) == set(city.regions) and sum(settled.values()) == loaded


def test_profile_summary(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (onecard/cli.py:1);pay (onecard/pay/service.py:9);execute (sqlalchemy/x.py:3) 3\n"
        "main (onecard/cli.py:1);wait (psycopg/connection.py:4) 1\n"
    )
    p = summarise(str(raw))
    assert p.samples == 4
    assert p.areas["sqlalchemy"] == 3 and p.areas["psycopg"] == 1
    assert p.inclusive["main (onecard/cli.py:1)"] == 4


def test_offline_working_sets_weighed_on_a_tiny_city(bench_url: str) -> None:
    from onecard.bench.run import time_city_offline

    city = build_city(bench_url, TINY)
    opts = RushOptions(url=bench_url, scale=TINY, pgbench=False)
    rep = time_city_offline(opts, city, terminals=2, changes=5)
    assert len(rep.terminals) == 2
    assert len({f.terminal for f in rep.terminals}) == 2
    for f in rep.terminals:
        # Every active person of the city is accepted at a canteen that takes everyone.
        assert 0 < f.people <= 120 and f.entries >= f.people
        assert f.full_bytes > f.stored_bytes / 4 > 0 and f.server_peak_bytes > 0
        assert f.terminal_bytes > 0
        # Nothing changed: no entries sent; then exactly the five stepped people.
        assert f.unchanged_bytes < f.full_bytes / 10
        assert f.incremental_upserts == 5
        assert f.unchanged_bytes < f.incremental_bytes < f.full_bytes
        assert f.incremental_stored_bytes > 0
