"""A small Taiyuan community for the community canteen tests and the pages: one region,
the civil affairs fund, a community canteen with four dishes, and residents of every
category (ID numbers made with their real GB 11643 check character)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from onecard.community import service as cs
from onecard.community.ids import check_digit
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.actors import Actor

BUREAU = Actor.system("民政局")

# name → (birth date, {category: proof})
RESIDENTS: dict[str, tuple[date, dict[str, str]]] = {
    "wang": (date(1950, 5, 1), {"aged_60": "身份证"}),
    "ming": (date(2016, 6, 1), {"child_14": "户口簿"}),
    "li": (date(1930, 1, 1), {"revolutionary": "离休证 1947", "aged_60": "身份证"}),
    "zhang": (date(1945, 3, 20), {"sanwu": "民政认定书", "aged_60": "身份证"}),
    "liu": (date(1980, 7, 15), {"soldier": "退役军人证"}),
    "zhao": (date(1970, 2, 2), {"dibao": "低保证"}),
    "chen": (date(1940, 10, 10), {"disabled": "失能评估报告", "aged_60": "身份证"}),
    "sun": (date(1935, 8, 1), {"veteran": "参战证明"}),
}
NAMES = {
    "wang": "王秀英",
    "ming": "李小明",
    "li": "李德厚",
    "zhang": "张福贵",
    "liu": "刘建军",
    "zhao": "赵桂兰",
    "chen": "陈淑珍",
    "sun": "孙志强",
}
DISHES = {"set": ("营养套餐", 1200, False), "love": ("爱心餐", 800, True)}
DISHES |= {"noodles": ("臊子面", 600, False), "bun": ("包子", 150, False)}


def id_number(birth: date, serial: int) -> str:
    body = f"140105{birth:%Y%m%d}{serial:03d}"
    return body + check_digit(body)


@dataclass
class Town:
    region: int
    canteen: int
    dishes: dict[str, int] = field(default_factory=dict)
    residents: dict[str, int] = field(default_factory=dict)


def build_town(ctx: Context, *, fund_fen: int = 10_000_000, wallet_fen: int = 50_000) -> Town:
    with ctx.db.begin() as conn:
        region = b.create_region(conn, "140100", "太原市")
    canteen = cs.create_canteen(
        ctx,
        BUREAU,
        region_id=region,
        code="TY-XN2",
        name="新南二社区食堂",
        operator="并州饭店",
        address="迎泽区新南二社区党群服务中心",
        rating="AA",
    )
    t = Town(region, canteen)
    for key, (name, price, love) in DISHES.items():
        t.dishes[key] = cs.set_dish(ctx, BUREAU, canteen, name, price, love)
    cs.fund_subsidies(ctx, BUREAU, region, fund_fen, "budget-2026")
    for serial, (key, (birth, cats)) in enumerate(RESIDENTS.items(), start=1):
        rid = cs.register_resident(
            ctx,
            BUREAU,
            region_id=region,
            name=NAMES[key],
            id_number=id_number(birth, serial),
            categories=cats,
        )
        t.residents[key] = rid
        cs.top_up(ctx, BUREAU, rid, wallet_fen, f"first-{key}")
    return t


def at(ctx: Context, when: datetime) -> None:
    """Move the test clock to ``when`` (Beijing time)."""
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(when))


def eat(
    ctx: Context, t: Town, who: str, dish: str, when: datetime, delivered: bool = False
) -> cs.MealPaid:
    at(ctx, when)
    return cs.pay_meal(
        ctx,
        BUREAU,
        canteen_id=t.canteen,
        resident_id=t.residents[who],
        dish_id=t.dishes[dish],
        txn_id=f"{who}-{when:%Y%m%d%H%M}-{dish}",
        delivered=delivered,
    )
