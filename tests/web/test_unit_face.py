"""A unit admin enrols a person's face on the person's page: the notice (purpose,
retention) is shown; the photo needs the paper consent box unless a consent is open; a
faceless photo is answered on the page with nothing written; withdrawing deletes."""

from __future__ import annotations

from sqlalchemy import func, select

from faces.photos import astronaut, coffee, jpeg
from onecard.audit.models import AuditEvent
from onecard.core.context import Context
from onecard.faces.models import FaceConsent, FaceTemplate
from web.pages import Staff, TestClient, sign_in
from world import World


def counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (FaceTemplate, FaceConsent, AuditEvent)
        )


def test_a_unit_admin_enrols_and_withdraws_a_persons_face(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sua")
    base = f"/unit/{w.units['A']}/people/{w.people['a1']}"
    page = client.get(base)
    assert page.status_code == 200
    for phrase in ("刷脸支付", "用途", "保存期限", "纸质告知书", "未登记人脸", 'id="face-form"'):
        assert phrase in page.text, phrase
    before = counts(ctx)

    def post(photo: bytes, consent: bool) -> str:
        data = {"csrf_token": token, **({"consent": "paper"} if consent else {})}
        r = client.post(base + "/face", data=data, files={"photo": ("a.jpg", photo, "image/jpeg")})
        return f"{r.status_code} {r.text}"

    no_consent = post(jpeg(astronaut()), consent=False)
    assert no_consent.startswith("409") and "同意" in no_consent  # face_consent_required
    no_face = post(jpeg(coffee()), consent=True)
    assert no_face.startswith("422") and "未检测到人脸" in no_face
    assert counts(ctx) == before
    done = post(jpeg(astronaut()), consent=True)
    assert done.startswith("200") and "人脸已登记" in done and "单位代录纸质同意" in done
    with ctx.db.read() as conn:
        via = conn.execute(select(FaceConsent.given_via)).scalar_one()
    assert via == "admin"
    t, c, a = counts(ctx)
    assert (t, c, a) == (before[0] + 1, before[1] + 1, before[2] + 2)  # consent + enrol audited
    gone = client.post(base + "/face/withdraw", data={"csrf_token": token})
    assert gone.status_code == 200 and "人脸信息已删除" in gone.text and "未登记人脸" in gone.text
    assert counts(ctx)[0] == 0


def test_another_units_admin_cannot_enrol(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sub")
    r = client.post(
        f"/unit/{w.units['A']}/people/{w.people['a1']}/face",
        data={"csrf_token": token, "consent": "paper"},
        files={"photo": ("a.jpg", jpeg(astronaut()), "image/jpeg")},
    )
    assert r.status_code in (403, 404)
    assert counts(ctx)[0] == 0
