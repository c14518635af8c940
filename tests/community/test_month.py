"""A month of a community canteen computed by hand (issue 17 §4), checked to the fen.

Seed 003's rules (the defaults): 2 yuan per person per day for 60+ and under-14s (the
daily allowance), pre-1949 revolutionaries free, 三无 / 低保 / war-veteran elders 50% off,
soldiers 10% off, the best single category wins (never stacked), a 30-yuan daily cap,
love meals ≤ 8 yuan, 3 yuan delivery subsidy for disabled residents. Dishes: 营养套餐
12.00, 爱心餐 8.00 (a love meal), 臊子面 6.00, 包子 1.50. Every figure below is worked
out by hand in its comment, not by the code under test.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from onecard.community import claims as cc
from onecard.community import queries as q
from onecard.community.models import CommunityMeal
from onecard.core.context import Context
from onecard.ledger.service import account_id, balances
from onecard.ledger.verify import verify
from town import BUREAU, build_town, eat

M = datetime(2026, 3, 1)


def d(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, 0)


# (who, dish, when, delivered) → (subsidy, delivery subsidy, wallet part), by hand.
MONTH = [
    # 王 (60+): 12.00 − today's 2.00 allowance = 10.00 from the wallet.
    ("wang", "set", d(2, 12), False, (200, 0, 1000)),
    # 王 again that day: the allowance is used up → no subsidy, 6.00 from the wallet.
    ("wang", "noodles", d(2, 18), False, (0, 0, 600)),
    # 王 on the 4th (nothing on the 3rd): 2.00 again, not 4.00 — never carried over.
    ("wang", "love", d(4, 12), False, (200, 0, 600)),
    # 小明 (under 14): 6.00 − 2.00.
    ("ming", "noodles", d(2, 12), False, (200, 0, 400)),
    # 小明 breakfast: 包子 1.50 is all allowance (1.50 of the 2.00) → wallet 0.
    ("ming", "bun", d(3, 8), False, (150, 0, 0)),
    # 小明 lunch: 0.50 of the allowance left → 6.00 − 0.50 = 5.50.
    ("ming", "noodles", d(3, 12), False, (50, 0, 550)),
    # 李 (revolutionary + 60+): free beats 2.00 → 12.00 subsidy, 0 from the wallet …
    ("li", "set", d(5, 8), False, (1200, 0, 0)),
    ("li", "set", d(5, 12), False, (1200, 0, 0)),
    # … until the 30.00 daily cap: 24.00 used → 6.00 left → 12.00 − 6.00 = 6.00 paid.
    ("li", "set", d(5, 18), False, (600, 0, 600)),
    # 张 (三无 + 60+, two categories): 50% of 12.00 = 6.00 beats 2.00 → 6.00 each.
    ("zhang", "set", d(6, 12), False, (600, 0, 600)),
    # 张 dinner: 50% of 1.50 = 0.75 < the allowance min(2.00, 1.50) = 1.50 → 1.50.
    ("zhang", "bun", d(6, 18), False, (150, 0, 0)),
    # 刘 (soldier): 10% of 12.00 = 1.20.
    ("liu", "set", d(9, 12), False, (120, 0, 1080)),
    # 赵 (低保, but 56: the 50% is for elders) → nothing.
    ("zhao", "noodles", d(9, 12), False, (0, 0, 600)),
    # 陈 (disabled + 60+), a delivered love meal: 2.00 allowance + 3.00 delivery subsidy.
    ("chen", "love", d(10, 12), True, (200, 300, 600)),
    # 孙 (war veteran, 90): 50% of 8.00 = 4.00.
    ("sun", "love", d(11, 12), False, (400, 0, 400)),
]
APRIL = ("wang", "set", d(1, 12, month=4), False, (200, 0, 1000))

# The March claim: every meal with a subsidy or a delivery subsidy (王's dinner on the 2nd
# and 赵's noodles have none): 200+200+200+150+50+1200+1200+600+600+150+120+(200+300)+400.
CLAIM_FEN = 5570
SALES_FEN = 1000 + 600 + 600 + 400 + 0 + 550 + 0 + 0 + 600 + 600 + 0 + 1080 + 600 + 600 + 400


def test_a_month_of_a_community_canteen_to_the_fen(ctx: Context) -> None:
    fund = 10_000_000
    t = build_town(ctx, fund_fen=fund)
    for who, dish, when, delivered, (subsidy, delivery, wallet) in [*MONTH, APRIL]:
        paid = eat(ctx, t, who, dish, when, delivered)
        assert (paid.subsidy_fen, paid.delivery_fen, paid.wallet_fen) == (
            subsidy,
            delivery,
            wallet,
        ), (who, dish, when)

    claim_id = cc.build_claim(ctx, BUREAU, t.canteen, "2026-03")
    view = q.claim(ctx, claim_id)
    assert len(view.lines) == 13
    assert view.total_fen == CLAIM_FEN
    by_who = {(line["resident"], line["when"]): line for line in view.lines}
    chen = by_who[("陈淑珍", "2026-03-10 12:00")]
    assert (chen["subsidy_fen"], chen["delivery_fen"], chen["amount_fen"]) == (200, 300, 500)
    assert chen["category"] == "aged_60" and chen["delivered"]
    li = [line for line in view.lines if line["resident"] == "李德厚"]
    assert [line["category"] for line in li] == ["revolutionary"] * 3
    assert by_who[("张福贵", "2026-03-06 18:00")]["category"] == "aged_60"
    assert by_who[("张福贵", "2026-03-06 12:00")]["category"] == "sanwu"
    assert not [line for line in view.lines if line["resident"] == "赵桂兰"]

    # The bureau rejects 孙's line (with its reason) and approves the rest.
    sun = next(line for line in view.lines if line["resident"] == "孙志强")
    cc.decide_line(ctx, BUREAU, sun["id"], approve=False, reason="参战证明待复核")
    assert cc.approve_claim(ctx, BUREAU, claim_id) == (CLAIM_FEN - 400, 400)

    with ctx.db.read() as conn:
        acct = {
            k: account_id(conn, "community", t.canteen, k)
            for k in ("cc_sales", "cc_subsidy", "cc_due")
        }
        acct["fund"] = account_id(conn, "system", 0, "civil_subsidy")
        held = balances(conn, acct.values())
        assert held[acct["cc_sales"]] == SALES_FEN + 1000  # + April's wallet part
        assert held[acct["cc_subsidy"]] == 200  # April's meal: next month's claim
        assert held[acct["cc_due"]] == CLAIM_FEN - 400
        assert held[acct["fund"]] == fund - CLAIM_FEN - 200 + 400
        assert verify(conn).ok
        # The claim's lines are exactly March's subsidised meals.
        march = conn.execute(
            select(CommunityMeal.id).where(CommunityMeal.meal_day < datetime(2026, 4, 1).date())
        ).all()
        assert len(march) == len(MONTH)

    # Residents' wallets: 500.00 topped up, less what they paid.
    paid_by = {who: 0 for who in t.residents}
    for who, _, _, _, (_, _, wallet) in [*MONTH, APRIL]:
        paid_by[who] += wallet
    wallets = {r["id"]: r["wallet_fen"] for r in q.residents(ctx)}
    for who, rid in t.residents.items():
        assert wallets[rid] == 50_000 - paid_by[who], who
