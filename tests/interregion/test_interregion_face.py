"""Face pay across fund regions (issue 17 §2): a county person enrolled in the county's
gallery pays by face at a city canteen only under a dining agreement that covers them;
without one the face is not searched there (no match), as a card would be refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from faces.photos import descriptor
from interregion.test_interregion_dining import SYSTEM, agree, county_world, ledger_ok
from onecard.core.context import Context
from onecard.faces import service as faces
from onecard.pay.face_pay import FacePayment, face_pay
from world import fund


@pytest.fixture
def cw(ctx: Context) -> Any:
    w, c = county_world(ctx)
    fund(ctx, w, "a1", subsidy=2000)
    faces.enrol(ctx, SYSTEM, c.people["k1"], descriptor=list(descriptor("astronaut")), consent=True)
    faces.enrol(ctx, SYSTEM, w.people["a1"], descriptor=list(descriptor("grace")), consent=True)
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, True)
    return ctx, w, c


def by_face(ctx: Context, w: Any, txn: str, who: str) -> dict[str, Any]:
    fp = FacePayment(txn, True, descriptor=tuple(descriptor(who)), meal="lunch")
    return dict(json.loads(face_pay(ctx, w.terminals["A"], fp).body))


def test_a_county_face_pays_at_a_city_canteen_only_under_an_agreement(cw: Any) -> None:
    ctx, w, c = cw
    got = by_face(ctx, w, "f-none", "astronaut")
    assert (got["result"], got.get("payer")) == ("refused", None)  # not searched: no match
    agree(ctx, w, c, unit_ids=[c.units["L"]])  # covers the other county unit only
    assert by_face(ctx, w, "f-other-unit", "astronaut")["result"] == "refused"
    agree(ctx, w, c, unit_ids=[c.units["K"]])
    got = by_face(ctx, w, "f-agreed", "astronaut")
    assert got["result"] == "approved", got
    assert got["payer"]["name"] == "赵县一" and got["diner_class"] == "visitor"
    # The city's own enrolled diner is still found beside the county's people.
    got = by_face(ctx, w, "f-city", "grace")
    assert got["result"] == "approved" and got["diner_class"] == "own"
    ledger_ok(ctx)
