"""The diner's face-pay page (/me/face): notice first, consent with the photo, withdrawal.

Signed in as diner a1: the page shows the purpose and retention before anything is
taken; a photo without the consent box, or with no face in it, is answered on the page
(422) with nothing written; a real photograph with consent enrols; withdrawing deletes
the template at once. The enrolment API answers a faceless picture with 422 too.
"""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from faces.photos import astronaut, coffee, jpeg
from onecard.audit.models import AuditEvent
from onecard.core.context import Context
from onecard.faces.models import FaceConsent, FaceTemplate
from web.pages import TestClient, add_staff, csrf_of, sign_in
from world import World, build_world


def counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (FaceTemplate, FaceConsent, AuditEvent)
        )


def test_the_face_page_takes_consent_and_a_photo_and_withdrawal_deletes(
    ctx: Context, client: TestClient
) -> None:
    w: World = build_world(ctx)
    add_staff(ctx, w)
    sign_in(client, ctx, "Sa1")
    page = client.get("/me/face")
    assert page.status_code == 200
    for phrase in (
        "敏感个人信息",
        "用途",
        "保存期限",
        "撤回",
        'capture="user"',
        'accept="image/*"',
    ):
        assert phrase in page.text, phrase
    assert "未登记人脸" in page.text
    token = csrf_of(page.text)
    before = counts(ctx)

    def post(photo: bytes, consent: bool) -> object:
        data = {"csrf_token": token, **({"consent": "yes"} if consent else {})}
        files = {"photo": ("me.jpg", photo, "image/jpeg")}
        return client.post("/me/face", data=data, files=files, follow_redirects=False)

    r = post(jpeg(astronaut()), consent=False)
    assert r.status_code == 422 and "同意" in r.text  # type: ignore[attr-defined]
    r = post(jpeg(coffee()), consent=True)
    assert r.status_code == 422 and "未检测到人脸" in r.text  # type: ignore[attr-defined]
    assert counts(ctx) == before
    r = post(jpeg(astronaut()), consent=True)
    assert r.status_code == 303  # type: ignore[attr-defined]
    page = client.get("/me/face?msg=enrolled")
    assert "人脸已登记" in page.text and "已登记人脸" in page.text
    assert counts(ctx)[:2] == (1, 1)
    r = client.post("/me/face/withdraw", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert counts(ctx)[:2] == (0, 1)  # the template is gone; the proof of consent stays
    assert "已撤回同意" in client.get("/me/face?msg=withdrawn").text
    assert "/me/face" in client.get("/me").text

    # The API: a faceless picture is a 422 with nothing written.
    n = counts(ctx)
    r2 = client.put(
        f"/api/v1/people/{w.people['a1']}/face",
        json={
            "consent": True,
            "image_b64": base64.b64encode(jpeg(coffee(), max_side=300)).decode(),
        },
        headers={"X-CSRF-Token": token},
    )
    assert r2.status_code == 422 and r2.json()["error"]["code"] == "no_face"
    assert counts(ctx) == n
