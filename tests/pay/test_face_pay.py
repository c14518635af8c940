"""Face pay through the terminal API (刷脸支付): the face credential into the one decision core.

Diner a1 (unit A) is enrolled with the astronaut photograph, b1 (unit B) with Grace
Hopper's; terminal A (canteen A, serving visitors) declares liveness detection. A
mirrored or rescaled JPEG — or the terminal's own descriptor — pays as that person;
a picture with no face is a clear 422 with nothing written; a terminal without
liveness is refused; ambiguity asks for the last 4 phone digits and records nothing
until they come; the ledger verifies after it all.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from faces.photos import VARIANTS, astronaut, coffee, descriptor, grace_hopper, jpeg
from onecard.core.context import Context
from onecard.faces import service as faces
from onecard.ledger.models import JournalEntry
from onecard.ledger.verify import verify
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person
from onecard.pay.models import Payment
from onecard.web.app import create_app
from world import World, build_world, fund, purse

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FACE = "/api/v1/terminal/face-payments"
SYSTEM = Actor.system("test")


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=2000, cash=500)
    fund(ctx, world, "b1", subsidy=2000)
    with ctx.db.begin() as conn:
        for key, phone in (("a1", "13800001111"), ("a2", "13700004444"), ("b1", "13900002222")):
            conn.execute(update(Person).where(Person.id == world.people[key]).values(phone=phone))
    for key, person in (("a1", "astronaut"), ("b1", "grace")):
        faces.enrol(
            ctx, SYSTEM, world.people[key], descriptor=list(descriptor(person)), consent=True
        )
    faces.set_liveness(ctx, SYSTEM, world.terminals["A"].code, True)
    return world


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def auth(w: World, terminal: str = "A") -> dict[str, str]:
    return {"Authorization": f"Terminal {w.terminals[terminal].code}:{w.keys[terminal]}"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def state(ctx: Context, w: World) -> tuple[Any, ...]:
    with ctx.db.read() as conn:
        entries = conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        payments = conn.execute(select(func.count()).select_from(Payment)).scalar_one()
    return (entries, payments, *(purse(ctx, w, p) for p in sorted(w.people)))


def face_body(txn: str, **kw: Any) -> dict[str, Any]:
    return {"txn_id": txn, "liveness": True, "amount_fen": 300, **kw}


def test_a_changed_photograph_pays_as_its_person(
    ctx: Context, w: World, client: TestClient
) -> None:
    mirrored = jpeg(VARIANTS["mirrored"](astronaut()), max_side=400)
    assert len(b64(mirrored)) < 60_000
    r = client.post(FACE, json=face_body("f-1", image_b64=b64(mirrored)), headers=auth(w))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["result"] == "approved" and body["payer"]["name"] == "张伟"
    assert body["diner_class"] == "own" and body["amount_fen"] == 300
    assert purse(ctx, w, "a1") == (1700, 500)
    with ctx.db.read() as conn:
        kind = conn.execute(select(Payment.credential_kind).where(Payment.txn_id == "f-1")).scalar()
    assert kind == "face"
    # A retry of the same request is the same answer, byte for byte, and pays once.
    again = client.post(FACE, json=face_body("f-1", image_b64=b64(mirrored)), headers=auth(w))
    assert again.content == r.content
    assert purse(ctx, w, "a1") == (1700, 500)
    # Grace Hopper, half size, from another unit: a visitor at canteen A.
    half = jpeg(VARIANTS["half size"](grace_hopper()))
    r = client.post(FACE, json=face_body("f-2", image_b64=b64(half)), headers=auth(w))
    assert r.json()["result"] == "approved" and r.json()["diner_class"] == "visitor"
    assert r.json()["payer"]["name"] == "李娜"
    # The terminal's own descriptor of a darker copy.
    r = client.post(
        FACE,
        json=face_body("f-3", descriptor=list(descriptor("astronaut", "darker (γ 1.8)"))),
        headers=auth(w),
    )
    assert r.json()["result"] == "approved" and r.json()["payer"]["name"] == "张伟"
    with ctx.db.read() as conn:
        assert verify(conn).ok


def test_a_picture_without_a_face_is_a_clear_422_with_nothing_written(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = state(ctx, w)
    for picture in (jpeg(coffee(), max_side=400), b"GIF89a not really", b""):
        r = client.post(FACE, json=face_body("f-x", image_b64=b64(picture)), headers=auth(w))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "no_face"
        assert "人脸" in r.json()["error"]["message"]
    r = client.post(FACE, json=face_body("f-x", image_b64="@@not base64@@"), headers=auth(w))
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_face"
    r = client.post(FACE, json=face_body("f-x", descriptor=[2.0] * 128), headers=auth(w))
    assert r.status_code == 422
    too_long = face_body("f-x", image_b64="A" * 60_004)  # a 422, not the JSON body's 413
    assert client.post(FACE, json=too_long, headers=auth(w)).status_code == 422
    both = face_body("f-x", descriptor=list(descriptor("grace")), image_b64=b64(b"x"))
    assert client.post(FACE, json=both, headers=auth(w)).status_code == 422
    assert state(ctx, w) == before


def test_a_terminal_without_liveness_cannot_take_faces(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = state(ctx, w)
    body = face_body("f-b", descriptor=list(descriptor("grace")))
    r = client.post(FACE, json=body, headers=auth(w, "B"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "face_pay_not_enabled"
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, False)
    r = client.post(FACE, json=body, headers=auth(w, "A"))
    assert r.status_code == 403
    assert state(ctx, w) == before


def test_a_failed_liveness_check_is_a_recorded_refusal(
    ctx: Context, w: World, client: TestClient
) -> None:
    body = face_body("f-l", descriptor=list(descriptor("grace")), liveness=False)
    r = client.post(FACE, json=body, headers=auth(w))
    assert r.status_code == 200
    assert r.json()["result"] == "refused" and r.json()["code"] == "face_not_live"
    assert purse(ctx, w, "b1") == (2000, 0)
    assert client.post(FACE, json=body, headers=auth(w)).content == r.content


def test_an_unknown_face_or_one_the_canteen_does_not_serve_is_refused(
    ctx: Context, w: World, client: TestClient
) -> None:
    stranger = [-v for v in descriptor("astronaut")]
    r = client.post(FACE, json=face_body("f-u", descriptor=stranger), headers=auth(w))
    assert r.json()["result"] == "refused" and r.json()["code"] == "face_not_recognised"
    with ctx.db.begin() as conn:
        conn.execute(
            update(Canteen).where(Canteen.id == w.canteens["A"]).values(serves_visitors=False)
        )
    r = client.post(
        FACE,
        json=face_body("f-v", descriptor=list(descriptor("grace", "mirrored"))),
        headers=auth(w),
    )
    assert r.json()["code"] == "face_not_recognised"  # b1 is not among canteen A's people
    assert purse(ctx, w, "b1") == (2000, 0)


def test_a_thin_margin_asks_for_the_phone_digits(
    ctx: Context, w: World, client: TestClient
) -> None:
    """a2's template is almost a1's: the face alone cannot tell them apart."""
    fund(ctx, w, "a2", subsidy=1000)
    twin = [v + 0.01 for v in descriptor("astronaut")]
    faces.enrol(ctx, SYSTEM, w.people["a2"], descriptor=twin, consent=True)
    before = state(ctx, w)
    probe = list(descriptor("astronaut", "mirrored"))
    r = client.post(FACE, json=face_body("f-t", descriptor=probe), headers=auth(w))
    assert r.status_code == 200
    assert r.json()["result"] == "need_digits" and "4" in r.json()["message"]
    assert "payer" not in r.json()
    assert state(ctx, w) == before  # nothing recorded: the same txn_id comes back with digits
    r = client.post(FACE, json=face_body("f-t", descriptor=probe, digits="4444"), headers=auth(w))
    assert r.json()["result"] == "approved" and r.json()["payer"]["name"] == "王芳"
    wrong = face_body("f-w", descriptor=probe, digits="0000")
    assert client.post(FACE, json=wrong, headers=auth(w)).json()["code"] == "face_not_recognised"
    bad = face_body("f-z", descriptor=probe, digits="12a4")
    assert client.post(FACE, json=bad, headers=auth(w)).status_code == 422
    with ctx.db.read() as conn:
        assert verify(conn).ok


def test_a_large_gallery_always_asks_for_the_digits(ctx: Context, w: World) -> None:
    from onecard.pay.face_pay import FacePayment, face_pay

    small = type(ctx)(
        db=ctx.db,
        clock=ctx.clock,
        settings=ctx.settings.model_copy(update={"face_digits_above": 1}),
    )
    t = w.terminals["A"]
    probe = descriptor("grace", "1.5× size")
    out = face_pay(small, t, FacePayment("f-g", True, descriptor=probe, amount_fen=100))
    assert out.data["result"] == "need_digits"
    out = face_pay(
        small, t, FacePayment("f-g", True, descriptor=probe, digits="2222", amount_fen=100)
    )
    assert out.approved and out.data["payer"]["name"] == "李娜"


def test_withdrawing_consent_stops_face_pay_at_once(
    ctx: Context, w: World, client: TestClient
) -> None:
    from web.pages import add_staff, sign_in

    add_staff(ctx, w)
    body = face_body("f-w1", descriptor=list(descriptor("grace", "lighter (γ 0.55)")))
    assert client.post(FACE, json=body, headers=auth(w)).json()["result"] == "approved"
    with TestClient(create_app(ctx)) as diner:
        sign_in(diner, ctx, "Sb1")
        pid = w.people["b1"]
        assert diner.get(f"/api/v1/people/{pid}/face").json()["enrolled"] is True
        assert diner.get(f"/api/v1/people/{w.people['a1']}/face").status_code == 403
        r = diner.delete(f"/api/v1/people/{pid}/face")
        assert r.status_code == 200 and r.json()["deleted"] is True
        assert diner.get(f"/api/v1/people/{pid}/face").json() == {
            "person_id": pid,
            "consent": False,
            "consent_at": None,
            "enrolled": False,
            "enrolled_at": None,
        }
    body = face_body("f-w2", descriptor=list(descriptor("grace", "lighter (γ 0.55)")))
    assert client.post(FACE, json=body, headers=auth(w)).json()["code"] == "face_not_recognised"
