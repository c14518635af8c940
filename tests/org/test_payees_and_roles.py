"""Correcting a payee's bank account re-sends the payouts that failed for it; appointing
and revoking administrators, audited, with the city's and the units' rules."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from funding.city import BUREAU, OPERATOR_NAME, City, build_city
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, StateConflict, UnknownReference
from onecard.funding import payees, settlement
from onecard.funding.models import Settlement
from onecard.org import grants
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, RoleGrant
from org.orgtools import audits, card_number, everything

WRONG = "6217000000000000999"  # an account the bank does not know


@pytest.fixture
def city(ctx: Context) -> City:
    return build_city(ctx)


def failed_payout(city: City) -> int:
    """Canteen B is settled to an account the bank does not know: the payout fails."""
    city.top_up("a1", 1000)
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=1000)
    with city.ctx.db.begin() as conn:
        conn.execute(
            update(Canteen)
            .where(Canteen.id == city.canteens["B"])
            .values(operator_bank_account=WRONG)
        )
    city.at(date(2026, 4, 1), 9)
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    city.deliver()
    return settlement_of(city).status  # type: ignore[no-any-return]


def settlement_of(city: City):  # type: ignore[no-untyped-def]
    with city.ctx.db.read() as conn:
        return conn.execute(
            select(Settlement.__table__).where(Settlement.canteen_id == city.canteens["B"])
        ).one()


def test_correcting_the_operators_account_resends_the_failed_payout(city: City) -> None:
    assert failed_payout(city) == "payout_failed"
    assert city.payable("B") == 995
    right = card_number("621700008888000")
    city.bank.open_outside_account(right, OPERATOR_NAME, 0)
    ch = payees.update_canteen(
        city.ctx, BUREAU, city.canteens["B"], {"operator_bank_account": right}
    )
    assert ch.after == {"operator_bank_account": right}
    (retried,) = ch.retried
    assert retried.changed and retried.totals == {"net_fen": 995} and not retried.problems
    city.deliver()
    assert settlement_of(city).status == "paid"
    assert city.bank.outside_balance(right) == 995 and city.payable("B") == 0
    (rec,) = audits(city.ctx, "org_canteen_update")
    assert rec["totals"] == {
        "before": {"operator_bank_account": WRONG},
        "after": {"operator_bank_account": right},
    }
    assert len(audits(city.ctx, "settlement_retry")) == 1
    # Editing something else later re-sends nothing.
    ch = payees.update_canteen(city.ctx, BUREAU, city.canteens["B"], {"windows": 3})
    assert ch.retried == []


def test_a_bad_account_in_the_correction_changes_nothing_and_sends_nothing(city: City) -> None:
    failed_payout(city)
    before = (everything(city.ctx), city.snapshot())
    with pytest.raises(InvalidInput) as exc:
        payees.update_canteen(
            city.ctx, BUREAU, city.canteens["B"], {"operator_bank_account": "6217000088880001"}
        )
    assert "经营者结算账户不正确：银联卡号校验位不符" in exc.value.message()
    assert exc.value.message("en").startswith("Operator's settlement account is not valid")
    assert (everything(city.ctx), city.snapshot()) == before
    assert settlement_of(city).status == "payout_failed"


def test_the_failed_payouts_of_a_canteen_are_resent_on_request(city: City) -> None:
    failed_payout(city)
    city.bank.open_outside_account(WRONG, OPERATOR_NAME, 0)  # the bank fixed its records
    with pytest.raises(Forbidden):
        payees.retry_failed_payouts(
            city.ctx, Actor("ub", grants=frozenset({("unit_admin", city.units["B"], None)})), 1
        )
    (res,) = payees.retry_failed_payouts(city.ctx, BUREAU, city.canteens["B"])
    assert res.changed
    city.deliver()
    assert settlement_of(city).status == "paid"
    assert payees.retry_failed_payouts(city.ctx, BUREAU, city.canteens["B"]) == []


# --- administrators ---------------------------------------------------------------------------
def test_the_bureau_appoints_a_unit_admin_who_is_new_and_the_grant_is_audited(
    city: City,
) -> None:
    ctx = city.ctx
    got = grants.appoint(
        ctx,
        BUREAU,
        grants.Appointment("UA003", "unit_admin", unit_id=city.units["C"], name="钱进"),
    )
    assert got["created"] and got["roles"] == ["单位管理员·市档案馆"]
    with ctx.db.read() as conn:
        p = conn.execute(select(Person.__table__).where(Person.staff_no == "UA003")).one()
    assert p.unit_id == city.units["C"] and p.status == "active"
    (rec,) = audits(ctx, "org_role_grant")
    assert rec["totals"]["before"] is None
    assert rec["totals"]["after"]["roles"] == ["单位管理员·市档案馆"]
    # The new admin appoints a canteen manager? Unit C has no canteen; a unit admin
    # appoints another admin of their own unit, from their own staff.
    ua = Actor("ua", grants=frozenset({("unit_admin", city.units["C"], None)}))
    more = grants.appoint(ctx, ua, grants.Appointment("Sc1", "unit_admin", unit_id=city.units["C"]))
    assert not more["created"]
    rows = grants.administrators(ctx, ua, city.units["C"])
    assert sorted(r["staff_no"] for r in rows) == ["Sc1", "UA003"]


@pytest.mark.parametrize(
    ("who", "appointment", "error", "words"),
    [
        ("ua", grants.Appointment("Sa1", "bureau_admin"), Forbidden, ""),
        ("ua", grants.Appointment("Sb1", "unit_admin", unit_id=-2), UnknownReference, "单位不存在"),
        ("ua", grants.Appointment("Sb1", "unit_admin", unit_id=-1), Forbidden, ""),
        ("ua", grants.Appointment("Sb1", "unit_admin", unit_id=-3), InvalidInput, "不是该单位人员"),
        ("bu", grants.Appointment("Sa1", "unit_admin"), InvalidInput, "须指定单位"),
        ("bu", grants.Appointment("Sa1", "finance", unit_id=-3), InvalidInput, "全市角色"),
        ("bu", grants.Appointment("Sa1", "diner"), InvalidInput, "角色应为"),
        ("bu", grants.Appointment("S 1", "finance"), InvalidInput, "工号"),
        ("bu", grants.Appointment("NEW1", "finance"), InvalidInput, "请填写姓名"),
        ("bu", grants.Appointment("NEW1", "finance", name="新人"), InvalidInput, "所在单位"),
    ],
)
def test_a_bad_appointment_is_refused_and_nothing_changes(
    city: City, who: str, appointment: grants.Appointment, error: type[Exception], words: str
) -> None:
    units = {-1: city.units["B"], -2: 999, -3: city.units["A"]}
    a = appointment
    if a.unit_id is not None:
        a = grants.Appointment(a.staff_no, a.role, unit_id=units[a.unit_id], name=a.name)
    actor = (
        BUREAU
        if who == "bu"
        else Actor("ua", grants=frozenset({("unit_admin", city.units["A"], None)}))
    )
    before = everything(city.ctx)
    with pytest.raises(error) as exc:
        grants.appoint(city.ctx, actor, a)
    assert words in exc.value.message()  # type: ignore[attr-defined]
    assert everything(city.ctx) == before


def test_a_role_twice_is_a_conflict(city: City) -> None:
    grants.appoint(city.ctx, BUREAU, grants.Appointment("Sa1", "finance"))
    with pytest.raises(StateConflict) as exc:
        grants.appoint(city.ctx, BUREAU, grants.Appointment("Sa1", "finance"))
    assert "张伟 已是财政" in exc.value.message()


def test_revoking_takes_the_role_away_and_the_last_bureau_admin_stays(city: City) -> None:
    ctx = city.ctx
    grants.appoint(ctx, BUREAU, grants.Appointment("Sa1", "bureau_admin"))
    grants.appoint(ctx, BUREAU, grants.Appointment("Sb1", "bureau_admin"))
    with ctx.db.read() as conn:
        ids = dict(
            conn.execute(
                select(Person.staff_no, RoleGrant.id).join(Person, Person.id == RoleGrant.person_id)
            ).all()
        )
    ua = Actor("ua", grants=frozenset({("unit_admin", city.units["A"], None)}))
    with pytest.raises(Forbidden):
        grants.revoke(ctx, ua, ids["Sa1"])
    assert grants.revoke(ctx, BUREAU, ids["Sa1"])["roles"] == []
    before = everything(ctx)
    with pytest.raises(StateConflict) as exc:
        grants.revoke(ctx, BUREAU, ids["Sb1"])
    assert "至少要保留一名" in exc.value.message()
    assert everything(ctx) == before
    (rec,) = audits(ctx, "org_role_revoke")
    assert rec["totals"] == {"before": {"roles": ["机关事务局管理员"]}, "after": {"roles": []}}
