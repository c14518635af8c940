"""The simulated terminals' workload: what it pays with, and what it expects back."""

from __future__ import annotations

from collections import Counter

from onecard.bench.city import BenchCity, BenchPerson, BenchTerminal
from onecard.bench.load import Workload


def city_of(kinds: list[str]) -> BenchCity:
    people = [
        BenchPerson(
            i + 1, 1, f"C{i:05d}", f"{10000000 + i}", "JBSWY3DPEHPK3PXP" * 2, kind, 54000, 0
        )
        for i, kind in enumerate(kinds)
    ]
    terminal = BenchTerminal(1, "T001", "key", 1)
    return BenchCity(
        url="postgresql://postgres@127.0.0.1:5432/x",
        region_id=1,
        quarter="2026Q4",
        people=people,
        terminals={1: [terminal]},
        canteen_of_unit={1: 1},
        canteen_ids=[1],
        lunch_price={1: (1000, 1200, 1500)},
    )


def test_refusals_come_only_from_lost_cards_and_empty_purses() -> None:
    w = Workload(city_of(["ok"] * 8 + ["lost", "poor"]))
    by_kind: Counter[tuple[str, str]] = Counter()
    kind_of = {p.card_no: p.kind for p in w.city.people}
    for _ in range(5000):
        pay = w.next("t")
        card = pay.body.split(b'"credential":"')[1].split(b'"')[0].decode()
        by_kind[(kind_of.get(card, "ok"), pay.expect)] += 1
    assert by_kind[("lost", "refused")] > 0 and by_kind[("poor", "refused")] > 0
    assert by_kind[("ok", "refused")] == 0
    assert by_kind[("lost", "approved")] == by_kind[("poor", "approved")] == 0


def test_a_city_without_lost_cards_or_empty_purses_expects_no_refusal() -> None:
    """No ordinary diner stands in for them (their purse would drain and their own
    payments then be refused unexpectedly)."""
    w = Workload(city_of(["ok"] * 10))
    payments = [w.next("t") for _ in range(2000)]
    assert all(p.expect == "approved" for p in payments)
