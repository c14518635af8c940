"""The directory's read model (reports.directory.search): filters and the count in SQL,
one page at a time, open now by Beijing time, searches taken literally, links built
from what the canteen has."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import update

from onecard.core.clock import FixedClock, from_local, local_text
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.models import Canteen
from onecard.reports.directory import DirectoryQuery, dial, map_url, search
from world import World, build_world


def _at(ctx: Context, hour: int, minute: int = 0) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 3, 10, hour, minute)))


def _codes(ctx: Context, **query: object) -> list[str]:
    return [r["code"] for r in search(ctx, DirectoryQuery(**query)).rows]  # type: ignore[arg-type]


def _city(ctx: Context) -> World:
    w = build_world(ctx)
    with ctx.db.begin() as conn:
        for code, name, status in (
            ("X1", "100%_食堂", "live"),
            ("X2", "100x食堂", "live"),
            ("X3", "未上线食堂", "planned"),
        ):
            b.create_canteen(conn, w.region, w.units["C"], code, name, rollout_status=status)
        conn.execute(update(Canteen).where(Canteen.code == "X3").values(district="资兴市"))
        conn.execute(update(Canteen).where(Canteen.code == "C001").values(district="北湖区"))
    return w


def test_only_live_canteens_are_counted_and_searches_are_literal(ctx: Context) -> None:
    _city(ctx)
    page = search(ctx, DirectoryQuery())
    assert page.total == 4 and [r["code"] for r in page.rows] == ["C001", "C002", "X1", "X2"]
    assert page.districts == ["北湖区"]  # a planned canteen's district is not offered
    assert _codes(ctx, q="100%_") == ["X1"]  # % and _ are letters here, not wildcards
    assert _codes(ctx, q="100%") == ["X1"]
    assert _codes(ctx, q="100") == ["X1", "X2"]
    assert _codes(ctx, q="未上线") == []
    assert _codes(ctx, q="市财政局") == ["C001"]  # the owner unit's name
    assert _codes(ctx, district="北湖区") == ["C001"]


def test_pages_hold_the_count_and_clamp(ctx: Context) -> None:
    _city(ctx)
    first = search(ctx, DirectoryQuery(), per_page=3)
    assert (first.total, first.pages, first.first, first.last) == (4, 2, 1, 3)
    second = search(ctx, DirectoryQuery(page=2), per_page=3)
    assert [r["code"] for r in second.rows] == ["X2"] and (second.first, second.last) == (4, 4)
    assert search(ctx, DirectoryQuery(page=50), per_page=3).page == 2
    empty = search(ctx, DirectoryQuery(q="没有这个"))
    assert (empty.total, empty.pages, empty.page, empty.first, empty.last) == (0, 1, 1, 0, 0)


def test_open_now_is_a_meal_period_running_this_minute_in_beijing(ctx: Context) -> None:
    _city(ctx)
    _at(ctx, 11, 29)
    assert _codes(ctx, open_now=True) == []
    (before,) = search(ctx, DirectoryQuery(district="北湖区")).rows
    assert before["open_meal"] is None and before["next_meal"]["code"] == "lunch"
    _at(ctx, 11, 30)
    assert _codes(ctx, open_now=True) == ["C001", "C002"]
    lunch = search(ctx, DirectoryQuery(open_now=True)).rows[0]
    assert lunch["open_meal"]["code"] == "lunch" and lunch["next_meal"]["code"] == "dinner"
    _at(ctx, 13, 29)
    assert _codes(ctx, open_now=True) == ["C001", "C002"]
    _at(ctx, 13, 30)  # the window is [starts, ends)
    assert _codes(ctx, open_now=True) == []
    _at(ctx, 20)
    late = search(ctx, DirectoryQuery(q="财政局")).rows[0]
    assert late["open_meal"] is None and late["next_meal"] is None


def test_visitors_without_a_card_need_both_the_rule_and_the_word(ctx: Context) -> None:
    w = _city(ctx)
    assert _codes(ctx, guests=True) == []  # every canteen starts "staff only"
    with ctx.db.begin() as conn:
        conn.execute(
            update(Canteen)
            .where(Canteen.id.in_([w.canteens["A"], w.canteens["B"]]))
            .values(guest_access="open", guest_note="扫码付款")
        )
        conn.execute(
            update(Canteen).where(Canteen.id == w.canteens["B"]).values(serves_guests=False)
        )
    assert _codes(ctx, guests=True) == ["C001"]
    a, b_row = search(ctx, DirectoryQuery(q="食堂")).rows[:2]
    assert a["takes_guests"] and a["guest_note"] == "扫码付款"
    assert a["meals"][1]["prices"]["guest"] == 800  # lunch, fen
    assert not b_row["takes_guests"] and b_row["guest_access"] == "none"
    assert b_row["guest_note"] == ""


def test_links_are_built_from_what_the_canteen_has() -> None:
    assert dial("0735-281 2345") == "07352812345" and dial("+86 (735) 2812345") == "+867352812345"
    assert dial("") is None and dial(None) is None and dial("12") is None
    marker = map_url("市委 食堂", "五岭大道1号", "113.014872,25.770412")
    assert marker == (
        "https://uri.amap.com/marker?position=113.014872%2C25.770412"
        "&name=%E5%B8%82%E5%A7%94%20%E9%A3%9F%E5%A0%82&coordinate=gaode&callnative=1&src=onecard"
    )
    assert map_url("x", "A&B 路", None) == (
        "https://uri.amap.com/search?keyword=A%26B%20%E8%B7%AF&callnative=1&src=onecard"
    )
    assert map_url("x", "  ", None) is None


def test_a_time_of_day_is_written_as_city_wall_time() -> None:
    assert local_text(time(7, 5)) == "07:05"
    assert local_text(time(7, 5, 9), "%H:%M:%S") == "07:05:09"
