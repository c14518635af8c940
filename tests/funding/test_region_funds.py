"""A city with a county that keeps its own dining fund (issue 17 §1): the county's
notices, receipts, distribution, settlement and year end touch only the county's units,
people, canteens and system accounts; the city's runs never touch the county; closing
the county's quarter leaves the city's open; the switch refuses to split money already
held. The ledger is verified after each step (and by the fixture after the test)."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import select

from funding.city import BUREAU, OPERATOR_ACCOUNT, City, build_city
from onecard.audit.models import AuditEvent
from onecard.channels.bank import DINING_FUND_ACCOUNT
from onecard.core.context import Context
from onecard.core.errors import (
    FundSharedAbove,
    InvalidInput,
    StateConflict,
    YearEndBeforeSettlement,
)
from onecard.funding import (
    distribution,
    notices,
    payouts,
    regions,
    settlement,
    summary,
    year_end,
)
from onecard.ledger.models import Account, JournalEntry
from onecard.ledger.service import (
    Leg,
    account_id,
    derived_balance,
    is_closed,
    post,
    system_account,
)
from onecard.ledger.verify import verify
from onecard.org import builders as b
from onecard.pay.batch import decide_batch
from onecard.pay.batch_worker import _Item
from onecard.pay.cards import issue_card_conn
from onecard.pay.service import PaymentRequest, TerminalIdentity, decide_and_record

COUNTY = "431021"
K_ACCOUNT = "43102100000000000201"


def add_county(city: City) -> int:
    """桂阳县 under the city: unit K 县财政局 with an outsourced canteen, two staff."""
    with city.ctx.db.begin() as conn:
        county = b.create_region(conn, COUNTY, "桂阳县", "county", city.region)
        city.units["K"] = b.create_unit(
            conn, county, "U101", "县财政局", default_standard_fen=30000, bank_account=K_ACCOUNT
        )
        city.unit_codes["K"] = "U101"
        cid = b.create_canteen(
            conn,
            county,
            city.units["K"],
            "C101",
            "县财政局食堂",
            operation="outsourced",
            operator_name="桂阳餐饮有限公司",
            operator_bank_account=OPERATOR_ACCOUNT,
        )
        city.canteens["K"] = cid
        b.add_meal_period(
            conn, cid, "lunch", "午餐", time(11, 30), time(13, 30), {"own": 200, "visitor": 400}
        )
        tid, _ = b.register_terminal(conn, county, cid, "T-K1", key="key-K1")
        city.terminals["K"] = TerminalIdentity(tid, "T-K1", county, cid)
        for key, name in (("k1", "陈县"), ("k2", "周县")):
            pid = b.create_person(
                conn,
                county,
                city.units["K"],
                f"S{key}",
                name,
                bank_card_no=f"62170000{key}",
                joined_on=date(2025, 1, 1),
            )
            city.people[key] = pid
            city.cards[key] = issue_card_conn(conn, city.ctx, pid)
    city.bank.open_outside_account(K_ACCOUNT, "县财政局", 10_000_000)
    for key in ("k1", "k2"):
        city.bank.open_outside_account(f"62170000{key}", key, 100_000)
    return county


@pytest.fixture
def city(ctx: Context) -> City:
    return build_city(ctx)


def county_system(city: City, county: int, kind: str) -> int:
    with city.ctx.db.read() as conn:
        return derived_balance(conn, system_account(conn, kind, county))


def closed(city: City, quarter: str, region: int | None = None) -> bool:
    with city.ctx.db.read() as conn:
        return is_closed(conn, quarter, region)


def entry_period(city: City, txn: str) -> str:
    with city.ctx.db.read() as conn:
        return str(
            conn.execute(
                select(JournalEntry.period).where(JournalEntry.idempotency_key.like(f"%{txn}"))
            ).scalar_one()
        )


def test_a_county_with_its_own_fund_runs_its_own_year(city: City) -> None:
    county = add_county(city)
    city.at(date(2026, 1, 2))
    # Before the switch the county shares the city's fund: a run for it is refused.
    with pytest.raises(FundSharedAbove) as refused:
        notices.issue_notices(city.ctx, BUREAU, "2026Q1", region=COUNTY)
    # Both regions by name and code, in either language.
    assert "区域 桂阳县 (431021) 不单独核算经费" in refused.value.message()
    assert "Region 桂阳县 (431021) has no fund of its own" in refused.value.message("en")
    switched = regions.set_own_fund(city.ctx, BUREAU, COUNTY)
    assert switched.changed and switched.totals["system_accounts"] == 6
    assert not regions.set_own_fund(city.ctx, BUREAU, COUNTY).changed  # already set
    with city.ctx.db.read() as conn:
        assert conn.execute(
            select(AuditEvent.action).where(AuditEvent.action == "region_fund")
        ).scalar()
        mine = conn.execute(
            select(Account.owner_id).where(
                Account.owner_kind == "system", Account.region_id == county
            )
        ).scalars()
        assert set(mine) == {county}

    # Notices: each fund region's own units.
    city_notices = notices.issue_notices(city.ctx, BUREAU, "2026Q1")
    assert {ln["unit"] for ln in city_notices.lines} == {"市财政局", "市人民医院", "市档案馆"}
    county_notices = notices.issue_notices(city.ctx, BUREAU, "2026Q1", region=COUNTY)
    assert [ln["unit"] for ln in county_notices.lines] == ["县财政局"]
    assert county_notices.totals["amount_due_fen"] == 60000
    assert county_notices.scope == f"2026Q1 [{COUNTY}]"
    assert [s["unit"] for s in notices.notice_status(city.ctx, "2026Q1", COUNTY)] == ["县财政局"]
    # A preview's "before" is the same fund region's previous quarter (1 unit, not 4).
    q2 = notices.issue_notices(city.ctx, BUREAU, "2026Q2", region=COUNTY, dry_run=True)
    rows = summary.summarise(city.ctx, "notices", "2026Q2", [q2], COUNTY)
    assert [(r["key"], r["now"], r["before"]) for r in rows][:2] == [
        ("units", 1, 1),
        ("people", 2, 2),
    ]

    # Receipts: the county's credit is booked by the county's run only.
    city.at(date(2026, 1, 8), 10)
    for u, amt in (("A", 105000), ("B", 120000), ("C", 30000)):
        city.unit_pays(u, amt, f"JF-{city.unit_codes[u]}-2026Q1")
    city.bank.credit_from_outside(K_ACCOUNT, DINING_FUND_ACCOUNT, 60000, "JF-U101-2026Q1")
    got = notices.import_receipts(city.ctx, BUREAU, date(2026, 1, 8))
    assert got.totals["new"] == 3 and any("其他经费区域" in p for p in got.problems)
    got = notices.import_receipts(city.ctx, BUREAU, date(2026, 1, 8), region=COUNTY)
    assert got.totals["new"] == 1 and got.totals["amount_fen"] == 60000
    assert county_system(city, county, "dining_fund") == 60000
    assert city.system("dining_fund") == 255000
    assert notices.transfer_to_income(city.ctx, BUREAU).totals["receipts"] == 3
    assert city.unit_account("K", "unit_income") == 0
    moved = notices.transfer_to_income(city.ctx, BUREAU, region=COUNTY)
    assert moved.totals == {"receipts": 1, "amount_fen": 60000}
    city.deliver()
    assert city.unit_account("K", "unit_income") == 60000
    assert county_system(city, county, "dining_fund") == 0
    city.verified()

    # Distribution: the city's run pays city people only, the county's the county's.
    city_runs = distribution.distribute_all(city.ctx, BUREAU, "2026Q1")
    assert len(city_runs) == 3 and city.purse("k1") == (0, 0)
    county_runs = distribution.distribute_all(city.ctx, BUREAU, "2026Q1", region=COUNTY)
    assert [r.totals["amount_fen"] for r in county_runs] == [60000]
    assert city.purse("k1") == (30000, 0) and city.purse("a1")[0] == 60000
    city.verified()

    # Meals in Q1, in each region's canteens.
    for day in (date(2026, 3, 2), date(2026, 3, 3)):
        city.lunch("k1", "K", day)
        city.lunch("a1", "A", day)
        city.lunch("b1", "B", day)

    # The county settles Q1 first: its quarter closes, the city's stays open.
    city.at(date(2026, 4, 1))
    fee_before = city.system("fee_income")
    st = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1", region=COUNTY)
    assert [ln["canteen"] for ln in st.lines] == ["县财政局食堂"]
    assert st.totals["gross_fen"] == 400 and st.totals["fee_fen"] == 2  # 0.5 % of 400
    assert county_system(city, county, "fee_income") == 2
    assert city.system("fee_income") == fee_before
    assert closed(city, "2026Q1", county) and not closed(city, "2026Q1")
    city.verified()

    # A late payment dated in Q1: the city's books it in Q1, the county's in Q2.
    city.at(date(2026, 3, 31), 12)
    city.pay("a2", "A", meal="lunch")
    assert entry_period(city, f"t{city.txn}") == "2026Q1"
    city.pay("k2", "K", meal="lunch")
    assert entry_period(city, f"t{city.txn}") == "2026Q2"
    if city.ctx.db.is_postgres:
        # The batch path too: the batch writes its first payment's period (the city's
        # Q1); the county's payment is left to the single path, which books it in Q2.
        items = [
            _Item(city.terminals["A"], PaymentRequest("b-city", city.cards["a2"], amount_fen=100)),
            _Item(city.terminals["K"], PaymentRequest("b-cty", city.cards["k2"], amount_fen=100)),
        ]
        with city.ctx.db.begin() as conn:
            got = decide_batch(conn, city.ctx, items)
            assert got[0] is not None and got[1] is None
            decide_and_record(conn, city.ctx, items[1].terminal, items[1].req)
        assert entry_period(city, "b-city") == "2026Q1"
        assert entry_period(city, "b-cty") == "2026Q2"

    # The city's settlement: its canteens only, its fee income, its period.
    city.at(date(2026, 4, 2))
    st = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert {ln["canteen"] for ln in st.lines} == {"财政局机关食堂", "人民医院职工食堂"}
    assert county_system(city, county, "fee_income") == 2
    assert closed(city, "2026Q1")
    city.verified()

    # The county closes its year; the city has not: the city's year end is refused.
    city.at(date(2027, 1, 2))
    for q in ("2026Q2", "2026Q3", "2026Q4"):
        settlement.settle_quarter(city.ctx, BUREAU, q, region=COUNTY)
    with pytest.raises(YearEndBeforeSettlement):
        year_end.clear_year(city.ctx, BUREAU, 2026)
    cleared = year_end.clear_year(city.ctx, BUREAU, 2026, region=COUNTY)
    assert {ln["name"] for ln in cleared.lines} == {"陈县", "周县"}
    assert city.purse("k1")[0] == 0 and city.purse("a1")[0] > 0
    returned = payouts.return_to_units(city.ctx, BUREAU, region=COUNTY, dry_run=True)
    assert [ln["unit"] for ln in returned.lines] == ["县财政局"]
    assert not closed(city, "2026Q2")
    city.verified()


def test_the_switch_refuses_to_split_money_already_held(city: City) -> None:
    add_county(city)
    with pytest.raises(StateConflict):  # the top always keeps its own fund
        regions.set_own_fund(city.ctx, BUREAU, "431000")
    city.at(date(2026, 1, 5))
    city.top_up("k1", 5000)  # the county still shares the city's fund
    with pytest.raises(StateConflict, match="未结账期间"):
        regions.set_own_fund(city.ctx, BUREAU, COUNTY)
    with city.ctx.db.read() as conn:
        assert (
            conn.execute(
                select(Account.id).where(Account.owner_kind == "system", Account.owner_id != 0)
            ).first()
            is None
        )


def test_a_switch_after_closed_quarters_carries_the_calendar_on(city: City) -> None:
    county = add_county(city)
    city.at(date(2026, 4, 1))
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    regions.set_own_fund(city.ctx, BUREAU, COUNTY)
    assert closed(city, "2026Q1", county) and not closed(city, "2026Q2", county)
    # Giving the fund back: nothing booked in the county's own accounts yet.
    assert regions.set_own_fund(city.ctx, BUREAU, COUNTY, own=False).changed
    with pytest.raises(InvalidInput):
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q2", region=COUNTY)


def test_top_ups_and_verify_keep_each_fund_region_apart(city: City) -> None:
    county = add_county(city)
    regions.set_own_fund(city.ctx, BUREAU, COUNTY)
    city.at(date(2026, 1, 5))
    before = city.system("bank_clearing")
    city.top_up("k1", 5000)
    assert county_system(city, county, "bank_clearing") == -5000
    assert city.system("bank_clearing") == before
    city.verified()

    def probe(kind: str) -> list[str]:
        """Post an entry from the city's bank clearing to the county's, verify inside the
        same transaction, roll back."""
        with city.ctx.db.engine.connect() as conn:
            tx = conn.begin()
            post(
                conn,
                region_id=city.region,
                kind=kind,
                key=f"probe:{kind}",
                legs=[
                    Leg(system_account(conn, "bank_clearing"), -100),
                    Leg(system_account(conn, "bank_clearing", county), 100),
                ],
                actor="test",
                booked_at=city.clock.now(),
            )
            problems = verify(conn).problems
            tx.rollback()
        return problems

    wrong = probe("test_fund")
    assert any("fund region" in p for p in wrong), wrong
    assert probe("interregion_clearing") == []
    with city.ctx.db.read() as conn:
        assert account_id(conn, "system", county, "dining_fund")


def test_the_switch_and_a_region_run_from_the_cli_and_the_api(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from typer.testing import CliRunner

    from onecard import cli_kit
    from onecard.cli import app, exit_code_for
    from onecard.core.errors import OneCardError
    from onecard.web.app import create_app
    from onecard.web.deps import get_actor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    add_county(city)
    monkeypatch.setattr(cli_kit, "context_factory", lambda _url: city.ctx)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, ["funding", *args])
        if isinstance(res.exception, OneCardError):
            return exit_code_for(res.exception), res.output
        return res.exit_code, res.output

    city.at(date(2026, 1, 2))
    code, _out = run("notices", "2026Q1", "--region", COUNTY)
    assert code != 0  # the county has no fund of its own yet
    code, out = run("region-fund", COUNTY, "--own")
    assert code == 0 and "完成" in out
    code, out = run("notices", "2026Q1", "--region", COUNTY)
    assert code == 0 and "JF-U101-2026Q1" in out and "JF-U001" not in out
    code, out = run("notices", "2026Q1")
    assert code == 0 and "JF-U001-2026Q1" in out and "JF-U101" not in out
    code, _out = run("region-fund", "431000", "--shared")
    assert code == 5  # the top region always keeps its own fund

    web = create_app(city.ctx)
    web.dependency_overrides[get_actor] = lambda: BUREAU
    client = TestClient(web)
    api = "/api/v1/funding"
    got = client.post(f"{api}/region-funds", json={"region": COUNTY, "own": True})
    assert got.status_code == 200 and got.json()["changed"] is False
    got = client.post(f"{api}/region-funds", json={"region": "431000", "own": False})
    assert got.status_code == 409 and got.json()["error"]["code"] == "state_conflict"
    got = client.post(f"{api}/region-funds", json={"region": COUNTY, "extra": 1})
    assert got.status_code == 422
    rows = client.get(f"{api}/notices/2026Q1", params={"region": COUNTY}).json()
    assert [r["unit"] for r in rows] == ["县财政局"]
    dry = client.post(
        f"{api}/notices", json={"quarter": "2026Q2", "dry_run": True, "region": COUNTY}
    )
    assert dry.status_code == 200 and [ln["unit"] for ln in dry.json()["lines"]] == ["县财政局"]
    assert dry.json()["scope"] == f"2026Q2 [{COUNTY}]"


def test_a_county_bureau_runs_its_own_funds_and_never_the_citys(city: City) -> None:
    """A bureau admin appointed for the county (a regional grant) runs the county's
    money; the city's runs, and any run it is not appointed for, are 403 with nothing
    written."""
    from onecard.core.errors import Forbidden
    from onecard.org.actors import Actor

    county = add_county(city)
    city.at(date(2026, 1, 2))
    regions.set_own_fund(city.ctx, BUREAU, COUNTY)
    with city.ctx.db.begin() as conn:
        pid = b.create_person(conn, county, city.units["K"], "SK9", "县局管理员")
        b.grant_role(conn, pid, "bureau_admin", region_id=county)
        clerk = Actor.load(conn, pid, "县局管理员", city.units["K"])
    before = count_entries(city)
    with pytest.raises(Forbidden):
        notices.issue_notices(city.ctx, clerk, "2026Q1")  # the city's (the top's) run
    with pytest.raises(Forbidden):
        settlement.settle_quarter(city.ctx, clerk, "2026Q1")
    with pytest.raises(Forbidden):
        regions.set_own_fund(city.ctx, clerk, COUNTY, own=False)  # the switch: the city's
    assert count_entries(city) == before
    got = notices.issue_notices(city.ctx, clerk, "2026Q1", region=COUNTY)
    assert got.changed and got.scope == f"2026Q1 [{COUNTY}]"
    city.verified()


def count_entries(city: City) -> int:
    with city.ctx.db.read() as conn:
        return len(conn.execute(select(JournalEntry.id)).all())
