"""Funding's own errors, rooted in ``core.errors`` so the web and CLI edges map them.

::

    InvalidInput ─ BadQuarter                 '2026Q5', '26Q1'
    StateConflict ─ DistributionExceedsFunds  a unit would get more than it paid
                  ─ MissingQualityScore       a canteen with a quality rule has no score
                  ─ MissingPayee              a canteen without a bank account to pay
                  ─ PersonNotLeft             a cash refund for someone still enrolled
"""

from __future__ import annotations

import re

from onecard.core.errors import InvalidInput, StateConflict

QUARTER_RE = re.compile(r"(20[0-9]{2})Q([1-4])")


class BadQuarter(InvalidInput):
    code = "bad_quarter"
    zh = "季度格式应为 2026Q1 这样的形式：{value}"
    en = "A quarter looks like 2026Q1: {value}"


class DistributionExceedsFunds(StateConflict):
    code = "distribution_exceeds_funds"
    zh = "{unit} 待分配 {need} 元，超过该单位已拨入未分配的 {have} 元"
    en = "{unit}: distribution of {need} yuan exceeds the {have} yuan the unit paid in"


class MissingQualityScore(StateConflict):
    code = "missing_quality_score"
    zh = "食堂 {canteen} 设有质量考核规则，但 {quarter} 尚未录入考核分数"
    en = "Canteen {canteen} has a quality rule but no score for {quarter}"


class MissingPayee(StateConflict):
    code = "missing_payee"
    zh = "食堂 {canteen} 未登记经营者收款账户，无法结算付款"
    en = "Canteen {canteen} has no operator bank account to pay"


class PersonNotLeft(StateConflict):
    code = "person_not_left"
    zh = "该人员尚未办理离职，现金余额不得退还（不得提现）"
    en = "This person has not left; cash cannot be paid out"


def check_quarter(q: str) -> str:
    if not isinstance(q, str) or not QUARTER_RE.fullmatch(q):
        raise BadQuarter(value=q)
    return q
