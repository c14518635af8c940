"""A small city for stories: three units, two canteens, a few diners with cards.

Unit A (市财政局) has a self-operated canteen; unit B (市人民医院) an outsourced one;
unit C (市档案馆) has none. Prices in fen per meal: own / visitor / guest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from onecard.core.context import Context
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org import builders as b
from onecard.pay.cards import issue_card_conn
from onecard.pay.service import TerminalIdentity


@dataclass
class World:
    region: int
    units: dict[str, int] = field(default_factory=dict)
    canteens: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)
    terminals: dict[str, TerminalIdentity] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


def build_world(ctx: Context) -> World:
    with ctx.db.begin() as conn:
        w = World(region=b.create_region(conn, "431000", "郴州市"))
        for key, code, name in [
            ("A", "U001", "市财政局"),
            ("B", "U002", "市人民医院"),
            ("C", "U003", "市档案馆"),
        ]:
            w.units[key] = b.create_unit(conn, w.region, code, name, default_standard_fen=60000)
        w.canteens["A"] = b.create_canteen(
            conn,
            w.region,
            w.units["A"],
            "C001",
            "财政局机关食堂",
            operation="self",
            location="五岭大道1号",
        )
        w.canteens["B"] = b.create_canteen(
            conn,
            w.region,
            w.units["B"],
            "C002",
            "人民医院职工食堂",
            operation="outsourced",
            operator_name="郴州湘味餐饮管理有限公司",
            operator_bank_account="6217000000000000001",
        )
        for ck, prices in [("A", (300, 500, 800)), ("B", (400, 600, 1000))]:
            cid = w.canteens[ck]
            own, visitor, guest = prices
            b.add_meal_period(
                conn,
                cid,
                "breakfast",
                "早餐",
                time(7),
                time(9),
                {"own": own // 2, "visitor": visitor // 2, "guest": guest // 2},
            )
            b.add_meal_period(
                conn,
                cid,
                "lunch",
                "午餐",
                time(11, 30),
                time(13, 30),
                {"own": own, "visitor": visitor, "guest": guest},
            )
            b.add_meal_period(
                conn,
                cid,
                "dinner",
                "晚餐",
                time(17, 30),
                time(19, 30),
                {"own": own, "visitor": visitor, "guest": guest},
            )
            tid, key = b.register_terminal(conn, w.region, cid, f"T-{ck}1", key=f"key-{ck}1")
            w.terminals[ck] = TerminalIdentity(tid, f"T-{ck}1", w.region, cid)
            w.keys[ck] = key
        for pk, unit, name in [
            ("a1", "A", "张伟"),
            ("a2", "A", "王芳"),
            ("b1", "B", "李娜"),
            ("c1", "C", "刘洋"),
        ]:
            pid = b.create_person(
                conn,
                w.region,
                w.units[unit],
                f"S{pk}",
                name,
                standard_fen=60000,
                bank_card_no=f"62170000{pk}",
            )
            w.people[pk] = pid
            w.cards[pk] = issue_card_conn(conn, ctx, pid)
    return w


def fund(
    ctx: Context, w: World, person: str, subsidy: int = 0, cash: int = 0, tag: str = ""
) -> None:
    """Credit purses straight from the bank clearing account (as the demo does)."""
    with ctx.db.begin() as conn:
        bank = system_account(conn, "bank_clearing")
        pid = w.people[person]
        now = ctx.clock.now()
        for kind, amt in (("subsidy", subsidy), ("cash", cash)):
            if amt:
                post(
                    conn,
                    region_id=w.region,
                    kind="test_fund",
                    key=f"fund:{person}:{kind}:{tag}:{amt}",
                    legs=[Leg(bank, -amt), Leg(account_id(conn, "person", pid, kind), amt)],
                    actor="test",
                    booked_at=now,
                )


def purse(ctx: Context, w: World, person: str) -> tuple[int, int]:
    from onecard.ledger.service import balances

    with ctx.db.read() as conn:
        s = account_id(conn, "person", w.people[person], "subsidy")
        c = account_id(conn, "person", w.people[person], "cash")
        got = balances(conn, [s, c])
    return got[s], got[c]


def move_unit_to_a_town(ctx: Context, w: World, unit: str = "B") -> tuple[int, int]:
    """桂阳县 (a county under the city) and its township 城关镇, which ``unit`` moves to
    with its canteen and people (a canteen kept in ``w.canteens`` under the unit's key).
    Returns (county, town)."""
    from sqlalchemy import update

    from onecard.org.models import Canteen, Person, Unit

    with ctx.db.begin() as conn:
        county = b.create_region(conn, "431021", "桂阳县", "county", w.region)
        town = b.create_region(conn, "431021101", "城关镇", "township", county)
        uid = w.units[unit]
        conn.execute(update(Unit).where(Unit.id == uid).values(region_id=town))
        if unit in w.canteens:
            cid = w.canteens[unit]
            conn.execute(update(Canteen).where(Canteen.id == cid).values(region_id=town))
        conn.execute(update(Person).where(Person.unit_id == uid).values(region_id=town))
    return county, town
