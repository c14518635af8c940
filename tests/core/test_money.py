"""The one rounding rule and the one split: worked examples, then properties."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onecard.core.money import (
    MAX_AMOUNT_FEN,
    fee_half_up,
    fen_from_yuan,
    share_half_up,
    split_largest_remainder,
    yuan,
)


@pytest.mark.parametrize(
    ("total", "fee"),
    [
        (0, 0),
        (1, 0),  # 0.005 fen
        (99, 0),  # 0.495
        (100, 1),  # 0.5 exactly: half goes up
        (199, 1),  # 0.995
        (200, 1),  # 1.000
        (201, 1),  # 1.005
        (300, 2),  # 1.5 → 2
        (1_000_000_00, 500_000),  # 0.5% of a million yuan is 5,000 yuan
    ],
)
def test_fee_is_half_a_percent_rounded_half_up(total: int, fee: int) -> None:
    assert fee_half_up(total, 50) == fee


def test_fee_of_a_negative_base_is_refused() -> None:
    with pytest.raises(ValueError):
        fee_half_up(-1, 50)


@given(st.integers(0, 10**12), st.integers(0, 10_000))
def test_fee_is_the_exact_fee_rounded_half_up(total: int, bp: int) -> None:
    exact = Fraction(total * bp, 10_000)
    fee = fee_half_up(total, bp)
    assert exact - Fraction(1, 2) < fee <= exact + Fraction(1, 2)


@given(st.integers(0, 10**12), st.integers(0, 100))
def test_share_is_the_exact_share_rounded_half_up(total: int, pct: int) -> None:
    exact = Fraction(total * pct, 100)
    assert exact - Fraction(1, 2) < share_half_up(total, pct) <= exact + Fraction(1, 2)


def test_split_never_loses_a_fen() -> None:
    # The failure it prevents: a third each of 10 yuan is 3.33 + 3.33 + 3.33 = 9.99.
    assert split_largest_remainder(1000, [1, 1, 1]) == [334, 333, 333]
    assert split_largest_remainder(1000, [1, 2]) == [333, 667]
    assert split_largest_remainder(0, [5, 7]) == [0, 0]
    assert split_largest_remainder(7, [0, 3]) == [0, 7]


@settings(max_examples=300)
@given(
    st.integers(0, 10**10),
    st.lists(st.integers(0, 10**7), min_size=1, max_size=30).filter(lambda w: sum(w) > 0),
)
def test_split_parts_sum_to_the_total_each_within_a_fen(total: int, weights: list[int]) -> None:
    parts = split_largest_remainder(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    wsum = sum(weights)
    for part, w in zip(parts, weights, strict=True):
        exact = Fraction(total * w, wsum)
        assert abs(part - exact) < 1
        assert part >= 0
        if w == 0:
            assert part == 0


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_two_way_split_is_monotone_so_cumulative_refunds_never_go_negative(
    t: int, a: int, b: int
) -> None:
    """Refunds split the running total: each purse's share must never shrink as it grows."""
    if a + b == 0:
        return
    now = split_largest_remainder(t, [a, b])
    after = split_largest_remainder(t + 1, [a, b])
    assert after[0] >= now[0] and after[1] >= now[1]


@pytest.mark.parametrize(
    ("args", "why"), [((-1, [1]), "negative"), ((5, [0, 0]), "positive"), ((5, []), "positive")]
)
def test_split_refuses_nonsense(args: tuple[int, list[int]], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        split_largest_remainder(*args)


def test_yuan_is_for_display_only() -> None:
    assert yuan(0) == "0.00"
    assert yuan(5) == "0.05"
    assert yuan(123456) == "1234.56"
    assert yuan(-250) == "-2.50"


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0", 0), ("1", 100), ("1.5", 150), ("12.05", 1205), (" 8.50 ", 850), ("1,000.00", 100000)],
)
def test_typed_yuan_become_exact_fen(text: str, fen: int) -> None:
    assert fen_from_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1.005", "最多两位小数"),
        ("-1", "不能为负数"),
        ("abc", "应为金额"),
        ("1e3", "应为金额"),
        ("", "应为金额"),
        ("0.1.2", "应为金额"),
        ("１２", "应为金额"),  # full-width digits are not silently accepted
        ("100000000", "过大"),
    ],
)
def test_bad_typed_yuan_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        fen_from_yuan(text)


@given(st.integers(0, MAX_AMOUNT_FEN - 1))
def test_yuan_display_round_trips(fen: int) -> None:
    assert fen_from_yuan(yuan(fen)) == fen


def test_statements_group_thousands() -> None:
    assert yuan(1380000, grouped=True) == "13,800.00"
    assert yuan(-123456789, grouped=True) == "-1,234,567.89"
    assert yuan(5, grouped=True) == "0.05"
