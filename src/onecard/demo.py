"""The demo city: believable units, canteens, staff and a funded quarter in one call.

Contract: ``build_demo(ctx)`` fills an empty database (deterministic: the same seed makes
the same city) and returns a ``DemoCity`` with the keys a person needs to try it — a
terminal code and device key, a card number, staff numbers and demo passwords. Money
enters the way real money does: the unit's quarterly funds arrive at the bureau's
dining-fund account, pass to the system income line and are credited to each person's
subsidy purse, each step a balanced entry.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time

from sqlalchemy import Connection

from onecard.core.clock import quarter_of, to_local
from onecard.core.context import Context
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org import builders as b
from onecard.pay.cards import issue_card_conn

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂焦向柳邢骆岳齐"
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平刚桂英华玉萍红鹏辉建国志红文斌宇浩凯健俊帆帅旭宁欣然子怡梓涵诗雨佳琪晨阳嘉豪思远一鸣婷慧颖雪琳丹晶海燕春梅兰凤云飞亮波鑫博睿泽昊天"

UNITS = [
    # name, has canteen, canteen name, operation, operator
    ("中共郴州市委办公室", True, "市委机关食堂", "self", None),
    ("郴州市人民政府办公室", True, "市政府机关一食堂", "outsourced", "郴州湘南餐饮服务有限公司"),
    ("郴州市财政局", True, "财经大楼职工食堂", "self", None),
    ("郴州市机关事务管理局", False, None, None, None),
    ("郴州市教育局", True, "教育局职工食堂", "outsourced", "湖南膳源团餐管理有限公司"),
    ("郴州市第一人民医院", True, "市一医院职工餐厅", "outsourced", "郴州康膳餐饮管理有限公司"),
    ("郴州市公安局", True, "公安局警营食堂", "self", None),
    ("郴州市自然资源和规划局", False, None, None, None),
    ("郴州市住房和城乡建设局", True, "住建大楼食堂", "outsourced", "郴州禾丰餐饮有限公司"),
    ("郴州市交通运输局", False, None, None, None),
    ("郴州市卫生健康委员会", True, "卫健委机关食堂", "self", None),
    ("郴州市审计局", False, None, None, None),
    ("郴州市统计局", False, None, None, None),
    ("郴州市档案馆", False, None, None, None),
    ("郴州市人力资源和社会保障局", False, None, None, None),
    ("郴州市民政局", False, None, None, None),
    ("郴州市农业农村局", False, None, None, None),
    ("郴州市生态环境局", False, None, None, None),
    ("郴州市市场监督管理局", False, None, None, None),
    ("郴州市文化旅游广电体育局", False, None, None, None),
    ("郴州市北湖区人民政府", False, None, None, None),
    ("郴州市苏仙区人民政府", False, None, None, None),
]
STREETS = ["五岭大道", "国庆北路", "郴江路", "苏仙北路", "青年大道", "人民西路", "燕泉路", "骆仙路"]


@dataclass
class DemoCity:
    region_id: int
    terminal_code: str
    terminal_key: str
    card_no: str
    payer_name: str
    logins: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def chinese_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def build_demo(
    ctx: Context,
    staff: int = 500,
    seed: int = 2026,
    progress: Callable[[int, int], None] | None = None,
    password: str = "onecard2026",
) -> DemoCity:
    rng = random.Random(seed)
    now = ctx.clock.now()
    quarter = quarter_of(to_local(now).date())
    with ctx.db.begin() as conn:
        region = b.create_region(conn, ctx.settings.region_code, "郴州市")
        unit_ids: list[int] = []
        canteens: list[int] = []
        first_term: tuple[str, str] | None = None
        for i, (uname, has_canteen, cname, op, operator) in enumerate(UNITS, start=1):
            uid = b.create_unit(
                conn,
                region,
                f"U{i:04d}",
                uname,
                default_standard_fen=rng.choice([54000, 60000, 66000]),
                bank_account=f"43050100{i:08d}",
                contact=chinese_name(rng),
                phone=f"0735-22{i:05d}",
            )
            unit_ids.append(uid)
            if not has_canteen:
                continue
            assert cname is not None and op is not None
            lunch = rng.choice([400, 500, 600, 700, 800])
            cid = b.create_canteen(
                conn,
                region,
                uid,
                f"C{len(canteens) + 1:04d}",
                cname,
                operation=op,
                operator_name=operator,
                operator_bank_account=f"62270035{len(canteens) + 1:08d}" if operator else None,
                location=f"郴州市北湖区{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                contact=chinese_name(rng),
                phone=f"0735-28{rng.randint(10000, 99999)}",
                capacity=rng.choice([80, 120, 200, 300]),
                service_staff=rng.randint(4, 20),
                dining_area_m2=rng.choice([150, 260, 400, 600]),
                opening_hours="早 07:00–08:30 · 午 11:30–13:30 · 晚 17:30–19:00",
                serves_visitors=True,
            )
            canteens.append(cid)
            for code, name, start, end, own in (
                ("breakfast", "早餐", time(7), time(8, 30), lunch // 2 - 50),
                ("lunch", "午餐", time(11, 30), time(13, 30), lunch),
                ("dinner", "晚餐", time(17, 30), time(19), lunch),
            ):
                b.add_meal_period(
                    conn,
                    cid,
                    code,
                    name,
                    start,
                    end,
                    {"own": own, "visitor": own + 200, "guest": own * 2},
                )
            for t in range(1, 3):
                code = f"T{len(canteens):03d}-{t}"
                _tid, key = b.register_terminal(
                    conn, region, cid, code, name=f"{cname} {t} 号机", installed_at=now
                )
                if first_term is None:
                    first_term = (code, key)
        assert first_term is not None

        people: list[tuple[int, int, str, int]] = []
        for n in range(staff):
            uid = unit_ids[n % len(unit_ids)] if n < len(unit_ids) * 5 else rng.choice(unit_ids)
            std = 60000
            name = chinese_name(rng)
            pid = b.create_person(
                conn,
                region,
                uid,
                f"{n + 1:06d}",
                name,
                standard_fen=std,
                phone=f"139{rng.randint(10000000, 99999999)}",
                bank_card_no=f"6217{rng.randint(10**11, 10**12 - 1)}",
            )
            card = issue_card_conn(conn, ctx, pid)
            people.append((pid, uid, card, std))
            if progress:
                progress(n + 1, staff)
        _fund_quarter(conn, region, quarter, people, now)
        logins = _demo_logins(conn, people, unit_ids, canteens, password)
        payer = people[0]
    return DemoCity(
        region_id=region,
        terminal_code=first_term[0],
        terminal_key=first_term[1],
        card_no=payer[2],
        payer_name="",
        logins=logins,
        counts={"units": len(unit_ids), "canteens": len(canteens), "staff": len(people)},
    )


def _fund_quarter(
    conn: Connection,
    region: int,
    quarter: str,
    people: list[tuple[int, int, str, int]],
    now: object,
) -> None:
    """A quarter's funds, unit by unit: bank → dining fund → income line → subsidy purses."""
    from datetime import datetime

    assert isinstance(now, datetime)
    bank = system_account(conn, "bank_clearing")
    fund = system_account(conn, "dining_fund")
    by_unit: dict[int, list[tuple[int, int]]] = {}
    for pid, uid, _card, std in people:
        by_unit.setdefault(uid, []).append((pid, std))
    for uid, members in by_unit.items():
        total = sum(std for _, std in members)
        income = account_id(conn, "unit", uid, "unit_income")
        post(
            conn,
            region_id=region,
            kind="unit_funds_in",
            key=f"demo:in:{quarter}:{uid}",
            legs=[Leg(bank, -total), Leg(fund, total)],
            actor="demo",
            booked_at=now,
            reference=f"单位 {uid} {quarter} 就餐经费",
        )
        post(
            conn,
            region_id=region,
            kind="to_income",
            key=f"demo:income:{quarter}:{uid}",
            legs=[Leg(fund, -total), Leg(income, total)],
            actor="demo",
            booked_at=now,
        )
        legs = [Leg(income, -total)] + [
            Leg(account_id(conn, "person", pid, "subsidy"), std) for pid, std in members
        ]
        post(
            conn,
            region_id=region,
            kind="distribution",
            key=f"demo:dist:{quarter}:{uid}",
            legs=legs,
            actor="demo",
            booked_at=now,
            reference=f"{quarter} 补贴发放",
        )


def _demo_logins(
    conn: Connection,
    people: list[tuple[int, int, str, int]],
    unit_ids: list[int],
    canteens: list[int],
    password: str,
) -> dict[str, str]:
    """A few people get roles and a known password so every page can be tried."""
    from sqlalchemy import select, update

    from onecard.org.models import Canteen, Person
    from onecard.web.passwords import hash_password

    hashed = hash_password(password)
    grants: dict[str, tuple[int, str, dict[str, int]]] = {}
    owner_of_first = conn.execute(
        select(Canteen.unit_id).where(Canteen.id == canteens[0])
    ).scalar_one()
    in_owner = [p for p in people if p[1] == owner_of_first]
    grants["diner"] = (people[0][0], "diner", {})
    grants["unit_admin"] = (in_owner[1][0], "unit_admin", {"unit_id": owner_of_first})
    grants["canteen_manager"] = (in_owner[2][0], "canteen_manager", {"canteen_id": canteens[0]})
    grants["bureau_admin"] = (people[3][0], "bureau_admin", {})
    grants["finance"] = (people[4][0], "finance", {})
    grants["auditor"] = (people[5][0], "auditor", {})
    logins: dict[str, str] = {}
    for label, (pid, role, scope) in grants.items():
        if role != "diner":
            b.grant_role(conn, pid, role, **scope)
        conn.execute(
            update(Person)
            .where(Person.id == pid)
            .values(password_hash=hashed, must_change_password=False)
        )
        staff_no = conn.execute(select(Person.staff_no).where(Person.id == pid)).scalar_one()
        logins[label] = staff_no
    _ = unit_ids
    return logins
