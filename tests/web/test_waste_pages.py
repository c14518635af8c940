"""Waste supervision's pages in both languages: the diner's clean plate on /me, the
bureau's figures, Excel and notices, the notice on the public card, the unit's
acknowledgement, weights and the score with the waste deduction."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.funding.models import QualityScore
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from onecard.waste import service
from onecard.waste.models import CleanPlate, WasteWeight
from web.pages import Staff, TestClient, sign_in
from world import World, fund

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TODAY = "2026-03-10"


def alert(html: str) -> str:
    m = re.search(r'role="alert">([^<]*)<', html)
    return m.group(1).strip() if m else ""


def count(ctx: Context, table: type) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_diner_checks_in_a_clean_plate_once_a_meal(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sa1")
    page = client.get("/me").text
    assert "光盘打卡" in page and 'id="plate-streak">0<' in page
    photo = {"photo": ("plate.png", PNG, "image/png")}
    r = client.post(
        "/me/clean-plate",
        data={"csrf_token": token, "meal": "lunch"},
        files=photo,
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/me?msg=plate").text
    assert "打卡成功" in page and 'id="plate-streak">1<' in page and "今日已打卡" in page
    r = client.post("/me/clean-plate", data={"csrf_token": token, "meal": "lunch"}, files=photo)
    assert r.status_code == 409 and "这一餐今天已经打过卡了" in alert(r.text)
    gif = {"photo": ("plate.gif", b"GIF89a....", "image/gif")}
    r = client.post("/me/clean-plate", data={"csrf_token": token, "meal": "dinner"}, files=gif)
    assert r.status_code == 422 and "JPEG" in alert(r.text)
    assert count(ctx, CleanPlate) == 1
    en = client.get("/me?lang=en").text
    assert "Clean-plate check-in" in en and "Streak" in en and "连续打卡" not in en


def _a_meal_weighed(ctx: Context, w: World) -> None:
    """Two lunches at canteen A and its 0.6 kg of leftovers: 300 g a diner."""
    for k in ("a1", "a2"):
        fund(ctx, w, k, subsidy=1000, tag="waste")
        pay(ctx, w.terminals["A"], PaymentRequest(f"wp-{k}", w.cards[k], meal="lunch"))
    service.record_weight(
        ctx, Actor.system("test"), w.canteens["A"], ctx.clock.today(), "lunch", "0.6"
    )


def test_the_bureau_sees_waste_per_diner_and_issues_a_notice_the_unit_acknowledges(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _a_meal_weighed(ctx, w)
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get("/bureau/waste").text
    row = re.search(r'<table id="waste-canteens">.*?</table>', page, re.S)
    assert row and "财政局机关食堂" in row.group(0) and "<strong>300</strong>" in row.group(0)
    assert "人均剩余" in page
    assert "Leftovers per diner" in client.get("/bureau/waste?lang=en").text
    client.get("/bureau/waste?lang=zh-CN")  # back to Chinese (the choice is remembered)
    x = client.get(f"/bureau/waste.xlsx?start={TODAY}&end={TODAY}")
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content))["各食堂"]
    assert [c.value for c in sheet[2]] == ["财政局机关食堂", 1, 600, 2, 300]
    r = client.post(
        "/bureau/waste/notices",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"]), "text": "午餐剩饭较多"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    card = client.get("/canteens").text
    assert "浪费通报" in card and "午餐剩饭较多" in card and "待单位确认" in card
    assert "Waste notice" in client.get("/canteens?lang=en").text
    client.get("/canteens?lang=zh-CN")
    # The unit admin acknowledges on the unit's page; the card says so.
    client.cookies.clear()
    token, _ = sign_in(client, ctx, "Sua")
    page = client.get(f"/unit/{w.units['A']}/waste").text
    [ack] = re.findall(r'action="(/unit/\d+/waste/notices/\d+/ack)"', page)
    assert client.post(ack, data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert "单位已确认" in client.get("/canteens").text
    assert (
        'action="/unit/'
        not in client.get(f"/unit/{w.units['A']}/waste")
        .text.split('id="notices"')[1]
        .split("</section>")[0]
    )


def test_the_unit_records_weights_and_the_score_less_the_waste(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _a_meal_weighed(ctx, w)
    token, _ = sign_in(client, ctx, "Sua")
    unit = w.units["A"]
    page = client.get(f"/unit/{unit}/waste").text
    assert "季度浪费与质量考核" in page
    en = client.get(f"/unit/{unit}/waste?lang=en").text
    assert "The quarter&#39;s waste and the quality score" in en
    client.get(f"/unit/{unit}/waste?lang=zh-CN")
    form = {"csrf_token": token, "canteen_id": str(w.canteens["A"]), "day": TODAY, "meal": "lunch"}
    r = client.post(f"/unit/{unit}/waste/weights", data={**form, "leftover_kg": "-2"})
    assert r.status_code == 422 and "剩余重量不能为负数" in alert(r.text)
    with ctx.db.read() as conn:
        assert conn.execute(select(WasteWeight.leftover_grams)).scalars().all() == [600]
    r = client.post(f"/unit/{unit}/waste/weights", data={**form, "leftover_kg": "0.5"})
    assert r.status_code == 200 or r.status_code == 303
    with ctx.db.read() as conn:
        assert conn.execute(select(WasteWeight.leftover_grams)).scalars().all() == [500]
    # 500 g ÷ 2 diners = 250 g: (250 − 50) ÷ 10 = 20 points; 90 − 20 = 70.
    r = client.post(
        f"/unit/{unit}/waste/score",
        data={**form, "quarter": "2026Q1", "assessed": "90"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("/quality?quarter=2026Q1")
    with ctx.db.read() as conn:
        assert conn.execute(select(QualityScore.score)).scalars().all() == [70]
    # Another unit's admin reads nothing of it.
    client.cookies.clear()
    sign_in(client, ctx, "Sub")
    assert client.get(f"/unit/{unit}/waste").status_code == 403


def test_a_supervisor_records_an_inspection_with_a_photo(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.org import builders as b
    from onecard.waste.models import WasteInspection

    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a2"], "waste_supervisor", unit_id=w.units["A"])
    token, _ = sign_in(client, ctx, "Sa2")
    page = client.get("/waste").text
    assert "反浪费检查" in page and "财政局机关食堂" in page and "人民医院职工食堂" not in page
    form = {
        "csrf_token": token,
        "canteen_id": str(w.canteens["A"]),
        "day": TODAY,
        "meal": "lunch",
        "findings": "剩饭较多",
    }
    photo = {"photo": ("p.png", PNG, "image/png")}
    r = client.post("/waste/inspections", data={**form, "leftover_kg": "abc"}, files=photo)
    assert r.status_code == 422 and alert(r.text)
    assert count(ctx, WasteInspection) == 0
    r = client.post(
        "/waste/inspections",
        data={**form, "leftover_kg": "7.5"},
        files=photo,
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/waste?saved=1").text
    assert "检查记录已保存" in page and "7,500" in page and "有照片" in page
    assert "Inspection saved" in client.get("/waste?saved=1&lang=en").text
    # Another unit's canteen is refused, nothing written.
    client.get("/waste?lang=zh-CN")
    r = client.post(
        "/waste/inspections",
        data={**form, "canteen_id": str(w.canteens["B"]), "leftover_kg": "1"},
    )
    assert r.status_code == 403 and count(ctx, WasteInspection) == 1


def test_an_inspection_photo_is_shown_to_those_who_read_that_canteens_waste(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.org.actors import Actor
    from onecard.waste import service

    with ctx.db.read() as conn:
        bureau = Actor.load(conn, w.people["bu"], "Sbu", w.units["C"])
    with_photo = service.record_inspection(
        ctx,
        bureau,
        w.canteens["A"],
        date.fromisoformat(TODAY),
        "lunch",
        "1.5",
        "剩饭多",
        photo=PNG,
    )
    without = service.record_inspection(
        ctx, bureau, w.canteens["A"], date.fromisoformat(TODAY), "dinner", "0.5", ""
    )
    sign_in(client, ctx, "Sua")  # unit A's admin: its canteen
    r = client.get(f"/waste/inspections/{with_photo}/photo")
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png" and "private" in r.headers["cache-control"]
    assert (
        f"/waste/inspections/{with_photo}/photo" in client.get(f"/unit/{w.units['A']}/waste").text
    )
    assert client.get(f"/waste/inspections/{without}/photo").status_code == 404
    client.cookies.clear()
    sign_in(client, ctx, "Sub")  # unit B's admin: not theirs
    assert client.get(f"/waste/inspections/{with_photo}/photo").status_code == 403


def test_the_canteen_manager_records_the_days_leftovers_on_the_canteens_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.waste.models import WasteWeight

    token, _ = sign_in(client, ctx, staff["cm"])  # manages canteen A
    page = client.get("/me").text
    assert f"/waste/canteens/{w.canteens['A']}" in page  # in the manager's navigation
    url = f"/waste/canteens/{w.canteens['A']}"
    assert 'id="weight-form"' in client.get(url).text
    form = {"csrf_token": token, "day": TODAY, "meal": "lunch"}
    r = client.post(f"{url}/weights", data={**form, "leftover_kg": "-1"})
    assert r.status_code == 422 and alert(r.text) and count(ctx, WasteWeight) == 0
    r = client.post(f"{url}/weights", data={**form, "leftover_kg": "2.5"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "剩余重量已保存" in page and "2,500" in page
    assert count(ctx, WasteWeight) == 1
    # Another canteen is not theirs: refused, nothing written.
    other = f"/waste/canteens/{w.canteens['B']}"
    assert client.get(other).status_code == 403
    assert client.post(f"{other}/weights", data={**form, "leftover_kg": "1"}).status_code == 403
    assert count(ctx, WasteWeight) == 1
    # The bureau's finance reads it, without the form.
    client.cookies.clear()
    sign_in(client, ctx, staff["fi"])
    text = client.get(url).text
    assert "2,500" in text and 'id="weight-form"' not in text


def test_the_funding_api_and_cli_score_less_the_waste_too(
    ctx: Context, w: World, staff: Staff, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No way around waste.score: a notice this quarter costs 5 points on every path."""
    from typer.testing import CliRunner

    from onecard import cli_kit
    from onecard.cli import app
    from onecard.core.clock import quarter_of
    from onecard.funding.models import QualityScore
    from onecard.org.actors import Actor
    from onecard.org.models import Canteen
    from onecard.waste import service

    quarter = quarter_of(ctx.clock.today())
    service.issue_notice(ctx, Actor.system("test"), w.canteens["A"], "剩余过多")
    sign_in(client, ctx, "Sua")
    r = client.put(
        f"/api/v1/funding/canteens/{w.canteens['A']}/scores/{quarter}", json={"score": 90}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["score"], r.json()["assessed"], r.json()["notice_points"]) == (85, 90, 5)
    monkeypatch.setattr(cli_kit, "context_factory", lambda _url: ctx)
    with ctx.db.read() as conn:
        code = conn.execute(select(Canteen.code).where(Canteen.id == w.canteens["A"])).scalar()
    res = CliRunner().invoke(app, ["funding", "score", str(code), quarter, "80"])
    assert res.exit_code == 0, res.output
    with ctx.db.read() as conn:
        assert conn.execute(select(QualityScore.score)).scalars().all() == [75]
