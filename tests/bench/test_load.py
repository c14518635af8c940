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


def test_face_terminals_pay_by_face_for_the_enrolled_and_by_card_otherwise() -> None:
    import json

    import numpy as np

    from onecard.bench.face_rush import FaceRush
    from onecard.bench.load import FACE_PATH, PATH

    city = city_of(["ok"] * 6 + ["lost"])
    city.terminals[1].append(BenchTerminal(2, "T002", "key", 1))
    enrolled = {p.id: np.full(128, 0.1 * p.id, dtype=np.float32) for p in city.people[:3]}
    w = Workload(city, face=FaceRush({1}, "", enrolled))
    seen: Counter[str] = Counter()
    for _ in range(3000):
        pay = w.next("t")
        doc = json.loads(pay.body)
        if pay.kind == "face":
            assert pay.terminal.id == 1 and pay.expect == "approved"
            assert pay.wire.startswith(b"POST " + FACE_PATH)
            assert doc["liveness"] is True and "credential" not in doc
            assert len(doc["descriptor"]) == 128 and ("meal" in doc) != ("amount_fen" in doc)
            # Near the person's own descriptor, and the digits ready if the till asks.
            got = np.array(doc["descriptor"])
            person = min(enrolled, key=lambda i: float(np.linalg.norm(got - enrolled[i])))
            assert np.linalg.norm(got - enrolled[person]) < 0.6
            again = json.loads(pay.digits_wire.split(b"\r\n\r\n", 1)[1])
            assert again == {**doc, "digits": f"{person:07d}"[-4:]}
        else:
            assert pay.wire.startswith(b"POST " + PATH + b" ")
            doc_person = [p for p in city.people if p.card_no == doc["credential"]]
            if pay.terminal.id == 1 and doc_person and pay.expect == "approved":
                assert doc_person[0].id not in enrolled
        seen[pay.kind] += 1
    assert seen["face"] > 0 and seen["card"] > 0 and seen["code"] > 0
    # Without a FaceRush the rush is as before: no face payment at all.
    plain = Workload(city_of(["ok"] * 6))
    assert all(plain.next("t").kind != "face" for _ in range(500))
