"""The demo city has a community canteen with residents of every category and last
month's subsidy claim open for the bureau to review."""

from __future__ import annotations

from onecard.community import queries as q
from onecard.community.rules import CATEGORIES
from onecard.core.context import Context
from onecard.demo import build_demo


def test_the_demo_has_a_community_month_to_review(ctx: Context) -> None:
    city = build_demo(ctx, staff=60, history_days=1)
    assert city.counts["community_meals"] > 0
    held = {c for r in q.residents(ctx) for c in r["categories"]}
    assert held == set(CATEGORIES)
    (claim,) = q.claims(ctx)
    assert claim["month"] == "2026-02" and claim["status"] == "open"
    view = q.claim(ctx, claim["id"])
    # Every line is one subsidised meal: its amount is the meal's subsidy and delivery.
    assert view.lines and all(
        line["amount_fen"] == line["subsidy_fen"] + line["delivery_fen"] > 0 for line in view.lines
    )
    assert any(line["delivered"] for line in view.lines)
    assert {line["category"] for line in view.lines} >= {"revolutionary", "sanwu", "soldier"}
