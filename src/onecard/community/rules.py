"""The civil affairs bureau's rules for community canteens (R-C1..R-C3, R-C5) and the one
pure function that applies them to a meal.

Contract:
- ``Rules`` holds every figure and choice; ``DEFAULT`` is seed 003 (Taiyuan): 2 yuan per
  person per day for residents aged 60 and over and children under 14 (the *daily
  allowance*), free meals for pre-1949 revolutionaries, 50% off for 三无, 低保 and
  war-veteran *elders* (aged 60 and over), 10% off for serving and retired soldiers, love
  meals at most 8 yuan, 3 yuan delivery subsidy per delivered meal for disabled and
  semi-disabled residents, A/AA/AAA operating subsidies of 30,000 / 60,000 / 90,000 yuan
  a year. ``Rules.to_json`` / ``Rules.from_json`` are how a version is stored.
- ``meal_subsidy(rules, categories, age, price, used)`` is the subsidy of one meal: each
  category the resident holds *and meets on that day* offers an amount (the allowance:
  what is left of today's 2 yuan, at most the price; a discount: the percentage of the
  price, half-up to the fen); the rule's ``precedence`` says which one wins — ``best``
  (the largest; a tie goes to the category earlier in ``order``) or ``order`` (the first
  category in ``order`` the resident holds and meets, whatever it offers) — and never
  more than one unless ``stack`` is set (then the offers add up, at most the price).
  Whatever wins is then capped by what is left of ``daily_cap_fen`` for the day. Nothing
  is carried over: ``used`` is today's, and a new day starts from zero.
- The delivery subsidy is separate (paid for the delivery, not the meal): a delivered
  meal of a resident in a ``delivery_categories`` category gets ``delivery_subsidy_fen``;
  it is not part of the daily cap.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from onecard.core.errors import InvalidInput
from onecard.core.money import share_half_up

# Categories a resident may hold, in the default order of precedence for ``order``.
CATEGORIES = (
    "revolutionary",  # 建国前参加革命的老人
    "sanwu",  # “三无”老人
    "dibao",  # 低保老人
    "veteran",  # 参军参战老人
    "soldier",  # 现（退）役军人
    "aged_60",  # 60 周岁以上老人
    "child_14",  # 14 周岁以下儿童
    "disabled",  # 失能、半失能老人
)
AGE_CATEGORIES = ("aged_60", "child_14")
PRECEDENCES = ("best", "order")
GRADES = ("A", "AA", "AAA")


@dataclass(frozen=True)
class Rules:
    allowance_fen: int = 200
    allowance_categories: tuple[str, ...] = AGE_CATEGORIES
    discounts: dict[str, int] = field(
        default_factory=lambda: {
            "revolutionary": 100,
            "sanwu": 50,
            "dibao": 50,
            "veteran": 50,
            "soldier": 10,
        }
    )
    # Discounts the seed gives to *elders* only (“三无”、低保、参军参战老人).
    elder_only: tuple[str, ...] = ("sanwu", "dibao", "veteran")
    precedence: str = "best"
    order: tuple[str, ...] = CATEGORIES
    stack: bool = False
    daily_cap_fen: int = 3000
    love_meal_cap_fen: int = 800
    delivery_subsidy_fen: int = 300
    delivery_categories: tuple[str, ...] = ("disabled",)
    elder_age: int = 60
    child_age: int = 14
    rating_fen: dict[str, int] = field(
        default_factory=lambda: {"A": 3_000_000, "AA": 6_000_000, "AAA": 9_000_000}
    )

    def check(self) -> Rules:
        """The rules themselves are sane (else ``InvalidInput``); returns them."""
        amounts = [
            self.allowance_fen,
            self.daily_cap_fen,
            self.love_meal_cap_fen,
            self.delivery_subsidy_fen,
        ]
        if any(type(a) is not int or a < 0 for a in amounts):
            raise InvalidInput("金额须为不小于 0 的整数（分）")
        if self.precedence not in PRECEDENCES:
            raise InvalidInput(f"precedence 须为 {'/'.join(PRECEDENCES)}")
        named = set(self.discounts) | set(self.allowance_categories) | set(self.order)
        named |= set(self.elder_only) | set(self.delivery_categories)
        if not named <= set(CATEGORIES):
            raise InvalidInput(f"未知类别：{sorted(named - set(CATEGORIES))}")
        if any(type(p) is not int or not 0 <= p <= 100 for p in self.discounts.values()):
            raise InvalidInput("折扣须为 0–100 的整数（减免百分比）")
        if set(self.rating_fen) != set(GRADES) or any(
            type(v) is not int or v < 0 for v in self.rating_fen.values()
        ):
            raise InvalidInput("评级补贴须给出 A、AA、AAA 三级的金额（分）")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Rules:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rules:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"未知规则项：{sorted(unknown)}")
        tuples = {
            k: tuple(v)
            for k, v in data.items()
            if k in ("allowance_categories", "elder_only", "order", "delivery_categories")
        }
        return replace(cls(), **{**data, **tuples}).check()


DEFAULT = Rules()


@dataclass(frozen=True)
class Used:
    """What a resident already received today (before this meal)."""

    allowance_fen: int = 0
    subsidy_fen: int = 0


@dataclass(frozen=True)
class Subsidy:
    subsidy_fen: int  # taken off the meal's price, paid by the civil affairs bureau
    allowance_fen: int  # the part of it that used today's daily allowance
    category: str  # the winning category ('' for none; 'a+b' when stacked)


def meets(rules: Rules, category: str, age: int) -> bool:
    """Does a resident of ``age`` meet ``category`` on the day (age limits only)?"""
    if category == "aged_60" or category in rules.elder_only:
        return age >= rules.elder_age
    if category == "child_14":
        return age < rules.child_age
    return True


def meal_subsidy(
    rules: Rules, categories: frozenset[str], age: int, price_fen: int, used: Used
) -> Subsidy:
    offers: list[tuple[str, int, int]] = []  # category, amount, of which allowance
    for c in sorted(categories, key=_rank(rules)):
        if not meets(rules, c, age):
            continue
        if c in rules.allowance_categories:
            left = max(0, rules.allowance_fen - used.allowance_fen)
            amount = min(left, price_fen)
            offers.append((c, amount, amount))
        elif c in rules.discounts:
            offers.append((c, min(price_fen, share_half_up(price_fen, rules.discounts[c])), 0))
    if not offers:
        return Subsidy(0, 0, "")
    if rules.stack:
        # The allowance is counted once even when two age categories are held.
        allowance = max((a for _, _, a in offers), default=0)
        discount = sum(amount for _, amount, a in offers if a == 0)
        total = min(price_fen, allowance + discount)
        names = "+".join(c for c, amount, _ in offers if amount > 0)
        chosen = (names, total, min(allowance, total))
    elif rules.precedence == "best":
        # ``offers`` is in precedence order and ``max`` keeps the first of equals.
        chosen = max(offers, key=lambda o: o[1])
    else:
        chosen = offers[0]
    category, amount, allowance = chosen
    cap_left = max(0, rules.daily_cap_fen - used.subsidy_fen)
    amount = min(amount, cap_left)
    return Subsidy(amount, min(allowance, amount), category if amount > 0 else "")


def delivery_subsidy(rules: Rules, categories: frozenset[str], delivered: bool) -> int:
    if delivered and categories & set(rules.delivery_categories):
        return rules.delivery_subsidy_fen
    return 0


def _rank(rules: Rules) -> Any:
    order = {c: i for i, c in enumerate(rules.order)}
    return lambda c: (order.get(c, len(order)), c)
