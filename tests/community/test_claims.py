"""A claim once approved is final; the yearly rating's score, grade and subsidy."""

from __future__ import annotations

from datetime import datetime

import pytest

from onecard.community import claims as cc
from onecard.community import queries as q
from onecard.community.claims import score_parts
from onecard.core.context import Context
from onecard.core.errors import ClaimDecided, InvalidInput, StateConflict
from onecard.ledger.service import account_id, balances
from town import BUREAU, build_town, eat


def test_an_approved_claim_takes_no_more_changes(ctx: Context) -> None:
    t = build_town(ctx)
    eat(ctx, t, "wang", "set", datetime(2026, 3, 2, 12))
    claim = cc.build_claim(ctx, BUREAU, t.canteen, "2026-03")
    assert cc.build_claim(ctx, BUREAU, t.canteen, "2026-03") == claim  # again: the same
    line = q.claim(ctx, claim).lines[0]["id"]
    with pytest.raises(InvalidInput):  # a rejection needs its reason
        cc.decide_line(ctx, BUREAU, line, approve=False)
    assert cc.approve_claim(ctx, BUREAU, claim) == (200, 0)
    with pytest.raises(ClaimDecided):
        cc.approve_claim(ctx, BUREAU, claim)
    with pytest.raises(ClaimDecided):
        cc.decide_line(ctx, BUREAU, line, approve=False, reason="晚了")
    with pytest.raises(ClaimDecided):
        cc.build_claim(ctx, BUREAU, t.canteen, "2026-03")
    with pytest.raises(InvalidInput):
        cc.build_claim(ctx, BUREAU, t.canteen, "2026-3")


def test_the_score_by_hand() -> None:
    # 36,500 meals in 365 days = 100 a day → 40; 80% satisfied → 32; 9,125 of 36,500
    # subsidised = 25% of the 50% for full marks → 10.
    assert score_parts(36_500, 365, 80, 9_125) == (40, 32, 10)
    # 10 meals: 10·40 // 36,500 = 0; 6 of 10 special = 60% ≥ 50% → 20.
    assert score_parts(10, 365, 100, 6) == (0, 40, 20)


def test_a_yearly_rating_books_its_subsidy_once(ctx: Context) -> None:
    t = build_town(ctx)
    for who in ("wang", "ming", "li", "liu", "zhao"):  # 4 of 5 subsidised
        eat(ctx, t, who, "noodles", datetime(2026, 3, 2, 12))
    # 0 + 40 (100% satisfied) + 20 (80% special) = 60 → A → 30,000.00 yuan.
    assert cc.rate_canteen(ctx, BUREAU, t.canteen, 2026, 100) == (60, "A", 3_000_000)
    with pytest.raises(StateConflict):
        cc.rate_canteen(ctx, BUREAU, t.canteen, 2026, 100)
    # 0 + 38 + 0 → none, nothing booked.
    assert cc.rate_canteen(ctx, BUREAU, t.canteen, 2025, 95) == (38, None, 0)
    with ctx.db.read() as conn:
        due = account_id(conn, "community", t.canteen, "cc_due")
        assert balances(conn, [due])[due] == 3_000_000
    # The rating shown is the newest year's (2026: A), not the last one computed.
    assert [c["rating"] for c in q.canteens(ctx)] == ["A"]
