"""Who took a payment at the browser till (``pay.cashiers``, migration 0035).

The till signs every payment as the canteen's one till terminal; the signed-in cashier
is kept with each payment it records (approved or refused), and for face pay that the
cashier attested the diner was present. The day's list and the shift report say who; a
replay writes nothing more; a payment the terminal's own API took has no cashier.
"""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from faces.photos import VARIANTS, astronaut, descriptor, jpeg
from onecard.core.context import Context
from onecard.faces import service as faces
from onecard.ledger.verify import verify
from onecard.org.actors import Actor
from onecard.pay.models import Payment, PaymentCashier
from onecard.pay.service import PaymentRequest, pay
from web.pages import Staff, TestClient, sign_in
from world import World

SYSTEM = Actor.system("test")


@pytest.fixture
def faced(ctx: Context, w: World, staff: Staff) -> World:
    faces.enrol(ctx, SYSTEM, w.people["a1"], descriptor=list(descriptor("astronaut")), consent=True)
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, True)
    return w


def _post(client: TestClient, path: str, data: dict[str, str], **kw: object) -> str:
    r = client.post(path, data=data, headers={"HX-Request": "true"}, **kw)  # type: ignore[arg-type]
    assert r.status_code in (200, 402, 409, 422), r.text
    return r.text


def _cashiers(ctx: Context) -> dict[str, tuple[int, bool]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Payment.credential_kind, PaymentCashier.cashier_id, PaymentCashier.face_attested)
            .join(PaymentCashier, PaymentCashier.payment_id == Payment.id)
            .order_by(Payment.id)
        ).all()
    return {f"{i}:{r.credential_kind}": (r.cashier_id, r.face_attested) for i, r in enumerate(rows)}


def test_the_till_keeps_its_cashier_and_who_attested_a_face(
    ctx: Context, faced: World, client: TestClient
) -> None:
    w = faced
    cm = w.people["cm"]
    token, _ = sign_in(client, ctx, "Scm")
    base = {"csrf_token": token, "canteen_id": str(w.canteens["A"])}
    card = base | {"mode": "amount", "amount": "1.00", "credential": w.cards["b1"]}
    out = _post(client, "/till/pay", card)
    assert 'data-result="approved"' in out
    assert "收银 职员cm" in out  # the day's list says who took it
    # A refusal is a decision record too: its cashier is kept.
    short = card | {"amount": "9999.00"}
    assert 'data-result="refused"' in _post(client, "/till/pay", short)
    photo = jpeg(VARIANTS["mirrored"](astronaut()), max_side=480)
    face = base | {"mode": "amount", "amount": "2.00", "attested": "yes"}
    out = _post(client, "/till/face", face, files={"photo": ("f.jpg", photo, "image/jpeg")})
    assert 'data-result="approved"' in out and "刷脸核验 职员cm" in out
    kept = _cashiers(ctx)
    assert list(kept.values()) == [(cm, False), (cm, False), (cm, True)]
    assert [k.split(":")[1] for k in kept] == ["card", "card", "face"]
    # The terminal's own API names no cashier.
    api = pay(ctx, w.terminals["A"], PaymentRequest("api-1", w.cards["b1"], amount_fen=50))
    assert api.approved
    assert len(_cashiers(ctx)) == 3

    report = client.get(f"/till/report?canteen_id={w.canteens['A']}").text
    table = report.split('id="by-cashier"')[1].split("</table>")[0]
    # 职员cm: two approved (the card and the face; a refusal takes no money), one face.
    assert "职员cm" in table and "3.00" in table and "消费机自助" in table and "0.50" in table
    sheet = client.get(f"/till/report?canteen_id={w.canteens['A']}&fmt=xlsx")
    ws = load_workbook(io.BytesIO(sheet.content)).active
    assert ws is not None
    rows = {r[2]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["收银员 职员cm"][3:6] == (2, 3.0, None) and rows["消费机自助"][3:5] == (1, 0.5)
    lines = report.split('id="shift-lines"')[1]
    assert "刷脸核验 职员cm" in lines
    with ctx.db.read() as conn:
        assert verify(conn).ok


def test_a_replayed_face_payment_keeps_its_first_cashier(
    ctx: Context, faced: World, client: TestClient
) -> None:
    """The same face request again (a double press with the same txn) replays the stored
    answer and writes no second cashier row."""
    w = faced
    token, _ = sign_in(client, ctx, "Scm")
    photo = jpeg(VARIANTS["mirrored"](astronaut()), max_side=480)
    txn = "web-" + "a" * 20
    form = {"csrf_token": token, "canteen_id": str(w.canteens["A"]), "attested": "yes"}
    form |= {"mode": "amount", "amount": "2.00", "face_txn": txn}
    for _ in range(2):
        out = _post(client, "/till/face", form, files={"photo": ("f.jpg", photo, "image/jpeg")})
        assert 'data-result="approved"' in out
    with ctx.db.read() as conn:
        rows = conn.execute(select(PaymentCashier.payment_id)).all()
        assert len(rows) == 1
        assert verify(conn).ok
