"""Creating, editing and retiring regions, units and canteens through the services:
each change audited with who, when, before and after; each bad input refused with a
clear error and nothing changed; a unit admin only for their own unit's rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from onecard.core.context import Context
from onecard.core.errors import (
    DuplicateCode,
    Forbidden,
    InvalidBankAccount,
    InvalidInput,
    NotFound,
    RetireRefused,
    StateConflict,
    UnknownReference,
)
from onecard.ledger.models import Account
from onecard.org import admin, retirement
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, Terminal, Unit
from org.orgtools import audits, bad_card_number, card_number, everything
from world import World, build_world, fund

BUREAU = Actor.system("bureau")


@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


def unit_admin(w: World, unit: str = "A") -> Actor:
    return Actor("ua", person_id=None, grants=frozenset({("unit_admin", w.units[unit], None)}))


def county(ctx: Context, w: World) -> int:
    return admin.create_region(
        ctx, BUREAU, {"code": "431002", "name": "北湖区", "level": "county", "parent_id": w.region}
    ).id


# --- regions ------------------------------------------------------------------------------
def test_a_county_and_a_township_are_created_under_their_parents(ctx: Context, w: World) -> None:
    c = county(ctx, w)
    t = admin.create_region(
        ctx, BUREAU, {"code": "431002001", "name": "人民路街道", "level": "乡镇", "parent_id": c}
    )
    assert t.after["level"] == "township"
    rec = audits(ctx, "org_region_create")
    assert [r["scope"] for r in rec] == ["区域 431002 北湖区", "区域 431002001 人民路街道"]
    assert rec[0]["totals"]["before"] is None and rec[0]["totals"]["after"]["name"] == "北湖区"
    assert rec[0]["actor"] == "bureau"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"code": "431000", "name": "重复", "level": "county"}, DuplicateCode),
        ({"code": "431099", "name": "新市", "level": "city"}, InvalidInput),
        ({"code": "431099", "name": "x", "level": "county", "parent_id": 999}, UnknownReference),
        ({"code": "431099", "name": "", "level": "county"}, InvalidInput),
        ({"code": "43 10", "name": "x", "level": "county"}, InvalidInput),
        ({"code": "431099", "name": "x", "level": "省"}, InvalidInput),
    ],
)
def test_a_bad_region_is_refused_and_nothing_changes(
    ctx: Context, w: World, raw: dict[str, Any], error: type[Exception]
) -> None:
    raw = {"parent_id": w.region, **raw}
    before = everything(ctx)
    with pytest.raises(error):
        admin.create_region(ctx, BUREAU, raw)
    assert everything(ctx) == before


def test_a_township_must_hang_off_a_county(ctx: Context, w: World) -> None:
    before = everything(ctx)
    with pytest.raises(InvalidInput, match="乡镇的上级应为县"):
        admin.create_region(
            ctx, BUREAU, {"code": "9", "name": "镇", "level": "township", "parent_id": w.region}
        )
    assert everything(ctx) == before


def test_regions_are_the_bureaus(ctx: Context, w: World) -> None:
    with pytest.raises(Forbidden):
        admin.create_region(
            ctx,
            unit_admin(w),
            {"code": "9", "name": "区", "level": "county", "parent_id": w.region},
        )
    rid = county(ctx, w)
    with pytest.raises(Forbidden):
        admin.update_region(ctx, unit_admin(w), rid, {"name": "改名"})
    ch = admin.update_region(ctx, BUREAU, rid, {"name": "北湖区（新）"})
    assert (ch.before, ch.after) == ({"name": "北湖区"}, {"name": "北湖区（新）"})
    with pytest.raises(InvalidInput, match="不能修改"):
        admin.update_region(ctx, BUREAU, rid, {"parent_id": w.region})


# --- units --------------------------------------------------------------------------------
def test_a_new_unit_gets_its_ledger_accounts_and_an_audit_record(ctx: Context, w: World) -> None:
    rid = county(ctx, w)
    acct = card_number("621700001234567")
    ch = admin.create_unit(
        ctx,
        BUREAU,
        {
            "code": "U100",
            "name": "北湖区教育局",
            "region_id": rid,
            "bank_account": acct[:4] + " " + acct[4:],  # as printed, with a space
            "contact": "周敏",
            "phone": "0735-2222222",
            "has_canteen": "否",
            "default_standard_fen": "600.00",
        },
    )
    with ctx.db.read() as conn:
        u = conn.execute(select(Unit.__table__).where(Unit.id == ch.id)).one()
        kinds = set(
            conn.execute(
                select(Account.kind).where(Account.owner_kind == "unit", Account.owner_id == ch.id)
            ).scalars()
        )
    assert (u.level, u.bank_account, u.default_standard_fen, u.has_canteen) == (
        "county",  # the region's level
        acct,  # stored as digits only
        60000,
        False,
    )
    assert kinds == {"unit_income", "unit_returned"}
    (rec,) = audits(ctx, "org_unit_create")
    assert rec["scope"] == "单位 U100 北湖区教育局"
    assert rec["totals"]["before"] is None
    assert rec["totals"]["after"]["bank_account"] == acct


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        ({"code": "U001"}, DuplicateCode, "单位代码「U001」已被使用"),
        ({"name": "市财政局"}, DuplicateCode, "单位名称「市财政局」已被使用"),
        ({"region_id": 999}, UnknownReference, "所属区域不存在"),
        ({"bank_account": bad_card_number("621700001234567")}, InvalidBankAccount, "校验位"),
        ({"bank_account": "12345"}, InvalidBankAccount, "10–30 位"),
        ({"bank_account": "62170000123456X7"}, InvalidBankAccount, "只能包含数字"),
        ({"phone": "电话"}, InvalidInput, "联系电话"),
        ({"code": "U 1"}, InvalidInput, "单位代码"),
        ({"name": ""}, InvalidInput, "单位名称"),
        ({"default_standard_fen": "6.001"}, InvalidInput, "默认每季度就餐经费标准"),
        ({"colour": "red"}, InvalidInput, "不是可以修改的字段"),
    ],
)
def test_a_bad_unit_is_refused_with_a_clear_error_and_nothing_changes(
    ctx: Context, w: World, raw: dict[str, Any], error: type[Exception], words: str
) -> None:
    base = {"code": "U100", "name": "新单位", "region_id": w.region}
    before = everything(ctx)
    with pytest.raises(error) as exc:
        admin.create_unit(ctx, BUREAU, {**base, **raw})
    assert words in exc.value.message()  # type: ignore[attr-defined]
    assert everything(ctx) == before


def test_editing_a_unit_records_before_and_after_of_what_changed(ctx: Context, w: World) -> None:
    a = w.units["A"]
    ch = admin.update_unit(ctx, BUREAU, a, {"contact": "李明", "name": "市财政局", "phone": ""})
    assert (ch.before, ch.after) == ({"contact": None}, {"contact": "李明"})
    (rec,) = audits(ctx, "org_unit_update")
    assert rec["totals"] == {"before": {"contact": None}, "after": {"contact": "李明"}}
    # The same values again change nothing and write nothing.
    before = everything(ctx)
    assert not admin.update_unit(ctx, BUREAU, a, {"contact": "李明"}).changed
    assert everything(ctx) == before


def test_a_unit_admin_edits_only_their_own_units_ordinary_fields(ctx: Context, w: World) -> None:
    ua = unit_admin(w, "A")
    assert admin.update_unit(ctx, ua, w.units["A"], {"phone": "0735-1234567"}).changed
    before = everything(ctx)
    with pytest.raises(Forbidden):
        admin.update_unit(ctx, ua, w.units["B"], {"phone": "0735-1234567"})
    with pytest.raises(Forbidden, match="单位账户只能由机关事务局修改"):
        admin.update_unit(ctx, ua, w.units["A"], {"bank_account": card_number("621700001234567")})
    with pytest.raises(Forbidden):
        admin.create_unit(ctx, ua, {"code": "U9", "name": "x", "region_id": w.region})
    assert everything(ctx) == before


def test_two_units_cannot_share_a_bank_account(ctx: Context, w: World) -> None:
    """Units' payments are matched to them by the paying account."""
    acct = card_number("621700001234567")
    admin.update_unit(ctx, BUREAU, w.units["A"], {"bank_account": acct})
    before = everything(ctx)
    with pytest.raises(DuplicateCode) as exc:
        admin.update_unit(ctx, BUREAU, w.units["B"], {"bank_account": acct})
    assert exc.value.message() == f"单位账户「{acct}」已被使用"
    assert exc.value.message("en") == f"Unit bank account {acct} is already in use"
    assert everything(ctx) == before


def test_a_unit_with_a_canteen_cannot_say_it_has_none(ctx: Context, w: World) -> None:
    with pytest.raises(InvalidInput, match="财政局机关食堂"):
        admin.update_unit(ctx, BUREAU, w.units["A"], {"has_canteen": False})


def test_an_unknown_unit_is_not_found(ctx: Context, w: World) -> None:
    with pytest.raises(NotFound):
        admin.update_unit(ctx, BUREAU, 999, {"contact": "x"})


# --- canteens -------------------------------------------------------------------------------
def canteen_raw(w: World, **kw: Any) -> dict[str, Any]:
    return {
        "code": "C100",
        "name": "档案馆食堂",
        "unit_id": w.units["C"],
        "location": "北湖路 9 号",
        "opening_hours": "07:00–19:30",
        "capacity": "120",
        "windows": 4,
        "operation": "委托经营",
        "operator_name": "郴州味道餐饮有限公司",
        "operator_bank_account": card_number("621700009999000"),
        "contract_starts": "2026-01-01",
        "contract_ends": "2028-12-31",
        **kw,
    }


def test_a_new_canteen_is_planned_with_its_payable_account(ctx: Context, w: World) -> None:
    ch = admin.create_canteen(ctx, BUREAU, canteen_raw(w))
    with ctx.db.read() as conn:
        c = conn.execute(select(Canteen.__table__).where(Canteen.id == ch.id)).one()
        payable = conn.execute(
            select(Account.id).where(Account.owner_kind == "canteen", Account.owner_id == ch.id)
        ).all()
        has = conn.execute(select(Unit.has_canteen).where(Unit.id == w.units["C"])).scalar()
    assert (c.rollout_status, c.operation, c.windows, c.capacity) == (
        "planned",
        "outsourced",
        4,
        120,
    )
    assert str(c.contract_ends) == "2028-12-31" and len(payable) == 1 and has is True
    (rec,) = audits(ctx, "org_canteen_create")
    assert rec["totals"]["after"]["contract_starts"] == "2026-01-01"


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        ({"unit_id": 999}, UnknownReference, "所属单位不存在"),
        ({"code": "C001"}, DuplicateCode, "食堂编码「C001」已被使用"),
        ({"operator_name": ""}, InvalidInput, "委托经营的食堂须填写经营者"),
        (
            {"operator_bank_account": bad_card_number("621700009999000")},
            InvalidBankAccount,
            "校验位",
        ),
        ({"contract_ends": "2025-12-31"}, InvalidInput, "不能早于合同开始日期"),
        ({"contract_ends": "2026-13-01"}, InvalidInput, "日期格式"),
        ({"capacity": "-3"}, InvalidInput, "座位数"),
        ({"operation": "承包"}, InvalidInput, "经营方式"),
    ],
)
def test_a_bad_canteen_is_refused_with_a_clear_error_and_nothing_changes(
    ctx: Context, w: World, raw: dict[str, Any], error: type[Exception], words: str
) -> None:
    before = everything(ctx)
    with pytest.raises(error) as exc:
        admin.create_canteen(ctx, BUREAU, canteen_raw(w, **raw))
    assert words in exc.value.message()  # type: ignore[attr-defined]
    assert everything(ctx) == before


def test_a_unit_admin_keeps_their_canteens_details_but_not_who_gets_paid(
    ctx: Context, w: World
) -> None:
    ub = unit_admin(w, "B")
    cb = w.canteens["B"]
    ch = admin.update_canteen(ctx, ub, cb, {"opening_hours": "11:00–13:30", "windows": "6"})
    assert ch.after == {"opening_hours": "11:00–13:30", "windows": 6}
    before = everything(ctx)
    with pytest.raises(Forbidden, match="经营者结算账户"):
        admin.update_canteen(ctx, ub, cb, {"operator_bank_account": card_number("621700009999000")})
    with pytest.raises(Forbidden):
        admin.update_canteen(ctx, ub, w.canteens["A"], {"windows": 1})
    cm = Actor("cm", grants=frozenset({("canteen_manager", None, cb)}))
    with pytest.raises(Forbidden):
        admin.update_canteen(ctx, cm, cb, {"windows": 1})
    assert everything(ctx) == before


# --- retiring -------------------------------------------------------------------------------
def test_retiring_a_unit_with_people_or_money_is_refused_with_every_reason(
    ctx: Context, w: World
) -> None:
    fund(ctx, w, "a1", subsidy=1000)
    before = everything(ctx)
    with pytest.raises(RetireRefused) as exc:
        retirement.retire_unit(ctx, BUREAU, w.units["A"])
    msg = exc.value.message()
    assert "不能撤销单位「市财政局」" in msg
    assert "尚有 2 名在职人员" in msg and "10.00 元" in msg and "财政局机关食堂 尚未撤销" in msg
    assert everything(ctx) == before


def test_a_unit_with_nobody_and_nothing_left_is_retired_and_audited(ctx: Context, w: World) -> None:
    c = w.units["C"]
    with ctx.db.begin() as conn:  # 刘洋 left, with nothing in his purses
        conn.execute(update(Person).where(Person.unit_id == c).values(status="left"))
    ch = retirement.retire_unit(ctx, BUREAU, c)
    assert ch.before == {"retired_at": None} and ch.after["retired_at"].startswith("2026-03-10")
    (rec,) = audits(ctx, "org_unit_retire")
    assert rec["scope"] == "单位 U003 市档案馆"
    with pytest.raises(StateConflict, match="已撤销"):
        admin.update_unit(ctx, BUREAU, c, {"contact": "x"})
    with pytest.raises(StateConflict):
        retirement.retire_unit(ctx, BUREAU, c)
    with pytest.raises(UnknownReference):
        admin.create_canteen(ctx, BUREAU, canteen_raw(w))  # a retired owner unit
    # Its name is free again for a new unit.
    assert admin.create_unit(
        ctx, BUREAU, {"code": "U103", "name": "市档案馆", "region_id": w.region}
    )


def test_retiring_a_canteen_with_live_terminals_or_takings_is_refused(
    ctx: Context, w: World
) -> None:
    from onecard.pay.service import PaymentRequest, pay

    fund(ctx, w, "a1", subsidy=1000)
    pay(ctx, w.terminals["A"], PaymentRequest("t1", w.cards["a1"], amount_fen=300))
    before = everything(ctx)
    with pytest.raises(RetireRefused) as exc:
        retirement.retire_canteen(ctx, BUREAU, w.canteens["A"])
    assert "3.00 元消费款未结算" in exc.value.message()
    assert "消费机 T-A1 尚未停用" in exc.value.message()
    assert everything(ctx) == before
    with pytest.raises(Forbidden):
        retirement.retire_canteen(ctx, unit_admin(w, "A"), w.canteens["A"])


def test_a_canteen_with_nothing_left_is_retired_and_its_managers_lose_the_role(
    ctx: Context, w: World
) -> None:
    from onecard.org import builders
    from onecard.org.models import RoleGrant

    cb = w.canteens["B"]
    with ctx.db.begin() as conn:
        conn.execute(update(Terminal).where(Terminal.canteen_id == cb).values(status="revoked"))
        builders.grant_role(conn, w.people["b1"], "canteen_manager", canteen_id=cb)
    ch = retirement.retire_canteen(ctx, BUREAU, cb)
    assert ch.after["grants_revoked"] == 1
    with ctx.db.read() as conn:
        assert conn.execute(select(RoleGrant.id).where(RoleGrant.canteen_id == cb)).all() == []


def test_a_region_with_units_cannot_be_retired(ctx: Context, w: World) -> None:
    with pytest.raises(RetireRefused, match="全市区域不能撤销"):
        retirement.retire_region(ctx, BUREAU, w.region)
    rid = county(ctx, w)
    admin.create_unit(ctx, BUREAU, {"code": "U100", "name": "区单位", "region_id": rid})
    with pytest.raises(RetireRefused, match="尚有 1 个单位"):
        retirement.retire_region(ctx, BUREAU, rid)
    empty = admin.create_region(
        ctx, BUREAU, {"code": "431003", "name": "苏仙区", "level": "county", "parent_id": w.region}
    )
    assert retirement.retire_region(ctx, BUREAU, empty.id).changed


def test_a_leavers_cash_or_an_unpaid_notice_also_keeps_a_unit(ctx: Context, w: World) -> None:
    from onecard.funding.notices import issue_notices

    c = w.units["C"]
    fund(ctx, w, "c1", cash=300)
    issue_notices(ctx, BUREAU, "2026Q1")
    with ctx.db.begin() as conn:  # 刘洋 left; his own cash waits to be paid back to him
        conn.execute(update(Person).where(Person.unit_id == c).values(status="left"))
    before = everything(ctx)
    with pytest.raises(RetireRefused) as exc:
        retirement.retire_unit(ctx, BUREAU, c)
    msg = exc.value.message()
    assert "本单位人员账户尚有 3.00 元" in msg
    assert "缴款通知 JF-U003-2026Q1 尚欠 600.00 元" in msg
    assert "在职人员" not in msg
    assert everything(ctx) == before


def test_a_code_taken_at_the_same_moment_is_a_conflict_not_a_server_error(
    ctx: Context, w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two administrators at once: both checks pass, the database's unique key refuses
    the second write; the answer is a 409 with nothing written."""
    from onecard.core.errors import ConcurrentChange
    from onecard.org import rules

    monkeypatch.setattr(rules.DbLookup, "unit_taken", lambda *_a: False)
    monkeypatch.setattr(rules.DbLookup, "canteen_code_taken", lambda *_a: False)
    before = everything(ctx)
    with pytest.raises(ConcurrentChange):
        admin.create_unit(ctx, BUREAU, {"code": "U001", "name": "同时", "region_id": w.region})
    with pytest.raises(ConcurrentChange):
        admin.update_canteen(ctx, BUREAU, w.canteens["B"], {"code": "C001"})
    assert everything(ctx) == before
