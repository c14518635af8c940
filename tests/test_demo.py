"""The demo city is built through the product's own services and leaves clean books.

A small demo (60 staff, two days of meals) on the test clock (10 March 2026, Q1): every
unit got a notice and paid it — one short on the 8th and the rest late on the 15th —
everyone was distributed their quarter, meals were paid at home and elsewhere, and the
sandbox bank kept the statements for the served app.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from onecard.catalogue.queries import canteen_items
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.demo import REFERENCES, UNITS, build_demo
from onecard.funding import notices
from onecard.ledger.service import account_id, derived_balance
from onecard.menus.models import Preorder
from onecard.org.models import Canteen, Person
from onecard.pay.models import Payment
from onecard.terminals.models import OfflineRecord


def test_the_demo_lives_its_quarter_through_the_services(ctx: Context) -> None:
    stages: dict[str, int] = {}
    city = build_demo(
        ctx, staff=60, history_days=2, progress=lambda s, n, t: stages.__setitem__(s, t)
    )
    assert city.counts["units"] == len(UNITS) and city.counts["staff"] == 60
    # The shop: every good but the one offered above the large stores' price, stocked,
    # one just under its reference; dishes with their nutrition.
    with ctx.db.read() as conn:
        first = conn.execute(select(func.min(Canteen.id))).scalar_one()
    shop = canteen_items(ctx, first)
    under = [(g["name"], g["reference_fen"] - g["price_fen"]) for g in shop["goods"]]
    assert city.counts["goods"] == len(under) == len(REFERENCES) - 1
    assert ("矿泉水 550ml", 10) in under and "东北大米 5kg" not in dict(under)
    assert all(g["stock_qty"] == 48 for g in shop["goods"])
    assert all(d["energy_kcal"] and d["protein_mg"] for d in shop["dishes"])
    assert set(stages) == {"职工与卡 staff and cards", "近日就餐 recent meals (days)"}
    status = {s["unit"]: s for s in notices.notice_status(ctx, "2026Q1")}
    assert all(s["status"] == "paid" for s in status.values() if s["amount_due_fen"])
    slow = status["郴州市档案馆"]
    assert slow["late"] and slow["receipts"] == 2
    with ctx.db.read() as conn:
        # The city's staff (the county keeps its own fund and staff, issue 17 §2).
        people = (
            conn.execute(select(Person.id).where(Person.region_id == city.region_id))
            .scalars()
            .all()
        )
        distributed = sum(
            derived_balance(conn, account_id(conn, "person", p, "subsidy")) for p in people
        )
        meals = conn.execute(
            select(func.count(), func.sum(Payment.amount_fen)).where(Payment.status == "approved")
        ).one()
        city_spent = conn.execute(
            select(func.sum(Payment.amount_fen)).where(
                Payment.status == "approved", Payment.person_id.in_(people)
            )
        ).scalar_one()
        days = {
            to_local(d).date()
            for d in conn.execute(
                select(Payment.created_at).where(Payment.status == "approved")
            ).scalars()
        }
        # Prepaid pre-orders of tomorrow hold subsidy out of the purses (menus/).
        held = conn.execute(
            select(func.coalesce(func.sum(Preorder.held_subsidy_fen), 0)).where(
                Preorder.status == "placed"
            )
        ).scalar_one()
        faces = conn.execute(
            select(func.count()).where(
                Payment.credential_kind == "face", Payment.status == "approved"
            )
        ).scalar_one()
    assert meals[0] == city.counts["meals"] > 0
    # One till sold offline on the last afternoon and uploaded that evening.
    with ctx.db.read() as conn:
        offline = conn.execute(
            select(OfflineRecord.status, OfflineRecord.taken_at, OfflineRecord.received_at)
        ).all()
    assert offline and {r.status for r in offline} == {"applied"}
    assert all(r.received_at > r.taken_at for r in offline)
    assert {to_local(r.taken_at).date() for r in offline} == {date(2026, 3, 9)}
    assert faces == 5  # five diners paid for dinner by face
    # Everyone had 600.00 yuan; what they hold now is that minus their meals.
    assert distributed + int(held) == 60 * 60000 - int(city_spent)
    # …and the night's pre-order run (00:30 on the 10th) charged yesterday's no-show.
    assert days <= {date(2026, 3, 6), date(2026, 3, 9), date(2026, 3, 10)} and days
    assert ctx.bank is not None and ctx.bank.statement(date(2026, 1, 8))
    # Who needs an authenticator gets a skip code; one diner can try activation.
    assert city.skip_codes and set(city.skip_codes) == set(city.enrolment_codes)
    assert "diner" not in city.skip_codes
    assert city.activation is not None
    staff_no, _, code = city.activation
    assert staff_no not in city.logins.values()
    from onecard.web.account_activation import activate
    from onecard.web.accounts import Client

    assert activate(ctx, staff_no, code, "Demo2026ok", Client("127.0.0.1")).staff_no == staff_no
    # The county's bureau admin reaches the county and its two townships, not the city,
    # and signs in like the city's (an authenticator, or the demo's skip code).
    from onecard.org.actors import Actor

    with ctx.db.read() as conn:
        admin = conn.execute(
            select(Person.id, Person.unit_id).where(
                Person.staff_no == city.logins["county_bureau_admin"]
            )
        ).one()
        county_admin = Actor.load(conn, admin.id, "county", admin.unit_id)
    assert county_admin.region_ids is not None and len(county_admin.region_ids) == 3
    assert city.region_id not in county_admin.region_ids
    assert county_admin.bureau_of(min(county_admin.region_ids))
    assert "county_bureau_admin" in city.skip_codes
    # The public directory looks real: districts, map links, who else may eat where.
    from onecard.reports.directory import DirectoryQuery, search

    listed = search(ctx, DirectoryQuery())
    assert listed.total == city.counts["canteens"] and listed.districts == [
        "北湖区",
        "桂阳县",
        "苏仙区",
    ]
    assert all(r["map_url"] and r["tel"] and r["district"] for r in listed.rows)
    welcome = search(ctx, DirectoryQuery(guests=True)).rows
    assert welcome and all(r["meals"][1]["prices"]["guest"] for r in welcome)
    assert {r["guest_access"] for r in listed.rows} == {"none", "appointment", "open"}


def test_the_demo_has_a_few_ecny_payments_and_topups(ctx: Context) -> None:
    from onecard.ledger.models import JournalEntry
    from onecard.ledger.service import system_account
    from onecard.pay.models import EcnyOrder, EcnyRefund

    build_demo(ctx, staff=60, history_days=1)
    with ctx.db.read() as conn:
        kinds = dict(
            conn.execute(
                select(EcnyOrder.kind, func.count())
                .where(EcnyOrder.status == "succeeded")
                .group_by(EcnyOrder.kind)
            ).all()
        )
        refunded = conn.execute(select(func.count()).select_from(EcnyRefund)).scalar_one()
        booked = conn.execute(
            select(func.count()).where(JournalEntry.kind.like("ecny%"))
        ).scalar_one()
        clearing = derived_balance(conn, system_account(conn, "ecny_clearing"))
        paid = conn.execute(
            select(func.sum(EcnyOrder.amount_fen - EcnyOrder.refunded_fen)).where(
                EcnyOrder.status == "succeeded"
            )
        ).scalar_one()
        pending = conn.execute(
            select(EcnyOrder.txn_id).where(EcnyOrder.status == "pending")
        ).scalars()
        assert list(pending) == ["demo-ecny-pending"]  # its answer lost: for 再次查询
    assert kinds == {"payment": 3, "topup": 2} and refunded == 1
    assert booked == 3 + 2 + 1 and clearing == -paid
