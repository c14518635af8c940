"""Money runs keep their calendar (issue 14 §2): settlement only after the quarter has
ended (Beijing time), year-end clearing only after the year's Q4 settlement,
distribution only once the quarter's notices are out. Each refusal says why and changes
nothing; an override needs a reason and leaves an audit record (who, when, why) — from
the services, the CLI and the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from funding.city import BUREAU, City, build_city
from onecard.audit import records as audit
from onecard.cli import app as cli_app
from onecard.cli import exit_code_for
from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.core.errors import (
    InvalidInput,
    NoticesNotIssued,
    OneCardError,
    SettlementTooEarly,
    YearEndBeforeSettlement,
)
from onecard.funding import cli as funding_cli
from onecard.funding import distribution, settlement, year_end
from onecard.funding.notices import issue_notices
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org.actors import Actor
from onecard.web.app import create_app
from onecard.web.deps import get_actor
from web.pages import TestClient


@pytest.fixture
def city(ctx: Context) -> City:
    return build_city(ctx)


def fund(city: City, unit: str, amount: int) -> None:
    with city.ctx.db.begin() as conn:
        post(
            conn,
            region_id=city.region,
            kind="test_fund",
            key=f"cal-fund:{unit}:{amount}",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -amount),
                Leg(account_id(conn, "unit", city.units[unit], "unit_income"), amount),
            ],
            actor="test",
            booked_at=city.clock.now(),
        )


def overrides(ctx: Context) -> list[dict[str, Any]]:
    return audit.records(ctx, "calendar_override")


# --- settlement ----------------------------------------------------------------------------
def test_a_quarter_is_settled_only_once_it_has_ended_in_beijing(city: City) -> None:
    city.at(date(2026, 3, 20), 10)
    city.top_up("a1", 1000)
    city.lunch("a1", "B", date(2026, 3, 20))
    with pytest.raises(SettlementTooEarly) as exc:
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert "2026-04-01" in exc.value.message() and "2026-03-20" in exc.value.message()
    assert not settlement.period_closed(city.ctx, "2026Q1")
    # The preview shows the figures and says the real run will be refused.
    dry = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1", dry_run=True)
    assert dry.totals["gross_fen"] > 0 and any("2026-04-01" in p for p in dry.problems)
    # 23:59 on 31 March in Beijing is still March (it is 15:59 UTC)...
    city.clock.set(from_local(datetime(2026, 3, 31, 23, 59)))
    with pytest.raises(SettlementTooEarly):
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    # ... midnight in Beijing is 1 April, though it is still 31 March in UTC.
    city.clock.set(from_local(datetime(2026, 4, 1, 0, 0)))
    assert city.clock.now().date() == date(2026, 3, 31)
    res = settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    assert res.changed and res.notes == [] and overrides(city.ctx) == []
    # A repeated run of a settled quarter is not a calendar question.
    assert not settlement.settle_quarter(city.ctx, BUREAU, "2026Q1").changed


def test_the_issues_30_november_settlement_of_q4_is_refused(city: City) -> None:
    city.at(date(2026, 11, 30), 10)
    for q in ("2026Q1", "2026Q2", "2026Q3"):
        settlement.settle_quarter(city.ctx, BUREAU, q)
    with pytest.raises(SettlementTooEarly) as exc:
        settlement.settle_quarter(city.ctx, BUREAU, "2026Q4")
    assert exc.value.code == "settlement_too_early"
    assert not settlement.period_closed(city.ctx, "2026Q4")


def test_an_early_settlement_with_a_reason_runs_and_is_audited(city: City) -> None:
    city.top_up("a1", 1000)
    city.lunch("a1", "B", date(2026, 3, 20))
    city.at(date(2026, 3, 20), 13)
    for blank in ("", "   "):
        with pytest.raises(InvalidInput):
            settlement.settle_quarter(city.ctx, BUREAU, "2026Q1", override_calendar=blank)
    assert not settlement.period_closed(city.ctx, "2026Q1")
    res = settlement.settle_quarter(
        city.ctx, BUREAU, "2026Q1", override_calendar="审计要求提前结账  （局长批示）"
    )
    assert res.changed and settlement.period_closed(city.ctx, "2026Q1")
    assert any("审计要求提前结账 （局长批示）" in n for n in res.notes)
    [rec] = overrides(city.ctx)
    assert rec["actor"] == BUREAU.label and rec["kind"] == "money_run"
    assert rec["after"]["reason"] == "审计要求提前结账 （局长批示）"
    assert rec["after"]["rule"] == "settlement_too_early" and rec["after"]["run"] == "settle"
    assert rec["at_local"].startswith("2026-03-20T13:00")


def test_an_override_is_not_recorded_when_the_calendar_has_no_objection(city: City) -> None:
    city.at(date(2026, 4, 2))
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1", override_calendar="不需要")
    assert overrides(city.ctx) == []


# --- year end ---------------------------------------------------------------------------------
def test_year_end_waits_for_the_q4_settlement(city: City) -> None:
    fund(city, "A", 105000)
    city.at(date(2026, 1, 10))
    issue_notices(city.ctx, BUREAU, "2026Q1")
    distribution.distribute(city.ctx, BUREAU, city.units["A"], "2026Q1")
    city.at(date(2026, 12, 31), 18)
    with pytest.raises(YearEndBeforeSettlement) as exc:
        year_end.clear_year(city.ctx, BUREAU, 2026)
    assert "2026Q4" in exc.value.message()
    assert city.purse("a1")[0] == 60000
    city.at(date(2027, 1, 2), 9)
    city.settle_year(2026)
    res = year_end.clear_year(city.ctx, BUREAU, 2026)
    assert res.changed and city.purse("a1")[0] == 0 and overrides(city.ctx) == []


def test_year_end_before_the_settlement_with_a_reason(city: City) -> None:
    fund(city, "A", 105000)
    city.at(date(2026, 1, 10))
    issue_notices(city.ctx, BUREAU, "2026Q1")
    distribution.distribute(city.ctx, BUREAU, city.units["A"], "2026Q1")
    city.at(date(2026, 12, 31), 18)
    res = year_end.clear_year(city.ctx, BUREAU, 2026, override_calendar="系统迁移，提前清零")
    assert res.changed and city.purse("a1")[0] == 0
    [rec] = overrides(city.ctx)
    assert rec["after"]["rule"] == "year_end_before_settlement"
    assert rec["after"]["reason"] == "系统迁移，提前清零"


# --- distribution -------------------------------------------------------------------------------
def test_distribution_waits_for_the_notices(city: City) -> None:
    fund(city, "A", 105000)
    city.at(date(2026, 1, 5))
    with pytest.raises(NoticesNotIssued) as exc:
        distribution.distribute(city.ctx, BUREAU, city.units["A"], "2026Q1")
    assert "2026Q1" in exc.value.message() and "市财政局" in exc.value.message()
    with pytest.raises(NoticesNotIssued):
        distribution.distribute_all(city.ctx, BUREAU, "2026Q1")
    assert city.purse("a1") == (0, 0)
    dry = distribution.distribute_all(city.ctx, BUREAU, "2026Q1", dry_run=True)
    assert any("缴款通知" in p for p in dry[0].problems)
    issue_notices(city.ctx, BUREAU, "2026Q1")
    res = distribution.distribute(city.ctx, BUREAU, city.units["A"], "2026Q1")
    assert res.changed and city.purse("a1")[0] == 60000


def test_distribution_before_the_notices_with_a_reason_is_recorded_once(city: City) -> None:
    fund(city, "A", 105000)
    fund(city, "B", 120000)
    city.at(date(2026, 1, 5))
    runs = distribution.distribute_all(city.ctx, BUREAU, "2026Q1", override_calendar="春节前发放")
    assert [r.changed for r in runs][:2] == [True, True]
    assert city.purse("a1")[0] == 60000 and city.purse("b1")[0] == 60000
    [rec] = overrides(city.ctx)
    assert rec["after"]["rule"] == "notices_not_issued" and rec["after"]["reason"] == "春节前发放"


# --- the CLI and the API ---------------------------------------------------------------------------
def cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli_app, ["funding", *args])
    if isinstance(res.exception, OneCardError):
        return exit_code_for(res.exception), str(res.exception)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def test_the_cli_refuses_with_exit_5_and_overrides_with_a_reason(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(funding_cli, "context_factory", lambda _url: city.ctx)
    monkeypatch.setenv("COLUMNS", "200")
    city.at(date(2026, 3, 20))
    code, out = cli("settle", "2026Q1")
    assert code == 5 and "2026Q1" in out
    code, out = cli("settle", "2026Q1", "--dry-run")
    assert code == 0 and "季度结束后才能结算" in out and "汇总" in out
    code, out = cli("year-end", "2026")
    assert code == 5
    code, out = cli("distribute", "2026Q1")
    assert code == 5
    code, out = cli("settle", "2026Q1", "--override-calendar", "  ")
    assert code == 2 and not settlement.period_closed(city.ctx, "2026Q1")
    code, out = cli("settle", "2026Q1", "--override-calendar", "演练：提前结账")
    assert code == 0 and "已强制执行" in out and "演练：提前结账" in out
    assert overrides(city.ctx)[0]["after"]["reason"] == "演练：提前结账"


@pytest.fixture
def api(ctx: Context, city: City) -> Iterator[TestClient]:
    app = create_app(ctx)
    who: list[Actor] = [BUREAU]
    app.dependency_overrides[get_actor] = lambda: who[0]
    with TestClient(app) as c:
        yield c


def test_the_api_refuses_with_the_documented_code_and_takes_an_override(
    city: City, api: TestClient
) -> None:
    api_ = "/api/v1/funding"
    city.at(date(2026, 3, 20))
    early = api.post(f"{api_}/settlements", json={"quarter": "2026Q1"})
    assert early.status_code == 409
    err = early.json()["error"]
    assert err["code"] == "settlement_too_early" and "2026-04-01" in err["message"]
    eng = api.post(
        f"{api_}/settlements", json={"quarter": "2026Q1"}, headers={"Accept-Language": "en"}
    )
    assert "settle after the quarter ends" in eng.json()["error"]["message"]
    r = api.post(f"{api_}/year-end", json={"year": 2026})
    assert r.status_code == 409 and r.json()["error"]["code"] == "year_end_before_settlement"
    r = api.post(f"{api_}/distributions", json={"quarter": "2026Q1"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "notices_not_issued"
    r = api.post(f"{api_}/settlements", json={"quarter": "2026Q1", "override_calendar": ""})
    assert r.status_code == 422
    r = api.post(f"{api_}/settlements", json={"quarter": "2026Q1", "override_calendar": "年度审计"})
    assert r.status_code == 200 and r.json()["changed"] and r.json()["notes"]
    rec = api.get(f"{api_}/audit?action=calendar_override").json()
    assert [x["after"]["reason"] for x in rec] == ["年度审计"]
