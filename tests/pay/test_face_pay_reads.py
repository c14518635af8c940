"""What a face payment reads before its payment's own transaction: the replay, the
canteen's row with the fund-map version beside it (no query of its own for the version),
and the accepted agreements only where there is more than one fund region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from faces.photos import descriptor
from onecard.core.context import Context
from onecard.faces import service as faces
from onecard.org.actors import Actor
from onecard.pay.face_pay import FacePayment, face_pay
from world import build_world, fund

SYSTEM = Actor.system("test")


@contextmanager
def statements(ctx: Context) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, stmt: str, *_a: Any) -> None:
        seen.append(" ".join(stmt.split()))

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)


def test_a_face_payment_reads_the_fund_map_version_with_the_canteen(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=2000)
    faces.enrol(ctx, SYSTEM, w.people["a1"], descriptor=list(descriptor("astronaut")), consent=True)
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, True)
    probe = tuple(descriptor("astronaut"))
    # The first payment builds the caches (fund map, gallery); the second is timed.
    first = face_pay(
        ctx, w.terminals["A"], FacePayment("warm", True, descriptor=probe, meal="lunch")
    )
    assert json.loads(first.body)["result"] == "approved"
    with statements(ctx) as seen:
        fp = FacePayment("timed", True, descriptor=probe, amount_fen=100)
        assert json.loads(face_pay(ctx, w.terminals["A"], fp).body)["result"] == "approved"
    versions = [s for s in seen if "interregion_fund_version" in s]
    assert versions, seen
    # Every read of the version is one with a canteen's row: face pay's and the payment's.
    assert all(" canteens" in s for s in versions), versions
    assert len(versions) == 2, versions
    # A single fund region: no agreement is read.
    assert not [s for s in seen if "interregion_agreements" in s]
