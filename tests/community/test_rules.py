"""ID numbers, the rules' precedence, the daily allowance and cap (never carried over),
love meals above the cap refused with nothing written, retries, and the anomalies."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, insert, select

from onecard.audit.models import AuditEvent
from onecard.community import queries as q
from onecard.community import service as cs
from onecard.community.ids import age_on, check_digit, parse_id_number
from onecard.community.models import CommunityDish, CommunityMeal
from onecard.community.rules import DEFAULT, Used, meal_subsidy
from onecard.core.context import Context
from onecard.core.errors import (
    CategoryNotMet,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidIdNumber,
    LoveMealAboveCap,
)
from onecard.ledger.models import JournalEntry
from onecard.ledger.verify import verify
from town import BUREAU, at, build_town, eat, id_number


# --- ID numbers ---------------------------------------------------------------------------
def test_the_standard_example_and_its_neighbours() -> None:
    # GB 11643's example: Σ = 7+9+5+20+2+9+24+27+7+18+30+5+4 = 167; 167 mod 11 = 2 → 'X'.
    assert check_digit("11010519491231002") == "X"
    assert parse_id_number("11010519491231002x") == ("11010519491231002X", date(1949, 12, 31))
    # 4406 5219 9001 0132 3: Σ = 4·7+4·9+0+6·5+5·8+2·4+1·2+9·1+9·6+0+0+1·9+0·10+1·5+3·8+2·4+3·2
    # = 28+36+30+40+8+2+9+54+9+5+24+8+6 = 259; 259 mod 11 = 6 → '6' ("10X98765432"[6]).
    assert check_digit("44065219900101323") == "6"
    assert parse_id_number("440652199001013236")[1] == date(1990, 1, 1)


@pytest.mark.parametrize(
    "bad",
    [
        "110105194912310021",  # wrong check character
        "11010519491231002",  # 17 characters
        "1101051949123100211",  # 19
        "11010519491331002X",  # month 13: no birth date
        "1101051949123100AX",  # letters in the body
    ],
)
def test_a_wrong_id_number_is_refused(bad: str) -> None:
    with pytest.raises(InvalidIdNumber):
        parse_id_number(bad)


def test_age_counts_full_years() -> None:
    assert age_on(date(1966, 3, 11), date(2026, 3, 10)) == 59
    assert age_on(date(1966, 3, 10), date(2026, 3, 10)) == 60


def test_registration_checks_the_number_and_the_age_categories(ctx: Context) -> None:
    t = build_town(ctx)
    with pytest.raises(InvalidIdNumber):
        cs.register_resident(
            ctx,
            BUREAU,
            region_id=t.region,
            name="错号",
            id_number="110105194912310021",
            categories={},
        )
    young = id_number(date(1970, 1, 1), 91)
    with pytest.raises(CategoryNotMet):
        cs.register_resident(
            ctx,
            BUREAU,
            region_id=t.region,
            name="不满六十",
            id_number=young,
            categories={"aged_60": "身份证"},
        )
    with pytest.raises(InvalidIdNumber):  # a birth date that is not the number's
        cs.register_resident(
            ctx,
            BUREAU,
            region_id=t.region,
            name="日期不符",
            id_number=young,
            categories={},
            birth_date=date(1970, 1, 2),
        )
    assert len(q.residents(ctx)) == len(t.residents)


# --- the rules ------------------------------------------------------------------------------
ELDER_SANWU = frozenset({"aged_60", "sanwu"})


def test_best_wins_by_default_and_is_never_stacked() -> None:
    # 12.00: 50% = 6.00 against the 2.00 allowance → 6.00 (三无), not 8.00.
    s = meal_subsidy(DEFAULT, ELDER_SANWU, 80, 1200, Used())
    assert (s.subsidy_fen, s.allowance_fen, s.category) == (600, 0, "sanwu")
    # 1.50: 50% = 0.75 against min(2.00, 1.50) → the allowance wins, 1.50.
    s = meal_subsidy(DEFAULT, ELDER_SANWU, 80, 150, Used())
    assert (s.subsidy_fen, s.allowance_fen, s.category) == (150, 150, "aged_60")


def test_precedence_by_order_and_stacking_when_the_rules_say_so(ctx: Context) -> None:
    t = build_town(ctx)
    v = cs.set_rules(ctx, BUREAU, {"precedence": "order", "order": ["aged_60", "sanwu"]})
    assert v == 1
    # 张 (三无 + 60+): the order puts 60+ first → 2.00 even though 6.00 was on offer.
    assert eat(ctx, t, "zhang", "set", datetime(2026, 3, 10, 12)).subsidy_fen == 200
    assert cs.set_rules(ctx, BUREAU, {"stack": True}) == 2
    # Stacked: allowance (none left today) + 50% of 12.00 → 6.00 at dinner …
    assert eat(ctx, t, "zhang", "set", datetime(2026, 3, 10, 18)).subsidy_fen == 600
    # … and the next day 2.00 + 6.00 = 8.00, named in the rules' order (60+ first).
    paid = eat(ctx, t, "zhang", "set", datetime(2026, 3, 11, 12))
    assert (paid.subsidy_fen, paid.category) == (800, "aged_60+sanwu")
    with ctx.db.read() as conn:
        versions = conn.execute(
            select(CommunityMeal.rules_version).order_by(CommunityMeal.id)
        ).scalars()
        assert list(versions) == [1, 2, 2]
        # Each version is audited with what changed.
        changes = conn.execute(
            select(AuditEvent.after).where(AuditEvent.action == "community_rules")
        ).scalars()
        assert list(changes) == [
            '{"order":["aged_60","sanwu"],"precedence":"order"}',
            '{"stack":true}',
        ]


def test_the_daily_allowance_and_cap_are_never_carried_over(ctx: Context) -> None:
    t = build_town(ctx)
    cs.set_rules(ctx, BUREAU, {"daily_cap_fen": 1500})
    # 王 (60+) eats nothing on the 2nd; on the 3rd the allowance is 2.00 — not 4.00.
    assert eat(ctx, t, "wang", "set", datetime(2026, 3, 3, 12)).subsidy_fen == 200
    assert eat(ctx, t, "wang", "set", datetime(2026, 3, 3, 18)).subsidy_fen == 0
    assert eat(ctx, t, "wang", "set", datetime(2026, 3, 4, 8)).subsidy_fen == 200
    # 李 (free): 12.00, then 3.00 left of the 15.00 cap, then nothing; the next day 12.00.
    li = [eat(ctx, t, "li", "set", datetime(2026, 3, 3, h)).subsidy_fen for h in (8, 12, 18)]
    assert li == [1200, 300, 0]
    assert eat(ctx, t, "li", "set", datetime(2026, 3, 4, 8)).subsidy_fen == 1200
    # A meal just before midnight Beijing time and one just after are two days.
    assert eat(ctx, t, "ming", "bun", datetime(2026, 3, 5, 23, 30)).subsidy_fen == 150
    assert eat(ctx, t, "ming", "noodles", datetime(2026, 3, 6, 0, 30)).subsidy_fen == 200


def _counts(ctx: Context) -> tuple[int, int, int, int]:
    with ctx.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(CommunityMeal)).scalar_one(),
            conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one(),
            conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
            conn.execute(select(func.count()).select_from(CommunityDish)).scalar_one(),
        )


def test_a_love_meal_above_the_cap_is_refused_and_nothing_is_written(ctx: Context) -> None:
    t = build_town(ctx)
    before = _counts(ctx)
    with pytest.raises(LoveMealAboveCap):
        cs.set_dish(ctx, BUREAU, t.canteen, "豪华爱心餐", 801, love=True)
    with pytest.raises(LoveMealAboveCap):  # raising an existing love meal above it
        cs.set_dish(ctx, BUREAU, t.canteen, "爱心餐", 900, love=True)
    assert _counts(ctx) == before
    # A cap lowered later holds at the counter at once: the 8.00 love meal is refused.
    cs.set_rules(ctx, BUREAU, {"love_meal_cap_fen": 700})
    before = _counts(ctx)
    wallets = q.residents(ctx)
    with pytest.raises(LoveMealAboveCap):
        eat(ctx, t, "wang", "love", datetime(2026, 3, 10, 12))
    assert _counts(ctx) == before and q.residents(ctx) == wallets
    with ctx.db.read() as conn:
        assert verify(conn).ok


def test_a_short_wallet_refuses_the_meal_and_a_retry_gets_the_first_answer(
    ctx: Context,
) -> None:
    t = build_town(ctx, wallet_fen=500)
    before = _counts(ctx)
    # 刘 (soldier): 8.00 − 10% = 7.20 from a 5.00 wallet → refused, nothing written.
    with pytest.raises(InsufficientFunds):
        eat(ctx, t, "liu", "love", datetime(2026, 3, 10, 12))
    assert _counts(ctx) == before
    # 王: 6.00 − 2.00 = 4.00 fits; the same request again is the same meal.
    first = eat(ctx, t, "wang", "noodles", datetime(2026, 3, 10, 12))
    again = eat(ctx, t, "wang", "noodles", datetime(2026, 3, 10, 12))
    assert first == again and first.wallet_after_fen == 100
    with pytest.raises(IdempotencyConflict):  # the same txn id for another dish
        cs.pay_meal(
            ctx,
            BUREAU,
            canteen_id=t.canteen,
            resident_id=t.residents["wang"],
            dish_id=t.dishes["bun"],
            txn_id="wang-202603101200-noodles",
        )
    assert _counts(ctx)[0] == before[0] + 1


def test_the_supervision_lists_the_anomalies(ctx: Context) -> None:
    t = build_town(ctx)
    # 王 twice at one lunch, both subsidised (1.50 then the 0.50 left): "double".
    eat(ctx, t, "wang", "bun", datetime(2026, 3, 10, 12))
    eat(ctx, t, "wang", "noodles", datetime(2026, 3, 10, 12, 30))
    eat(ctx, t, "liu", "set", datetime(2026, 3, 10, 12))
    # A banquet far above the canteen's usual (median 12.00 → above 36.00 is listed).
    banquet = cs.set_dish(ctx, BUREAU, t.canteen, "寿宴", 5000)
    at(ctx, datetime(2026, 3, 10, 18))
    cs.pay_meal(
        ctx,
        BUREAU,
        canteen_id=t.canteen,
        resident_id=t.residents["zhao"],
        dish_id=banquet,
        txn_id="banquet",
    )
    # A 60+ subsidy to 刘 (45), as a counter system might upload it: "under_age".
    with ctx.db.begin() as conn:
        conn.execute(
            insert(CommunityMeal).values(
                region_id=t.region,
                canteen_id=t.canteen,
                resident_id=t.residents["liu"],
                dish_id=t.dishes["set"],
                txn_id="uploaded",
                request_hash="-",
                price_fen=1200,
                subsidy_fen=200,
                allowance_fen=200,
                wallet_fen=1000,
                delivery_fen=0,
                delivered=False,
                love=False,
                category="aged_60",
                age=45,
                rules_version=0,
                meal_day=date(2026, 3, 11),
                slot="lunch",
                paid_at=datetime(2026, 3, 11, 4),
                entry_id=0,
            )
        )
    seen = q.supervision(ctx, date(2026, 3, 1), date(2026, 3, 31))
    found = sorted((a["kind"], a["resident"]) for a in seen["anomalies"])
    assert found == [
        ("double", "王秀英"),
        ("double", "王秀英"),
        ("far_above", "赵桂兰"),
        ("under_age", "刘建军"),
    ]
    assert seen["totals"]["meals"] == 5
    # 1.50 + 0.50 (王) + 1.20 (刘) + 0 (赵) + 2.00 (the upload)
    assert seen["totals"]["subsidy_fen"] == 150 + 50 + 120 + 200
