"""The public canteen directory (issue 14 §6): search, filters, paging, what a visitor
without a card pays and how they may eat there, tappable phone numbers and map links —
and the canteen's own page, where its unit fills these in (audited)."""

from __future__ import annotations

import json
import re
from datetime import datetime, time

from sqlalchemy import select, update

from onecard.audit.models import AuditEvent
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.models import Canteen
from web.pages import Staff, TestClient, sign_in
from world import World


def _set(ctx: Context, canteen_id: int, **values: object) -> None:
    with ctx.db.begin() as conn:
        conn.execute(update(Canteen).where(Canteen.id == canteen_id).values(**values))


def _listed(html: str) -> list[str]:
    return re.findall(r'<article class="card canteen" data-canteen="([^"]+)"', html)


def _at_beijing(ctx: Context, hour: int, minute: int = 0) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 3, 10, hour, minute)))


def _brunch_canteen(ctx: Context, w: World) -> int:
    """Unit C's canteen in 苏仙区, serving only 09:30–10:30."""
    with ctx.db.begin() as conn:
        cid = b.create_canteen(
            conn, w.region, w.units["C"], "C003", "档案馆小食堂", location="燕泉路 8 号"
        )
        b.add_meal_period(
            conn, cid, "brunch", "早午餐", time(9, 30), time(10, 30), {"own": 600, "visitor": 900}
        )
    _set(ctx, cid, district="苏仙区")
    return cid


def test_search_finds_words_in_name_address_and_unit(
    ctx: Context, w: World, client: TestClient
) -> None:
    _brunch_canteen(ctx, w)
    # By district (those without one last), then code.
    assert _listed(client.get("/canteens").text) == ["C003", "C001", "C002"]
    assert _listed(client.get("/canteens", params={"q": "医院"}).text) == ["C002"]
    assert _listed(client.get("/canteens", params={"q": "五岭大道"}).text) == ["C001"]
    assert _listed(client.get("/canteens", params={"q": "档案馆 燕泉路"}).text) == ["C003"]
    assert _listed(client.get("/canteens", params={"q": "财政局 燕泉路"}).text) == []
    none = client.get("/canteens", params={"q": "100%"})
    assert none.status_code == 200 and _listed(none.text) == [] and 'id="dir-empty"' in none.text
    assert 'value="100%"' in none.text  # what was typed stays in the box


def test_district_and_open_now_filter_in_beijing_time(
    ctx: Context, w: World, client: TestClient
) -> None:
    _brunch_canteen(ctx, w)
    _set(ctx, w.canteens["A"], district="北湖区")
    page = client.get("/canteens").text
    assert '<option value="北湖区">北湖区</option>' in page and '<option value="苏仙区">' in page
    assert _listed(client.get("/canteens?district=苏仙区").text) == ["C003"]
    # 10:00 Beijing is 02:00 UTC: only the brunch canteen is serving.
    _at_beijing(ctx, 10)
    now = client.get("/canteens?open=1").text
    assert _listed(now) == ["C003"]
    assert "供餐中" in now and "10:30" in now and "2026-03-10 10:00" in now
    assert "2026-03-10 02:00" not in now
    # Lunch: the two canteens with lunch; 13:30 sharp is after lunch.
    _at_beijing(ctx, 12, 15)
    assert _listed(client.get("/canteens?open=1").text) == ["C001", "C002"]
    _at_beijing(ctx, 13, 30)
    after = client.get("/canteens?open=1&district=北湖区")
    assert _listed(after.text) == [] and "没有符合条件的食堂" in after.text


def test_a_visitor_without_a_card_sees_the_price_and_how_to_eat_there(
    ctx: Context, w: World, client: TestClient
) -> None:
    _set(ctx, w.canteens["A"], guest_access="open", guest_note="到服务台扫码付款")
    _set(ctx, w.canteens["B"], guest_access="appointment", serves_guests=False)
    page = client.get("/canteens").text
    a, b_card = page.split('data-canteen="C001"')[1].split('data-canteen="C002"')
    assert "欢迎来客就餐" in a and "到服务台扫码付款" in a
    assert "¥8.00" in a and "¥5.00" in a  # lunch: a visitor without a card / other staff
    # B's own rule refuses guest cards: whatever its text says, it takes no such visitor.
    assert "仅限持卡工作人员" in b_card and "不接待" in b_card and "¥10.00" not in b_card
    assert _listed(client.get("/canteens?guests=1").text) == ["C001"]
    _set(ctx, w.canteens["B"], serves_guests=True)
    assert _listed(client.get("/canteens?guests=1").text) == ["C001", "C002"]
    assert "来客须预约" in client.get("/canteens?guests=1").text


def test_phone_numbers_dial_and_addresses_open_a_map(
    ctx: Context, w: World, client: TestClient
) -> None:
    _set(ctx, w.canteens["A"], phone="0735-281 2345", coordinates="113.014872,25.770412")
    _set(ctx, w.canteens["B"], location="国庆北路 20 号")
    page = client.get("/canteens").text
    a, b_card = page.split('data-canteen="C001"')[1].split('data-canteen="C002"')
    assert 'href="tel:07352812345">0735-281 2345</a>' in a
    assert 'href="https://uri.amap.com/marker?position=113.014872%2C25.770412&amp;name=' in a
    assert (
        'href="https://uri.amap.com/search?keyword=%E5%9B%BD%E5%BA%86%E5%8C%97%E8%B7%AF%2020%20'
        in b_card
    )
    assert 'href="tel:' not in b_card  # no phone, no link
    assert "<script" not in page.split("<main")[1]  # a plain link: no map script


def test_a_city_of_canteens_comes_a_page_at_a_time(
    ctx: Context, w: World, client: TestClient
) -> None:
    with ctx.db.begin() as conn:
        for i in range(43):
            b.create_canteen(conn, w.region, w.units["C"], f"K{i:03d}", f"乡镇食堂{i:02d}")
    first = client.get("/canteens").text
    assert len(_listed(first)) == 20 and "共 45 家" in first and "第 1–20 家" in first
    assert 'href="/canteens?page=2" rel="next"' in first and 'rel="prev"' not in first
    last = client.get("/canteens?page=3").text
    assert len(_listed(last)) == 5 and "第 41–45 家" in last and 'rel="next"' not in last
    assert _listed(client.get("/canteens?page=99").text) == _listed(last)  # the last page
    assert _listed(client.get("/canteens?page=x").text) == _listed(first)
    searched = client.get("/canteens", params={"q": "乡镇食堂", "page": "2"}).text
    assert "共 43 家" in searched
    assert 'href="/canteens?q=%E4%B9%A1%E9%95%87%E9%A3%9F%E5%A0%82&amp;page=3"' in searched
    every = set()
    for n in (1, 2, 3):
        every |= set(_listed(client.get(f"/canteens?page={n}").text))
    assert len(every) == 45


def test_the_directory_speaks_english(ctx: Context, w: World, client: TestClient) -> None:
    _set(ctx, w.canteens["A"], guest_access="appointment", phone="0735-2812345")
    page = client.get("/canteens?lang=en").text
    for phrase in ("Search", "Open now", "Other units", "By appointment", "Map", "Beijing"):
        assert phrase in page, phrase
    main = page.split("<main")[1]
    assert not re.search(r">[^<]*(搜索|区县|正在供餐|外单位职工|无卡来客|来客须预约)", main)


def test_the_unit_fills_in_the_directory_on_its_canteen_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, staff["ua"])
    url = f"/unit/{w.units['A']}/org/canteens/{w.canteens['A']}"
    form = client.get(url).text
    for name in ("district", "coordinates", "guest_access", "guest_note"):
        assert f'name="{name}"' in form, name
    bad = client.post(url, data={"csrf_token": token, "coordinates": "北纬25度"})
    assert bad.status_code == 422 and "经纬度" in bad.text
    ok = client.post(
        url,
        data={
            "csrf_token": token,
            "district": "北湖区",
            "coordinates": "113.0148720, 25.770412",
            "guest_access": "appointment",
            "guest_note": "提前一天电话预约",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Canteen.district, Canteen.coordinates, Canteen.guest_access).where(
                Canteen.id == w.canteens["A"]
            )
        ).one()
        event = conn.execute(
            select(AuditEvent.data).where(AuditEvent.action == "org_canteen_update")
        ).scalar_one()
    assert tuple(row) == (
        "北湖区",
        "113.014872,25.770412",
        "appointment",
    )
    change = json.loads(event or "{}")
    assert change["before"]["guest_access"] == "none"
    assert change["after"]["guest_access"] == "appointment"
    assert change["after"]["coordinates"] == "113.014872,25.770412"
    listed = client.get("/canteens?district=北湖区").text
    assert _listed(listed) == ["C001"] and "提前一天电话预约" in listed
