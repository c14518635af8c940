"""The bureau's funding pages per fund region (issue 17 §1): the top bureau chooses a
county with its own fund on /bureau/runs, previews and runs its distribution and its
settlement there (the preview shows the county's figures, the city's stay untouched);
a county's bureau sees only the fund regions of its subtree on the runs, notices and
settlements pages and is refused another county's (403 from the page, and from the
service it would reach), with nothing written and the ledger verified."""

from __future__ import annotations

import re
from datetime import datetime, time

import pytest
from sqlalchemy import func, select, update

from onecard.audit.models import AuditEvent
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.core.errors import Forbidden
from onecard.funding import distribution, notices, regions, settlement
from onecard.ledger.models import JournalEntry
from onecard.ledger.service import Leg, account_id, derived_balance, post, system_account
from onecard.ledger.verify import verify
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.pay.cards import issue_card_conn
from onecard.pay.service import PaymentRequest, TerminalIdentity, pay
from web.pages import BUREAU_TOTP, Staff, TestClient, sign_in
from world import World

BUREAU = Actor.system("bureau")
GUIYANG, YIZHANG = "431021", "431022"


def _counties(ctx: Context, w: World) -> dict[str, int]:
    """Two counties under the city, each keeping its own fund: a unit with one person in
    each, a canteen in 桂阳县, and 桂阳县's bureau admin ``kb``."""
    ids: dict[str, int] = {}
    with ctx.db.begin() as conn:
        for code, name, unit_code, unit, person in (
            (GUIYANG, "桂阳县", "U101", "桂阳县财政局", "k1"),
            (YIZHANG, "宜章县", "U201", "宜章县财政局", "y1"),
        ):
            rid = b.create_region(conn, code, name, "county", w.region)
            ids[code] = rid
            w.units[unit_code] = b.create_unit(
                conn, rid, unit_code, unit, default_standard_fen=30000
            )
            w.people[person] = b.create_person(
                conn, rid, w.units[unit_code], f"S{person}", f"{name}职员"
            )
            w.cards[person] = issue_card_conn(conn, ctx, w.people[person])
        cid = b.create_canteen(
            conn,
            ids[GUIYANG],
            w.units["U101"],
            "C101",
            "桂阳县财政局食堂",
            operation="outsourced",
            operator_name="桂阳餐饮有限公司",
            operator_bank_account="6217000000000000009",
        )
        w.canteens["K"] = cid
        b.add_meal_period(conn, cid, "lunch", "午餐", time(11), time(13, 30), {"own": 200})
        tid, _ = b.register_terminal(conn, ids[GUIYANG], cid, "T-K1", key="key-K1")
        w.terminals["K"] = TerminalIdentity(tid, "T-K1", ids[GUIYANG], cid)
        w.people["kb"] = b.create_person(conn, ids[GUIYANG], w.units["U101"], "Skb", "县局管理员")
        b.grant_role(conn, w.people["kb"], "bureau_admin", region_id=ids[GUIYANG])
        hashed = conn.execute(
            select(Person.password_hash).where(Person.id == w.people["bu"])
        ).scalar_one()
        conn.execute(
            update(Person)
            .where(Person.id == w.people["kb"])
            .values(password_hash=hashed, must_change_password=False, totp_secret=BUREAU_TOTP)
        )
    for code in (GUIYANG, YIZHANG):
        assert regions.set_own_fund(ctx, BUREAU, code).changed
    # Each county's quarter: notices out, and its unit's payment passed on to the unit
    # (booked as the transfer books it: the county's own system accounts).
    for code, unit in ((GUIYANG, "U101"), (YIZHANG, "U201")):
        notices.issue_notices(ctx, BUREAU, "2026Q1", region=code)
        with ctx.db.begin() as conn:
            post(
                conn,
                region_id=ids[code],
                kind="test_fund",
                key=f"fund:{unit}",
                legs=[
                    Leg(system_account(conn, "bank_clearing", ids[code]), -60000),
                    Leg(account_id(conn, "unit", w.units[unit], "unit_income"), 60000),
                ],
                actor="test",
                booked_at=ctx.clock.now(),
            )
    return ids


def _verified(ctx: Context) -> None:
    with ctx.db.read() as conn:
        report = verify(conn)
    assert report.ok, report.problems[:5]


def _subsidy(ctx: Context, w: World, person: str) -> int:
    with ctx.db.read() as conn:
        return derived_balance(conn, account_id(conn, "person", w.people[person], "subsidy"))


def _written(ctx: Context) -> tuple[int, int]:
    with ctx.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one(),
            conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
        )


def _options(html: str) -> list[str]:
    found = re.search(r'<select name="region" id="region-select">(.*?)</select>', html, re.S)
    assert found, "no region selector"
    return re.findall(r'<option value="([^"]+)"', found.group(1))


def _shown(html: str) -> str:
    found = re.search(r'id="fund-region" data-code="([^"]+)"', html)
    assert found
    return found.group(1)


def test_the_top_bureau_runs_a_countys_distribution_and_settlement_from_the_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _counties(ctx, w)
    a1_before = _subsidy(ctx, w, "a1")
    token, _ = sign_in(client, ctx, staff["bu"])
    page = client.get("/bureau/runs")
    assert page.status_code == 200
    # Every fund region, the top region first (and shown by default).
    assert _options(page.text) == ["431000", GUIYANG, YIZHANG] and _shown(page.text) == "431000"
    page = client.get(f"/bureau/runs?region={GUIYANG}")
    assert _shown(page.text) == GUIYANG and "桂阳县" in page.text
    form = page.text.split('id="distribute-form"')[1].split("</form>")[0]
    assert f'name="region" value="{GUIYANG}"' in form
    assert "桂阳县财政局" in form and "宜章县财政局" not in form and "市财政局" not in form

    data = {"csrf_token": token, "quarter": "2026Q1", "region": GUIYANG}
    preview = client.post("/bureau/runs/distribute", data=data)
    assert preview.status_code == 200, preview.text
    outcome = preview.text.split('id="run-outcome"')[1].split("</section>")[0]
    # The county's unit and figures (one person, 300.00 yuan), not the city's units.
    assert "桂阳县财政局" in outcome and "300.00" in outcome
    assert "市财政局" not in outcome.replace("桂阳县财政局", "")
    assert "宜章县" not in outcome and 'id="calendar-objection"' not in outcome
    assert f'name="region" value="{GUIYANG}"' in outcome  # the confirmation repeats it
    assert _subsidy(ctx, w, "k1") == 0

    done = client.post("/bureau/runs/distribute", data={**data, "confirm": "yes"})
    assert done.status_code == 200 and "已执行" in done.text
    assert _subsidy(ctx, w, "k1") == 30000
    assert _subsidy(ctx, w, "y1") == 0 and _subsidy(ctx, w, "a1") == a1_before
    history = done.text.split('id="run-history"')[1]
    assert f'data-region="{GUIYANG}">桂阳县<' in history
    # The single-unit run refuses a unit of another fund region.
    other = client.post("/bureau/runs/distribute", data={**data, "unit_id": str(w.units["U201"])})
    assert other.status_code == 422 and _subsidy(ctx, w, "y1") == 0

    # A lunch in the county's canteen, then its settlement (the quarter has ended).
    assert pay(ctx, w.terminals["K"], PaymentRequest("k-1", w.cards["k1"], meal="lunch")).approved
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 4, 1, 9)))
    token, _ = sign_in(client, ctx, staff["bu"])  # a new day, a new session
    settle = {"csrf_token": token, "quarter": "2026Q1", "region": GUIYANG}
    preview = client.post("/bureau/runs/settle", data=settle)
    outcome = preview.text.split('id="run-outcome"')[1].split("</section>")[0]
    assert "桂阳县财政局食堂" in outcome and "财政局机关食堂" not in outcome
    assert "2.00" in outcome and "0.01" in outcome  # gross 2.00 yuan, fee 0.5 % of it
    done = client.post("/bureau/runs/settle", data={**settle, "confirm": "yes"})
    assert done.status_code == 200 and "已执行" in done.text
    assert settlement.period_closed(ctx, "2026Q1", GUIYANG)
    assert not settlement.period_closed(ctx, "2026Q1")
    assert not settlement.period_closed(ctx, "2026Q1", YIZHANG)

    listed = client.get(f"/bureau/settlements?quarter=2026Q1&region={GUIYANG}")
    assert listed.status_code == 200 and _shown(listed.text) == GUIYANG
    assert "桂阳县财政局食堂" in listed.text and "已关账" in listed.text
    city = client.get("/bureau/settlements?quarter=2026Q1")
    assert _shown(city.text) == "431000" and "桂阳县财政局食堂" not in city.text
    statement = client.get(f"/bureau/settlements/{w.canteens['K']}.xlsx?quarter=2026Q1")
    assert statement.status_code == 200
    notice_page = client.get(f"/bureau/notices?quarter=2026Q1&region={YIZHANG}")
    assert notice_page.status_code == 200 and "宜章县财政局" in notice_page.text
    assert "桂阳县财政局" not in notice_page.text
    _verified(ctx)


def test_a_county_bureau_sees_only_its_fund_and_is_refused_another(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _counties(ctx, w)
    # The city has run something: the county's bureau does not see it in its history.
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    token, _ = sign_in(client, ctx, "Skb")
    page = client.get("/bureau/runs")
    assert page.status_code == 200
    assert _options(page.text) == [GUIYANG] and _shown(page.text) == GUIYANG
    assert 'id="distribute-form"' in page.text and 'href="/bureau/runs"' in page.text
    history = page.text.split('id="run-history"')[1]
    assert f'data-region="{GUIYANG}"' in history and 'data-region="431000"' not in history
    notice_page = client.get("/bureau/notices?quarter=2026Q1")
    assert notice_page.status_code == 200 and "桂阳县财政局" in notice_page.text
    assert "宜章县财政局" not in notice_page.text and "市财政局</td>" not in notice_page.text
    assert "/assign" not in notice_page.text  # assigning receipts is the city bureau's
    assert client.get("/bureau/settlements").status_code == 200

    before = _written(ctx)
    for path in ("/bureau/runs", "/bureau/notices", "/bureau/settlements"):
        for code in (YIZHANG, "431000"):
            assert client.get(f"{path}?region={code}").status_code == 403, (path, code)
    assert client.get(f"/bureau/settlements/{w.canteens['A']}.pdf").status_code == 403
    for kind in ("notices", "distribute", "settle", "transfer"):
        for confirm in ("", "yes"):
            refused = client.post(
                f"/bureau/runs/{kind}",
                data={
                    "csrf_token": token,
                    "quarter": "2026Q1",
                    "region": YIZHANG,
                    "confirm": confirm,
                },
            )
            assert refused.status_code == 403, (kind, refused.status_code)
    # Its own region's form naming another county's unit: refused too.
    refused = client.post(
        "/bureau/runs/distribute",
        data={
            "csrf_token": token,
            "quarter": "2026Q1",
            "region": GUIYANG,
            "unit_id": str(w.units["U201"]),
            "confirm": "yes",
        },
    )
    assert refused.status_code == 422
    # The services check again.
    with ctx.db.read() as conn:
        county = Actor.load(conn, w.people["kb"], "person:kb", w.units["U101"])
    with pytest.raises(Forbidden):
        distribution.distribute(ctx, county, w.units["U201"], "2026Q1")
    with pytest.raises(Forbidden):
        distribution.distribute_all(ctx, county, "2026Q1", region=YIZHANG)
    with pytest.raises(Forbidden):
        settlement.settle_quarter(ctx, county, "2026Q1", region=YIZHANG, dry_run=True)
    assert _written(ctx) == before and _subsidy(ctx, w, "y1") == 0

    # Its own county it runs: the unit alone, from the page.
    data = {"csrf_token": token, "quarter": "2026Q1", "region": GUIYANG}
    unit = {**data, "unit_id": str(w.units["U101"])}
    assert client.post("/bureau/runs/distribute", data=unit).status_code == 200
    done = client.post("/bureau/runs/distribute", data={**unit, "confirm": "yes"})
    assert done.status_code == 200 and "已执行" in done.text
    assert _subsidy(ctx, w, "k1") == 30000 and _subsidy(ctx, w, "y1") == 0
    _verified(ctx)


def test_previews_show_the_chosen_regions_figures(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _counties(ctx, w)
    token, _ = sign_in(client, ctx, staff["bu"])
    base = {"csrf_token": token, "quarter": "2026Q2"}
    county = client.post("/bureau/runs/notices", data={**base, "region": YIZHANG})
    outcome = county.text.split('id="run-outcome"')[1].split("</section>")[0]
    assert "宜章县财政局" in outcome and "300.00" in outcome and f"[{YIZHANG}]" in outcome
    assert "桂阳县" not in outcome and "市财政局" not in outcome.replace("宜章县财政局", "")
    city = client.post("/bureau/runs/notices", data=base)
    outcome = city.text.split('id="run-outcome"')[1].split("</section>")[0]
    assert "市财政局" in outcome and "县财政局" not in outcome
    # A year end previewed for a county before its Q4 closed: the calendar objects for
    # that county (and the override form is offered).
    year = client.post(
        "/bureau/runs/year_end", data={"csrf_token": token, "year": "2026", "region": GUIYANG}
    )
    assert year.status_code == 200 and 'id="calendar-objection"' in year.text
    assert 'name="override_reason"' in year.text
    # In English: the selector's label and the region's name.
    en = client.get(f"/bureau/runs?region={YIZHANG}&lang=en").text
    assert "Fund region" in en and "宜章县" in en and "经费区域" not in en
    # Unknown or fund-less regions are said so, not run.
    assert client.get("/bureau/runs?region=999999").status_code == 404
    with ctx.db.begin() as conn:
        b.create_region(conn, "431024", "嘉禾县", "county", w.region)  # the city's fund
    shares = client.get("/bureau/runs?region=431024")
    assert shares.status_code == 422 and "431000" in shares.text
    assert "431024" not in _options(client.get("/bureau/runs").text)


def test_a_countys_history_keeps_its_runs_behind_the_citys_many(
    ctx: Context, w: World, staff: Staff
) -> None:
    """The history reads the latest runs the reader may see: a county's old run is not
    pushed out of its window by more than ``HISTORY_WINDOW`` runs of the city."""
    from onecard.audit import records
    from onecard.funding import queries as funding_queries

    _counties(ctx, w)
    with ctx.db.begin() as conn:
        many = [("issue_notices", f"2025Q{n % 4 + 1}", {}) for n in range(501)]
        records.record_many(conn, ctx, BUREAU, many)
    with ctx.db.read() as conn:
        kb = Actor.load(conn, w.people["kb"], "kb", w.units["U101"])
    fund = {f.id: f for f in regions.choices(ctx, kb)}
    mine = funding_queries.run_history(ctx, fund, reader=kb)
    assert [r["region_code"] for r in mine] == [GUIYANG]
    assert funding_queries.run_history(ctx, fund) == []  # the deployment's window: the city's


def test_a_township_sharing_its_countys_fund_is_told_who_runs_its_money(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from web.pages import add_role_holder

    ids = _counties(ctx, w)
    with ctx.db.begin() as conn:
        town = b.create_region(conn, "431021101", "城关镇", "township", ids[GUIYANG])
    add_role_holder(ctx, town, w.units["U101"], "Stw", "bureau_admin")
    sign_in(client, ctx, "Stw")
    for page in ("/bureau/runs", "/bureau/notices"):
        answer = client.get(page)
        assert answer.status_code == 403, page
        # It names the fund region that runs the money, by name and code.
        assert "由上级经费区域（桂阳县 (431021)）的管理局办理" in answer.text, answer.text
    client.cookies.set("lang", "en")
    answer = client.get("/bureau/runs")
    assert "the bureau of 桂阳县 (431021) runs its money" in answer.text
