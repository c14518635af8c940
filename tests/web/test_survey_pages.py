"""Survey pages: the bureau publishes on /surveys, the diner answers on /me/surveys
(twice: a 409 on the page, nothing written), the results with their charts' numbers and
free text, the Excel, the canteen manager's own survey and the close button; the API
says the same."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from onecard.core.clock import FixedClock
from onecard.core.context import Context
from onecard.surveys.models import Survey, SurveyResponse
from web.pages import Staff, TestClient, sign_in
from world import World

TODAY = "2026-03-10"


def alert(html: str) -> str:
    m = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return m.group(1).strip() if m else ""


def count(ctx: Context, table: type) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


FORM = {
    "title": "食堂满意度调查",
    "intro": "请如实评价",
    "starts_on": "2026-03-09",
    "ends_on": "2026-03-31",
    "audience": "all",
    "q1_kind": "stars",
    "q1_text": "总体满意度",
    "q1_required": "1",
    "q2_kind": "single",
    "q2_text": "饭菜口味",
    "q2_options": "偏咸\n适中\n偏淡",
    "q2_required": "1",
    "q3_kind": "text",
    "q3_text": "意见建议",
}


def publish(client: TestClient, token: str, **extra: str) -> int:
    r = client.post("/surveys", data={"csrf_token": token, **FORM, **extra}, follow_redirects=False)
    assert r.status_code == 303, alert(r.text)
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_the_bureau_publishes_and_a_diner_answers_once(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get("/surveys").text
    assert "发布问卷" in page and "暂无问卷" in page
    r = client.post("/surveys", data={"csrf_token": token, **FORM, "q2_options": "只一个"})
    assert r.status_code == 422 and "2–10 个选项" in alert(r.text)
    assert 'value="食堂满意度调查"' in r.text  # the form keeps what was typed
    assert count(ctx, Survey) == 0
    sid = publish(client, token)
    client.post("/logout", data={"csrf_token": token})

    token, _ = sign_in(client, ctx, "Sa1")
    home = client.get("/me").text
    assert 'id="open-surveys"' in home and f'href="/me/surveys/{sid}"' in home
    mine = client.get("/me/surveys").text
    assert "食堂满意度调查" in mine and "去填写" in mine
    form = client.get(f"/me/surveys/{sid}").text
    q = [int(x) for x in re.findall(r'name="q(\d+)"', form)]
    stars, taste, text = sorted(set(q))
    data = {
        "csrf_token": token,
        "canteen_id": str(w.canteens["A"]),
        f"q{stars}": "4",
        f"q{taste}": "1",
        f"q{text}": "米饭偏硬",
    }
    r = client.post(f"/me/surveys/{sid}", data={**data, f"q{stars}": ""})
    assert r.status_code == 422 and "必答题" in alert(r.text)
    r = client.post(f"/me/surveys/{sid}", data=data, follow_redirects=False)
    assert r.status_code == 303
    assert "已填写" in client.get("/me/surveys?done=1").text
    r = client.post(f"/me/surveys/{sid}", data=data)
    assert r.status_code == 409 and "只能填写一次" in alert(r.text)
    assert count(ctx, SurveyResponse) == 1
    api = client.get("/api/v1/me/surveys").json()
    assert [(s["id"], s["answered"]) for s in api] == [(sid, True)]
    client.post("/logout", data={"csrf_token": token})

    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.advance(seconds=31)  # a TOTP code is good once: the next one
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get(f"/surveys/{sid}").text
    assert 'id="responses">1<' in page and "米饭偏硬" in page and "survey-chart" in page
    assert "data-counts='[0, 0, 0, 1, 0]'" in page
    book = load_workbook(io.BytesIO(client.get(f"/surveys/{sid}/results.xlsx").content))
    assert [r[3] for r in book["文字意见"].iter_rows(min_row=2, values_only=True)] == ["米饭偏硬"]
    res = client.get(f"/api/v1/surveys/{sid}/results").json()
    assert res["responses"] == 1 and res["all"][0]["average"] == 4.0
    r = client.post(f"/surveys/{sid}/close", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/surveys/{sid}/close", data={"csrf_token": token})
    assert r.status_code == 409 and alert(r.text)
    en = client.get(f"/surveys/{sid}?lang=en").text
    assert "Closed early" in en and "提前结束" not in en


def test_a_canteen_manager_asks_their_canteen(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Scm")
    page = client.get("/surveys").text
    assert "财政局机关食堂" in page and "人民医院职工食堂" not in page
    r = client.post("/surveys", data={"csrf_token": token, **FORM})  # no canteen: the city
    assert r.status_code == 403
    sid = publish(client, token, canteen_id=str(w.canteens["A"]), audience="ate")
    assert "提前结束" in client.get(f"/surveys/{sid}").text
    r = client.post(
        "/surveys", data={"csrf_token": token, **FORM, "canteen_id": str(w.canteens["B"])}
    )
    assert r.status_code == 403 and count(ctx, Survey) == 1
    client.post("/logout", data={"csrf_token": token})
    token, _ = sign_in(client, ctx, "Sa1")  # has not eaten at A in the period
    assert "食堂满意度调查" not in client.get("/me/surveys").text
    assert client.get(f"/me/surveys/{sid}").status_code == 404
    r = client.post(
        f"/me/surveys/{sid}", data={"csrf_token": token, "canteen_id": str(w.canteens["A"])}
    )
    assert r.status_code == 403 and "就过餐" in alert(r.text)
