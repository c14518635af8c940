"""Face pay at the browser till (刷脸, issue 15 §1): the canteen manager's /till takes a
still of the diner and pays through ``pay.face_pay`` as the till's terminal.

Diner a1 (unit A) is enrolled with the astronaut photograph; the till's terminal (canteen
A's) declares liveness detection. The cashier's attestation (收银员已核验本人在场) is the
liveness verdict; without it, without a face, or at a terminal without liveness nothing
is written. A twin template asks for the last 4 digits, and the same txn_id comes back
with them and the same picture. The ledger verifies after it all.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from faces.photos import VARIANTS, astronaut, coffee, descriptor, jpeg
from onecard.core.context import Context
from onecard.faces import service as faces
from onecard.ledger.models import JournalEntry
from onecard.ledger.verify import verify
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.pay.models import Payment
from web.pages import Staff, TestClient, sign_in
from world import World, fund, purse

SYSTEM = Actor.system("test")
TXN_RE = r'name="face_txn" value="(web-[0-9a-f]{20})"'


@pytest.fixture
def faced(ctx: Context, w: World, staff: Staff) -> World:
    with ctx.db.begin() as conn:
        for key, phone in (("a1", "13800001111"), ("a2", "13700004444")):
            conn.execute(update(Person).where(Person.id == w.people[key]).values(phone=phone))
    faces.enrol(ctx, SYSTEM, w.people["a1"], descriptor=list(descriptor("astronaut")), consent=True)
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, True)
    return w


def _photo() -> bytes:
    return jpeg(VARIANTS["mirrored"](astronaut()), max_side=480)


def _face(
    client: TestClient,
    token: str,
    w: World,
    picture: bytes | None,
    *,
    status: int = 200,
    attested: bool = True,
    **data: str,
) -> str:
    form = {"csrf_token": token, "canteen_id": str(w.canteens["A"]), **data}
    if attested:
        form["attested"] = "yes"
    files = {"photo": ("face.jpg", picture, "image/jpeg")} if picture is not None else None
    r = client.post("/till/face", data=form, files=files, headers={"HX-Request": "true"})
    assert r.status_code == status, r.text
    return r.text


def _state(ctx: Context, w: World) -> tuple[Any, ...]:
    with ctx.db.read() as conn:
        entries = conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        payments = conn.execute(select(func.count()).select_from(Payment)).scalar_one()
    return (entries, payments, *(purse(ctx, w, p) for p in sorted(w.people)))


def test_the_till_pays_by_face_and_reverses_it(
    ctx: Context, faced: World, client: TestClient
) -> None:
    w = faced
    token, _ = sign_in(client, ctx, "Scm")
    page = client.get("/till").text
    assert 'id="till-face"' in page and "收银员已核验本人在场" in page
    assert 'capture="user"' in page and 'formaction="/till/face"' in page
    before = purse(ctx, w, "a1")
    out = _face(client, token, w, _photo(), meal="lunch")
    assert 'data-result="approved"' in out and 'data-channel="face"' in out, out
    assert "张伟" in out and "刷脸支付" in out
    lunch = before[0] + before[1] - sum(purse(ctx, w, "a1"))
    assert lunch > 0
    with ctx.db.read() as conn:
        txn, kind = conn.execute(select(Payment.txn_id, Payment.credential_kind)).one()
    assert kind == "face" and txn.startswith("web-")
    # The day's list (out of band) has the payment with its reversal button.
    assert f'data-txn="{txn}"' in out and "button" in out and "reverse" in out
    # By amount as well — the till's pricing, not the face path's own.
    out = _face(client, token, w, _photo(), mode="amount", amount="3.50")
    assert 'data-result="approved"' in out and "¥3.50" in out
    assert sum(before) - sum(purse(ctx, w, "a1")) == lunch + 350
    # A card at the same till still pays (the form is multipart now; no picture sent).
    r = client.post(
        "/till/pay",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"]), "mode": "amount"}
        | {"amount": "1.00", "credential": w.cards["b1"]},
        headers={"HX-Request": "true"},
    )
    assert 'data-result="approved"' in r.text, r.text
    # The face payment is reversed from the day's list like any other.
    r = client.post(
        "/till/reverse",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"]), "txn_id": txn},
        headers={"HX-Request": "true"},
    )
    assert 'data-result="reversed"' in r.text
    assert sum(before) - sum(purse(ctx, w, "a1")) == 350
    with ctx.db.read() as conn:
        assert verify(conn).ok


def test_need_digits_then_the_same_txn_with_the_digits(
    ctx: Context, faced: World, client: TestClient
) -> None:
    """a2's template is almost a1's: the face alone cannot tell them apart."""
    import re

    w = faced
    fund(ctx, w, "a2", subsidy=1000)
    twin = [v + 0.01 for v in descriptor("astronaut")]
    faces.enrol(ctx, SYSTEM, w.people["a2"], descriptor=twin, consent=True)
    token, _ = sign_in(client, ctx, "Scm")
    before = _state(ctx, w)
    out = _face(client, token, w, _photo(), mode="amount", amount="2.00")
    assert 'data-result="need_digits"' in out and "后 4 位" in out
    assert 'id="face-digits-input"' in out and 'hx-swap-oob="true"' in out
    m = re.search(TXN_RE, out)
    assert m, out
    txn = m.group(1)
    assert _state(ctx, w) == before  # nothing recorded until the digits come
    # Sent again without the digits: asked again, still nothing recorded.
    wrong = _face(client, token, w, _photo(), mode="amount", amount="2.00", face_txn=txn)
    assert 'data-result="need_digits"' in wrong  # no digits sent: asked again
    out = _face(
        client, token, w, _photo(), mode="amount", amount="2.00", face_txn=txn, digits="4444"
    )
    assert 'data-result="approved"' in out and "王芳" in out, out
    assert 'id="face-digits-input"' not in out  # the field is gone with the answer
    assert purse(ctx, w, "a2") == (800, 0)
    # The same request again (a double press) replays the stored answer: paid once.
    again = _face(
        client, token, w, _photo(), mode="amount", amount="2.00", face_txn=txn, digits="4444"
    )
    assert 'data-result="approved"' in again
    assert purse(ctx, w, "a2") == (800, 0)
    with ctx.db.read() as conn:
        assert conn.execute(select(Payment.txn_id).where(Payment.txn_id == txn)).scalar() == txn
        assert verify(conn).ok


def test_without_the_cashiers_attestation_nothing_is_written(
    ctx: Context, faced: World, client: TestClient
) -> None:
    w = faced
    token, _ = sign_in(client, ctx, "Scm")
    before = _state(ctx, w)
    out = _face(client, token, w, _photo(), status=422, attested=False, meal="lunch")
    assert 'data-result="refused"' in out and "收银员已核验本人在场" in out
    assert 'data-kept="1"' in out
    assert _state(ctx, w) == before
    # In English, the English reason.
    client.cookies.set("lang", "en")
    out = _face(client, token, w, _photo(), status=422, attested=False, meal="lunch")
    assert "the cashier has checked the diner is present" in out
    assert _state(ctx, w) == before


def test_a_picture_without_a_face_is_a_422_with_nothing_written(
    ctx: Context, faced: World, client: TestClient
) -> None:
    w = faced
    token, _ = sign_in(client, ctx, "Scm")
    before = _state(ctx, w)
    for picture in (jpeg(coffee(), max_side=400), b"", None):
        out = _face(client, token, w, picture, status=422, meal="lunch")
        assert 'data-result="refused"' in out and "未检测到人脸" in out, out
    assert _state(ctx, w) == before
    # Without htmx: the whole till page, 422, the reason in the verdict box.
    r = client.post(
        "/till/face",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"]), "attested": "yes"}
        | {"meal": "lunch"},
        files={"photo": ("c.jpg", jpeg(coffee(), max_side=400), "image/jpeg")},
    )
    assert r.status_code == 422 and 'id="till-form"' in r.text and "未检测到人脸" in r.text
    assert _state(ctx, w) == before


def test_a_terminal_without_liveness_takes_no_face(
    ctx: Context, faced: World, client: TestClient
) -> None:
    w = faced
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, False)
    token, _ = sign_in(client, ctx, "Scm")
    page = client.get("/till").text
    assert 'id="till-face"' not in page and "/till/face" not in page
    before = _state(ctx, w)
    out = _face(client, token, w, _photo(), status=403, meal="lunch")
    assert "活体检测" in out and 'data-result="refused"' in out
    r = client.post(
        "/till/face",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"]), "attested": "yes"},
        files={"photo": ("a.jpg", _photo(), "image/jpeg")},
    )
    assert r.status_code == 403 and "活体检测" in r.text
    assert _state(ctx, w) == before
