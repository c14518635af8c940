"""The demo city: believable units, canteens and staff, living through this quarter.

Contract: ``build_demo(ctx)`` fills an empty database (deterministic for a seed and a
day) and returns a ``DemoCity`` with the keys a person needs to try it — a terminal code
and device key, a card number, staff numbers and demo passwords. Nothing is posted
behind the product's back: the quarter is *replayed* through the same services people
use, on a ``ReplayClock`` — the bureau issues funding notices, units pay through the
(sandbox) bank, one unit short and late; receipts are booked, passed to the income line
and distributed; then staff eat breakfast and lunch on the last working days (at home
and at other units' canteens), some top up their cash purse and rate their meals; one
till loses its network for the last afternoon, keeps selling offline and uploads its
signed records that evening (``terminals``). The clock is then released. The bank is ``ctx.bank``, a sandbox (seen through the replay
clock while the quarter is replayed): its store keeps the quarter's statements for the
served demo and for every later command on the same database.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select

from onecard.channels.bank import DINING_FUND_ACCOUNT, gateway
from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.channels.factory import ecny_gateway
from onecard.channels.sandbox import SandboxBank
from onecard.core.clock import ReplayClock, from_local, quarter_bounds, quarter_of
from onecard.core.context import Context
from onecard.core.errors import Conflict, InvalidInput
from onecard.feedback import service as feedback
from onecard.feedback.models import ASPECTS
from onecard.funding import distribution, notices, notifications
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person
from onecard.pay import ecny, topup
from onecard.pay.cards import issue_card_conn
from onecard.pay.service import PaymentRequest, TerminalIdentity, pay
from onecard.surveys import service as surveys
from onecard.surveys.models import SurveyQuestion
from onecard.terminals.simulator import InProcess, SimTerminal, stepping_clock
from onecard.waste import queries as waste_queries
from onecard.waste import service as waste

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
# The public directory's facts of the demo's canteens, in the order they are built:
# district, coordinates (GCJ-02 "lng,lat"), whether someone without a card may eat there,
# and what they should know.
DIRECTORY = [
    ("北湖区", "113.014872,25.770412", "none", ""),
    (
        "北湖区",
        "113.016391,25.771906",
        "appointment",
        "来客请提前一天致电食堂预约，凭身份证到一楼服务台付款取餐",
    ),
    ("北湖区", "113.021540,25.783117", "open", "无卡来客到收银台扫码或现金付款，按来客价"),
    (
        "苏仙区",
        "113.038204,25.801356",
        "open",
        "来客到服务台办理临时就餐卡，押金 20 元，离开时退还",
    ),
    ("北湖区", "113.009763,25.778842", "open", "病人家属和来访者欢迎就餐：门诊楼负一层，扫码付款"),
    ("苏仙区", "113.046511,25.793270", "none", "因安保要求，仅限持一卡通的工作人员"),
    ("苏仙区", "113.035126,25.809734", "appointment", "来客请由接待单位提前登记，凭身份证入楼"),
    ("北湖区", "113.012655,25.765390", "open", ""),
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
    # One-time codes to bind an authenticator, for the logins whose role needs one.
    enrolment_codes: dict[str, str] = field(default_factory=dict)
    # For the same logins, a code the demo accepts in place of an authenticator code.
    skip_codes: dict[str, str] = field(default_factory=dict)
    # A diner with no password yet and their activation code: (staff no., name, code).
    activation: tuple[str, str, str] | None = None


def chinese_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def build_demo(
    ctx: Context,
    staff: int = 500,
    seed: int = 2026,
    progress: Callable[[str, int, int], None] | None = None,
    password: str = "onecard2026",
    # Enough working days for the demand forecast (reports.forecast: 14 days of history)
    # to show the first canteen's diners and dishes for tomorrow.
    history_days: int = 12,
) -> DemoCity:
    rng = random.Random(seed)
    today = ctx.clock.today()
    quarter = quarter_of(today)
    q_start = quarter_bounds(quarter)[0]
    clock = ReplayClock(from_local(datetime.combine(q_start, time(8))))
    served = gateway(ctx)
    if not isinstance(served, SandboxBank):
        raise InvalidInput("演示城市只能用沙箱银行（ONECARD_BANK=sandbox）")
    bank = served.with_clock(clock)  # the same bank, living through the replayed quarter
    acquirer = ecny_gateway(ctx)  # the e-CNY acquirer, kept on ctx for the served app
    if isinstance(acquirer, SandboxEcny):
        acquirer = acquirer.with_clock(clock)
    sim = replace(ctx, clock=clock, bank=bank, ecny=acquirer)
    now = clock.now()
    terminals: dict[int, TerminalIdentity] = {}
    with sim.db.begin() as conn:
        region = b.create_region(conn, ctx.settings.region_code, "郴州市")
        unit_ids: list[int] = []
        canteen_of_unit: dict[int, int] = {}
        first_term: tuple[str, str] | None = None
        offline_term: tuple[TerminalIdentity, str] | None = None
        for i, (uname, has_canteen, cname, op, operator) in enumerate(UNITS, start=1):
            account = f"43050100{i:08d}"
            uid = b.create_unit(
                conn,
                region,
                f"U{i:04d}",
                uname,
                default_standard_fen=rng.choice([54000, 60000, 66000]),
                bank_account=account,
                contact=chinese_name(rng),
                phone=f"0735-22{i:05d}",
            )
            bank.open_outside_account(account, uname, 10**9)
            unit_ids.append(uid)
            if not has_canteen:
                continue
            assert cname is not None and op is not None
            n = len(canteen_of_unit) + 1
            lunch = rng.choice([400, 500, 600, 700, 800])
            district, coordinates, guest_access, guest_note = DIRECTORY[(n - 1) % len(DIRECTORY)]
            cid = b.create_canteen(
                conn,
                region,
                uid,
                f"C{n:04d}",
                cname,
                operation=op,
                operator_name=operator,
                operator_bank_account=f"62270035{n:08d}" if operator else None,
                location=f"郴州市{district}{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                contact=chinese_name(rng),
                phone=f"0735-28{rng.randint(10000, 99999)}",
                capacity=rng.choice([80, 120, 200, 300]),
                service_staff=rng.randint(4, 20),
                dining_area_m2=rng.choice([150, 260, 400, 600]),
                opening_hours="早 07:00–08:30 · 午 11:30–13:30 · 晚 17:30–19:00",
                serves_visitors=True,
                district=district,
                coordinates=coordinates,
                guest_access=guest_access,
                guest_note=guest_note,
            )
            if operator:
                bank.open_outside_account(f"62270035{n:08d}", operator)
            canteen_of_unit[uid] = cid
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
                    # Someone without a card never pays less than another unit's staff.
                    {"own": own, "visitor": own + 200, "guest": max(own * 2, own + 300)},
                )
            for t in range(1, 3):
                code = f"T{n:03d}-{t}"
                tid, key = b.register_terminal(
                    conn, region, cid, code, name=f"{cname} {t} 号机", installed_at=now
                )
                terminals.setdefault(cid, TerminalIdentity(tid, code, region, cid))
                if first_term is None:
                    first_term = (code, key)
                elif offline_term is None:  # the first canteen's second till
                    offline_term = (TerminalIdentity(tid, code, region, cid), key)
        assert first_term is not None

        people: list[tuple[int, int, str, int]] = []
        for n in range(staff):
            uid = unit_ids[n % len(unit_ids)] if n < len(unit_ids) * 5 else rng.choice(unit_ids)
            name = chinese_name(rng)
            bank_card = f"6217{rng.randint(10**11, 10**12 - 1)}"
            pid = b.create_person(
                conn,
                region,
                uid,
                f"{n + 1:06d}",
                name,
                standard_fen=60000,
                phone=f"139{rng.randint(10000000, 99999999)}",
                bank_card_no=bank_card,
            )
            bank.open_outside_account(bank_card, name, rng.randint(2_000, 20_000) * 100)
            card = issue_card_conn(conn, sim, pid)
            people.append((pid, uid, card, 60000))
            if progress:
                progress("职工与卡 staff and cards", n + 1, staff)
        logins = _demo_logins(conn, people, unit_ids, list(canteen_of_unit.values()), password)

    goods = _shop(sim, region, next(iter(canteen_of_unit.values())), q_start)
    funded_on = _fund_quarter(sim, clock, quarter, q_start, today, unit_ids)
    meals = _eat(
        sim,
        clock,
        rng,
        people,
        canteen_of_unit,
        terminals,
        funded_on,
        today,
        history_days,
        progress,
    )
    meals += _dish_meals(
        sim,
        clock,
        rng,
        people,
        terminals[next(iter(canteen_of_unit.values()))],
        funded_on,
        today,
        history_days,
    )
    assert offline_term is not None
    meals += _offline_afternoon(sim, clock, rng, people, offline_term[0], funded_on, today)
    community_meals = _community(sim, clock, region, today)
    _waste(sim, clock, rng, people, list(canteen_of_unit.values()), logins, funded_on, today)
    first_cid = next(iter(canteen_of_unit.values()))
    preorders, paid = _menus(sim, clock, people, first_cid, terminals[first_cid], funded_on, today)
    meals += paid  # pre-orders collected (and a no-show charged) are payments too
    _sourcing(sim, clock, next(iter(canteen_of_unit.values())), funded_on, today)
    _survey(sim, clock, rng, people, canteen_of_unit, today)
    first_cid = next(iter(canteen_of_unit.values()))
    cross = _county(sim, clock, rng, region, people, terminals[first_cid], today, logins, password)
    meals += cross
    clock.release()
    return DemoCity(
        enrolment_codes=_enrolment_codes(ctx, logins),
        skip_codes=_skip_codes(ctx, logins),
        activation=_activation_sample(ctx, people, logins),
        region_id=region,
        terminal_code=first_term[0],
        terminal_key=first_term[1],
        card_no=people[0][2],
        payer_name="",
        logins=logins,
        counts={
            "units": len(unit_ids),
            "canteens": len(canteen_of_unit) + 1,  # and the county's (``_county``)
            "staff": len(people),
            "meals": meals,
            "goods": goods,
            "community_meals": community_meals,
            "preorders": preorders,
            "cross_region_meals": cross,
        },
    )


# The city's large-store prices (R-A11) and the first canteen's shop: (barcode, name,
# unit, reference fen, the canteen's price fen). Water sells just under its reference;
# the rice is offered above it and refused (the reference shown), so it is not sold.
REFERENCES = [
    ("6901234567892", "矿泉水 550ml", "瓶", 200, 190),
    ("6902345678901", "袋装牛奶 250ml", "袋", 350, 330),
    ("6903456789012", "洗衣液 2kg", "瓶", 3990, 3590),
    ("6904567890123", "东北大米 5kg", "袋", 3500, 3800),
]
# Dishes: (sku, name, category, fen, grams, allergens, kJ, kcal, protein, fat, carbs, salt mg).
DISHES = [
    ("D001", "红烧肉", "热菜", 1200, 200, "", 2100, 502, 21500, 41000, 9000, 2400),
    ("D002", "番茄炒蛋", "热菜", 600, 220, "鸡蛋", 790, 189, 11200, 12600, 8400, 1800),
    ("D003", "清炒时蔬", "素菜", 400, 200, "", 340, 81, 3100, 5200, 6800, 1200),
    ("D004", "鱼香肉丝", "热菜", 1000, 220, "大豆", 1380, 330, 16400, 21800, 14200, 2600),
]


def _shop(sim: Context, region: int, canteen_id: int, since: date) -> int:
    """Publish the reference prices, keep the first canteen's dishes and goods (stocked);
    returns how many goods it sells."""
    from onecard.catalogue import service as catalogue
    from onecard.core.errors import AboveReferencePrice

    bureau = Actor.system("demo")
    catalogue.publish_references(
        sim,
        bureau,
        region,
        since,
        [catalogue.ReferenceRow(n, ref, bc, "郴州步步高超市") for bc, n, _, ref, _ in REFERENCES],
    )
    for sku, name, cat, fen, grams, allergens, kj, kcal, pro, fat, carb, salt in DISHES:
        catalogue.save_dish(
            sim,
            bureau,
            canteen_id,
            catalogue.DishSpec(
                sku, name, fen, cat, grams, allergens, kj, kcal, pro, fat, carb, salt
            ),
        )
    sold = 0
    for n, (bc, name, unit, _, fen) in enumerate(REFERENCES, start=1):
        try:
            iid = catalogue.save_good(
                sim, bureau, canteen_id, catalogue.GoodSpec(f"G{n:03d}", name, fen, bc, unit)
            )
        except AboveReferencePrice:
            continue  # refused: above the large stores' price
        catalogue.move_stock(sim, bureau, iid, "in", 48, "开业进货")
        sold += 1
    return sold


# A community canteen's residents (issue 17 §4): one of each category, and two with two.
RESIDENTS = (
    ("王秀英", date(1950, 5, 1), {"aged_60": "身份证"}),
    ("李小明", date(2016, 6, 1), {"child_14": "户口簿"}),
    ("李德厚", date(1930, 1, 1), {"revolutionary": "离休证", "aged_60": "身份证"}),
    ("张福贵", date(1945, 3, 20), {"sanwu": "民政认定书", "aged_60": "身份证"}),
    ("赵桂兰", date(1958, 2, 2), {"dibao": "低保证", "aged_60": "身份证"}),
    ("孙志强", date(1935, 8, 1), {"veteran": "参战证明", "aged_60": "身份证"}),
    ("刘建军", date(1980, 7, 15), {"soldier": "退役军人证"}),
    ("陈淑珍", date(1940, 10, 10), {"disabled": "失能评估报告", "aged_60": "身份证"}),
)


def _community(sim: Context, clock: ReplayClock, region: int, today: date) -> int:
    """A community canteen whose residents ate through last month (its claim opened for
    the bureau to review) and this month so far. Returns the meals paid."""
    from onecard.community import claims, service
    from onecard.community.ids import check_digit

    bureau = Actor.system("demo:civil_affairs")
    last_month_end = today.replace(day=1) - timedelta(days=1)
    first = last_month_end.replace(day=1)
    _at(clock, first, 8)
    cid = service.create_canteen(
        sim,
        bureau,
        region_id=region,
        code="SQ001",
        name="北湖区燕泉社区食堂",
        operator="郴州市颐养餐饮有限公司",
        address="郴州市北湖区燕泉街道党群服务中心",
        rating="AA",
    )
    dishes = [
        service.set_dish(sim, bureau, cid, name, price, love)
        for name, price, love in (("爱心餐", 800, True), ("营养套餐", 1200, False))
    ]
    service.fund_subsidies(sim, bureau, region, 5_000_000, f"demo-{first:%Y%m}")
    residents = []
    for n, (name, birth, cats) in enumerate(RESIDENTS, start=1):
        body = f"431002{birth:%Y%m%d}{n:03d}"
        rid = service.register_resident(
            sim,
            bureau,
            region_id=region,
            name=name,
            id_number=body + check_digit(body),
            categories=cats,
        )
        service.top_up(sim, bureau, rid, 20_000, f"demo-{rid}")
        residents.append(rid)
    meals = 0
    day = first
    while day < today:
        if day.weekday() < 5 and day.day % 3 == 1:  # about two lunches a week each
            for i, rid in enumerate(residents):
                _at(clock, day, 11, 30 + i)
                service.pay_meal(
                    sim,
                    bureau,
                    canteen_id=cid,
                    resident_id=rid,
                    dish_id=dishes[i % 2],
                    txn_id=f"demo-{day:%Y%m%d}-{rid}",
                    delivered=i == len(residents) - 1,
                )
                meals += 1
        day += timedelta(days=1)
    _at(clock, today, 9)
    claims.build_claim(sim, bureau, cid, f"{first:%Y-%m}")
    return meals


def _county(
    sim: Context,
    clock: ReplayClock,
    rng: random.Random,
    city: int,
    people: list[tuple[int, int, str, int]],
    city_terminal: TerminalIdentity,
    today: date,
    logins: dict[str, str],
    password: str,
) -> int:
    """Guiyang county keeps its own dining fund (two townships share it): a unit, its
    canteen and a few staff funded from the county's money, the first of them the
    county's bureau admin (``logins["county_bureau_admin"]``: the regional pages, the
    county's money runs, its side of the agreements); a dining agreement with the
    city both ways (county staff at the city's canteens at the visitor price, subsidy
    then cash; city staff at the county's canteen at its staff price, subsidy then cash); lunches
    across the line yesterday, and the quarter's clearing statements computed (open, for
    the two bureaus to confirm). Returns the cross-region meals approved."""
    from sqlalchemy import update

    from onecard.interregion import service as interregion
    from onecard.ledger.service import Leg, account_id, open_system_accounts, post, system_account
    from onecard.org.models import Region

    bureau = Actor.system("demo:bureau")
    day = today - timedelta(days=1)
    _at(clock, day, 9)
    with sim.db.begin() as conn:
        county = b.create_region(conn, "431021", "桂阳县", "county", city)
        conn.execute(update(Region).where(Region.id == county).values(own_fund=True))
        open_system_accounts(conn, county, top=False)
        for code, name in (("431021101", "龙潭街道"), ("431021102", "欧阳海乡")):
            b.create_region(conn, code, name, "township", county)
        uid = b.create_unit(conn, county, "K0001", "桂阳县财政局", default_standard_fen=48000)
        cid = b.create_canteen(
            conn,
            county,
            uid,
            "K001",
            "桂阳县机关食堂",
            operation="self",
            location="桂阳县龙潭街道黄沙坪大道8号",
            phone="0735-4412345",
            serves_visitors=True,
            district="桂阳县",
            coordinates="112.734021,25.754103",
        )
        for code, name, start, end, own in (
            ("lunch", "午餐", time(11, 30), time(13, 30), 500),
            ("dinner", "晚餐", time(17, 30), time(19), 500),
        ):
            b.add_meal_period(conn, cid, code, name, start, end, {"own": own, "visitor": own + 200})
        tid, _ = b.register_terminal(
            conn, county, cid, "K001-1", name="桂阳县机关食堂 1 号机", installed_at=clock.now()
        )
        county_terminal = TerminalIdentity(tid, "K001-1", county, cid)
        fund = system_account(conn, "bank_clearing", county)
        staff: list[str] = []
        for n in range(4):
            pid = b.create_person(conn, county, uid, f"K{n + 1:05d}", chinese_name(rng))
            staff.append(issue_card_conn(conn, sim, pid))
            if n == 0:
                _county_bureau(conn, pid, county, password)
                logins["county_bureau_admin"] = f"K{n + 1:05d}"
            post(  # their own money, topped up
                conn,
                region_id=county,
                kind="demo_county_fund",
                key=f"demo-county:{pid}:cash",
                legs=[Leg(fund, -20000), Leg(account_id(conn, "person", pid, "cash"), 20000)],
                actor="demo",
                booked_at=clock.now(),
            )
        # The county's quarter through its own runs: notices out, the unit's payment in
        # its income account (what the county's receipts and transfer book), distributed.
        post(
            conn,
            region_id=county,
            kind="demo_county_fund",
            key="demo-county:unit",
            legs=[
                Leg(fund, -48000 * 4),
                Leg(account_id(conn, "unit", uid, "unit_income"), 48000 * 4),
            ],
            actor="demo",
            booked_at=clock.now(),
        )
    quarter = quarter_of(day)
    notices.issue_notices(sim, bureau, quarter, region="431021")
    distribution.distribute_all(sim, bureau, quarter, region="431021")
    since = today.replace(day=1, month=1)
    ours = interregion.propose(
        sim,
        bureau,
        "home",
        interregion.AgreementIn(
            county,
            city,
            "visitor",
            "subsidy_first",
            since,
            host_account_no="43050163360000000001",
            host_account_name="郴州市机关事务管理局",
            note="县市互认就餐",
        ),
    )
    interregion.move(sim, bureau, ours, "accept", "host")
    theirs = interregion.propose(
        sim,
        bureau,
        "host",
        interregion.AgreementIn(
            city,
            county,
            "own",
            "subsidy_first",
            since,
            host_account_no="43050163360000000021",
            host_account_name="桂阳县机关事务服务中心",
            note="县市互认就餐",
        ),
    )
    interregion.move(sim, bureau, theirs, "accept", "home")
    meals = 0
    for n, card in enumerate(staff):
        _at(clock, day, 12, n)
        req = PaymentRequest(f"demo-cross-{n}", card, meal="lunch")
        meals += pay(sim, city_terminal, req).approved
    for n, (_, _, card, _) in enumerate(people[:2]):
        _at(clock, day, 12, 10 + n)
        req = PaymentRequest(f"demo-cross-city-{n}", card, meal="lunch")
        meals += pay(sim, county_terminal, req).approved
    _at(clock, today, 9)
    quarter = quarter_of(today)
    interregion.compute_statement(sim, bureau, county, city, quarter)
    interregion.compute_statement(sim, bureau, city, county, quarter)
    return meals


def _county_bureau(conn: Connection, pid: int, county: int, password: str) -> None:
    """The county's bureau admin: granted for the county (and its townships) only."""
    from sqlalchemy import update

    from onecard.core.passwords import hash_password
    from onecard.org.models import Person

    b.grant_role(conn, pid, "bureau_admin", region_id=county)
    conn.execute(
        update(Person)
        .where(Person.id == pid)
        .values(password_hash=hash_password(password), must_change_password=False)
    )


def _at(clock: ReplayClock, day: date, hour: int, minute: int = 0) -> None:
    clock.set(from_local(datetime.combine(day, time(hour, minute))))


def _deliver(sim: Context, bank: SandboxBank) -> None:
    """The bank's callbacks (transfers, top-ups) reach our notification handler."""

    def handle(body: bytes, signature: str) -> None:
        notifications.handle_bank_notification(sim, body, signature)

    bank.deliver(handle)


def _fund_quarter(
    sim: Context,
    clock: ReplayClock,
    quarter: str,
    q_start: date,
    today: date,
    unit_ids: list[int],
) -> date:
    """The quarter's money as it really moves; returns the day the last unit was funded.

    The bureau issues notices on the quarter's first day; units pay on the 8th — except
    one that pays 80 % on the 8th and the rest, late, on the 15th (the console shows it
    short, then paid late). Each day's statement is booked, passed to the income line
    and distributed. Days never run past today: a young quarter is compressed.
    """
    bureau = Actor.system("demo:bureau")
    bank = sim.bank
    assert isinstance(bank, SandboxBank)

    def day(n: int) -> date:
        return min(q_start + timedelta(days=n - 1), today)

    _at(clock, day(1), 9)
    notices.issue_notices(sim, bureau, quarter)
    due = {int(n["unit_id"]): n for n in notices.notice_status(sim, quarter)}
    slow = unit_ids[13]  # 郴州市档案馆: short on time, then late
    plan: dict[date, list[tuple[int, int]]] = {}
    for uid, n in due.items():
        amount = int(n["amount_due_fen"])
        if not amount:
            continue
        if uid == slow:
            first = amount * 4 // 5
            plan.setdefault(day(8), []).append((uid, first))
            plan.setdefault(day(15), []).append((uid, amount - first))
        else:
            plan.setdefault(day(8), []).append((uid, amount))
    accounts = {int(n["unit_id"]): n for n in due.values()}
    last = day(1)
    for when in sorted(plan):
        _at(clock, when, 10)
        for uid, amount in plan[when]:
            ref = accounts[uid]["reference"]
            bank.credit_from_outside(
                f"43050100{unit_ids.index(uid) + 1:08d}",
                DINING_FUND_ACCOUNT,
                amount,
                f"{ref} {quarter} 就餐经费",
            )
        _at(clock, when, 16)
        notices.import_receipts(sim, bureau, when)
        notices.transfer_to_income(sim, bureau)
        _deliver(sim, bank)
        distribution.distribute_all(sim, bureau, quarter)
        last = when
    return last


COMMENTS = [
    "红烧肉很入味，米饭软硬刚好",
    "窗口排队有点长，希望多开一个",
    "青菜新鲜，汤偏咸",
    "阿姨打菜很实在",
    "餐具消毒做得好",
    "鱼有点腥，其他都不错",
    "",
    "",
    "",
]


def _eat(
    sim: Context,
    clock: ReplayClock,
    rng: random.Random,
    people: list[tuple[int, int, str, int]],
    canteen_of_unit: dict[int, int],
    terminals: dict[int, TerminalIdentity],
    funded_on: date,
    today: date,
    history_days: int,
    progress: Callable[[str, int, int], None] | None,
) -> int:
    """Breakfasts and lunches on the last working days before today, through the
    terminals' payment service: most at home, some at another unit's canteen (staff of
    units without a canteen always eat out). A few people top up and rate meals."""
    days: list[date] = []
    d = today - timedelta(days=1)
    while d > funded_on and len(days) < history_days:
        if d.weekday() < 5:
            days.append(d)
        d -= timedelta(days=1)
    days.reverse()
    canteens = list(canteen_of_unit.values())
    bank = sim.bank
    assert isinstance(bank, SandboxBank)
    if days:
        _at(clock, days[0], 9)
        for pid, _uid, _card, _std in rng.sample(people, max(1, len(people) // 20)):
            topup.request_topup(sim, pid, rng.choice([5000, 10000, 20000]))
        _deliver(sim, bank)
    person_of = {card: pid for pid, _u, card, _s in people}
    meals = 0
    for i, day in enumerate(days, start=1):
        eaters: list[tuple[datetime, int, str, str]] = []
        for _pid, uid, card, _std in people:
            home = canteen_of_unit.get(uid)
            if rng.random() < 0.55:
                where = home if home is not None and rng.random() < 0.8 else rng.choice(canteens)
                # The lunch rush: most payments near 12:00.
                minute = int(rng.triangular(0, 110, 25))
                at = datetime.combine(day, time(11, 30)) + timedelta(minutes=minute)
                eaters.append((at, where, card, "lunch"))
            if home is not None and rng.random() < 0.2:
                at = datetime.combine(day, time(7)) + timedelta(minutes=rng.randint(0, 85))
                eaters.append((at, home, card, "breakfast"))
        eaters.sort()
        for n, (at, cid, card, meal) in enumerate(eaters):
            clock.set(from_local(at))
            out = pay(
                sim,
                terminals[cid],
                PaymentRequest(f"demo-{day:%m%d}-{n}", card, meal=meal),
            )
            if b'"approved"' not in out.body:
                continue
            meals += 1
            if rng.random() < 0.06:
                feedback.rate_meal(
                    sim,
                    person_of[card],
                    int(json.loads(out.body)["payment_id"]),
                    {k: rng.choice([3, 4, 4, 5, 5]) for k in ASPECTS},
                    rng.choice(COMMENTS),
                )
        if progress:
            progress("近日就餐 recent meals (days)", i, len(days))
    if days:
        meals += _face_dinners(sim, clock, rng, people, canteen_of_unit, terminals, days[-1])
        _ecny(sim, clock, people, terminals, days[-1])
    return meals


# Dish ratings (R-S1): how each demo dish tends to be rated, and what diners say of it.
DISH_STARS = {
    "D001": [4, 5, 5, 5],
    "D002": [3, 4, 4, 5],
    "D003": [3, 3, 4, 4],
    "D004": [2, 3, 4, 5],
}
DISH_COMMENTS = {
    "D001": ["肥而不腻，很下饭", "分量足", ""],
    "D002": ["家常味道，不错", "", ""],
    "D003": ["有点淡", "青菜新鲜", ""],
    "D004": ["偏咸了", "味道正宗", ""],
}


def _dish_meals(
    sim: Context,
    clock: ReplayClock,
    rng: random.Random,
    people: list[tuple[int, int, str, int]],
    terminal: TerminalIdentity,
    funded_on: date,
    today: date,
    history_days: int,
) -> int:
    """Lunches sold by item lines at the first canteen over the last working days (the
    demo diner every day, some others now and then), most of their dishes rated; the
    demo diner's last meal is left unrated, to rate in the demo."""
    from onecard.catalogue.models import Item
    from onecard.feedback import dishes

    days: list[date] = []
    d = today - timedelta(days=1)
    while d > funded_on and len(days) < history_days:
        if d.weekday() < 5:
            days.append(d)
        d -= timedelta(days=1)
    days.reverse()
    with sim.db.read() as conn:
        item_of = dict(
            conn.execute(
                select(Item.sku, Item.id).where(
                    Item.canteen_id == terminal.canteen_id, Item.kind == "dish"
                )
            ).all()
        )
    from onecard.menus import service as menus

    skus = [sku for sku, *_ in DISHES]
    diners = [people[0], *rng.sample(people[1:], min(40, len(people) - 1))]
    meals = 0
    for i, day in enumerate(days):
        # That day's lunch menu (three of the dishes, in turn): the dish forecast learns
        # each dish's portions per diner from the days it was on the menu.
        menu = [skus[(i + k) % len(skus)] for k in range(3)]
        clock.set(from_local(datetime.combine(day, time(8))))
        menus.set_menu(sim, Actor.system("demo"), terminal.canteen_id, day, "lunch", menu)
        for n, (pid, uid, card, _std) in enumerate(diners):
            if n and rng.random() < 0.6:
                continue
            clock.set(from_local(datetime.combine(day, time(12, 5)) + timedelta(seconds=7 * n)))
            chosen = sorted(rng.sample(menu, rng.randint(1, 3)))
            out = pay(
                sim,
                terminal,
                PaymentRequest(f"dish-{day:%m%d}-{n}", card, items=tuple((s, 1) for s in chosen)),
            )
            if not out.approved:
                continue
            meals += 1
            last_of_demo_diner = n == 0 and i == len(days) - 1
            if last_of_demo_diner or (n and rng.random() < 0.3):
                continue
            with sim.db.read() as conn:
                who = Actor.load(conn, pid, f"demo:{pid}", uid)
            for sku in chosen:
                dishes.rate_dish(
                    sim,
                    who,
                    int(out.data["payment_id"]),
                    int(item_of[sku]),
                    rng.choice(DISH_STARS[sku]),
                    rng.choice(DISH_COMMENTS[sku]),
                )
    return meals


# A 1×1 white PNG: what a clean-plate check-in's photo is in the demo.
DEMO_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8ffff3f0005fe02fea7d6a4a60000000049454e44ae426082"
)


def _waste(
    sim: Context,
    clock: ReplayClock,
    rng: random.Random,
    people: list[tuple[int, int, str, int]],
    canteens: list[int],
    logins: dict[str, str],
    funded_on: date,
    today: date,
) -> None:
    """Waste supervision (R-R4, R-S5) over the last working days: each canteen's
    leftovers of its lunches (30–90 g a diner), the supervisor's inspections, the demo
    diner's and a few others' clean plates every day (a streak), and two waste notices,
    the first acknowledged by its unit."""
    days: list[date] = []
    d = today - timedelta(days=1)
    while d > funded_on and len(days) < 5:
        if d.weekday() < 5:
            days.append(d)
        d -= timedelta(days=1)
    days.reverse()
    if not days:
        return
    with sim.db.read() as conn:
        diners = waste_queries.diners_conn(conn, canteens, days[0], days[-1])
        actors = {
            role: Actor.load(conn, pid, staff_no, uid)
            for role, staff_no in logins.items()
            for pid, uid in conn.execute(
                select(Person.id, Person.unit_id).where(Person.staff_no == staff_no)
            )
        }
    system = Actor.system("demo")
    plate_eaters = [actors["diner"]]
    with sim.db.read() as conn:
        for pid, uid, _card, _std in rng.sample(people[6:], min(4, max(0, len(people) - 6))):
            plate_eaters.append(Actor.load(conn, pid, f"demo:{pid}", uid))
    # Clean plates on every day since the first of them (weekends too: a streak counts
    # calendar days), the demo diner's each day.
    day = days[0]
    while day < today:
        _at(clock, day, 12, 40)
        for a in plate_eaters:
            if a is actors["diner"] or rng.random() < 0.7:
                waste.check_in(sim, a, "lunch", DEMO_PNG)
        day += timedelta(days=1)
    for day in days:
        _at(clock, day, 14)
        for cid in canteens:
            n = diners.get((cid, day, "lunch"), 0)
            if n:
                grams = n * rng.randint(30, 90)
                waste.record_weight(sim, system, cid, day, "lunch", f"{grams / 1000:.3f}")
    first = canteens[0]
    _at(clock, days[-1], 12, 50)
    for day, kg, found in (
        (days[0], "6.4", "米饭剩余较多，建议按需盛饭、推行小份菜"),
        (days[-1], "3.2", "光盘情况良好，个别餐桌剩菜较多"),
    ):
        waste.record_inspection(sim, actors["waste_supervisor"], first, day, "lunch", kg, found)
    _at(clock, days[-1], 16)
    ack = waste.issue_notice(
        sim, system, first, "午餐剩余偏多：请落实按需取餐、小份菜供应并公示光盘情况"
    )
    if len(canteens) > 1:
        waste.issue_notice(sim, system, canteens[1], "晚餐后厨剩饭偏多，请核查备餐量")
    _at(clock, days[-1], 17)
    waste.acknowledge_notice(sim, actors["unit_admin"], ack)


# Purchasing and traceability (R-S2, R-S4): the first canteen's ingredients
# (name, unit, grams per unit), recipes (dish sku → ingredient, grams per portion),
# suppliers and batches (number, ingredient, supplier, quantity, unit cost in fen,
# inspection note: empty = passed).
INGREDIENTS = [
    ("猪五花肉", "kg", 1000),
    ("猪里脊", "kg", 1000),
    ("鸡蛋", "个", 50),
    ("番茄", "斤", 500),
    ("青菜", "kg", 1000),
]
RECIPES = {
    "D001": [("猪五花肉", 150)],
    "D002": [("鸡蛋", 100), ("番茄", 150)],
    "D003": [("青菜", 200)],
    "D004": [("猪里脊", 120)],
}
SUPPLIERS = [
    ("郴州市肉类联合加工厂", "JY14310020001234", "0735-2221234"),
    ("北湖区绿源蔬菜配送中心", "JY14310020005678", "0735-2225678"),
]
BATCHES = [
    ("ZR-DEMO-01", "猪五花肉", 0, "120", 2800, ""),
    ("LJ-DEMO-02", "猪里脊", 0, "80", 3600, ""),
    ("DY-DEMO-03", "鸡蛋", 1, "1500", 60, ""),
    ("SC-DEMO-04", "番茄", 1, "200", 250, ""),
    ("SC-DEMO-05", "青菜", 1, "150", 400, ""),
    ("SC-DEMO-06", "青菜", 1, "60", 380, "农药残留快检超标，已退货"),
]
# What a lunch uses (dish sku → batch number, quantity range in the ingredient's unit).
LUNCH_USES = {
    "D001": ("ZR-DEMO-01", 15, 22),
    "D002": ("DY-DEMO-03", 150, 250),
    "D003": ("SC-DEMO-05", 18, 25),
    "D004": ("LJ-DEMO-02", 8, 12),
}


def _sourcing(
    sim: Context, clock: ReplayClock, canteen_id: int, funded_on: date, today: date
) -> None:
    """The first canteen's kitchen: ingredients, recipes of its four dishes, two
    suppliers, six batches (one failed its inspection) received before the last working
    days, and each of those days' lunches using them — 番茄炒蛋 also the tomatoes.
    Batch ZR-DEMO-01 (pork) is the one to trace. Its own random draws."""
    from onecard.sourcing import queries as sq
    from onecard.sourcing import service as sourcing

    rng = random.Random(16)
    days: list[date] = []
    d = today - timedelta(days=1)
    while d > funded_on and len(days) < 5:
        if d.weekday() < 5:
            days.append(d)
        d -= timedelta(days=1)
    days.reverse()
    if not days:
        return
    _at(clock, days[-1], 18)
    system = Actor.system("demo")
    ing = {
        name: sourcing.add_ingredient(sim, system, canteen_id, name, unit, grams)
        for name, unit, grams in INGREDIENTS
    }
    dish = {d["sku"]: d["id"] for d in sq.canteen_sourcing(sim, canteen_id, uses=0)["dishes"]}
    for sku, lines in RECIPES.items():
        sourcing.save_recipe(sim, system, canteen_id, dish[sku], [(ing[n], g) for n, g in lines])
    sup = [sourcing.add_supplier(sim, system, canteen_id, n, lic, tel) for n, lic, tel in SUPPLIERS]
    batch: dict[str, int] = {}
    for no, name, s, qty, fen, note in BATCHES:
        spec = sourcing.BatchSpec(
            ing[name], sup[s], no, days[0], qty, fen, "fail" if note else "pass", note
        )
        batch[no] = sourcing.receive_batch(sim, system, canteen_id, spec)
    for day in days:
        for sku, (no, low, high) in LUNCH_USES.items():
            q = rng.randint(low, high)
            sourcing.record_use(sim, system, canteen_id, day, "lunch", dish[sku], batch[no], q)
        q = rng.randint(25, 30)
        sourcing.record_use(
            sim, system, canteen_id, day, "lunch", dish["D002"], batch["SC-DEMO-04"], q
        )


SURVEY_QUESTIONS = [
    surveys.QuestionSpec("stars", "您对食堂的总体满意度"),
    surveys.QuestionSpec("single", "饭菜口味", ["偏咸", "适中", "偏淡"]),
    surveys.QuestionSpec(
        "multi", "希望增加的品种", ["面食", "粗粮", "水果", "汤品"], required=False
    ),
    surveys.QuestionSpec("text", "意见和建议", required=False),
]
SURVEY_COMMENTS = ["米饭有时偏硬", "希望午餐多一个素菜", "排队时间有点长", "服务态度很好", ""]


def _survey(
    sim: Context,
    clock: ReplayClock,
    rng: random.Random,
    people: list[tuple[int, int, str, int]],
    canteen_of_unit: dict[int, int],
    today: date,
) -> None:
    """The bureau's city-wide satisfaction survey (R-S3), open from three days ago for
    two weeks, answered by a few dozen diners about their own unit's canteen (or one they
    visit); the demo diner has not answered yet, so the form can be tried."""
    bureau = Actor.system("demo")
    _at(clock, today - timedelta(days=3), 9)
    sid = surveys.publish(
        sim,
        bureau,
        surveys.SurveySpec(
            title="全市机关食堂满意度调查",
            intro="请根据近期就餐体验如实填写，每人一次，约一分钟。",
            starts_on=today - timedelta(days=3),
            ends_on=today + timedelta(days=14),
            questions=SURVEY_QUESTIONS,
        ),
    )
    with sim.db.read() as conn:
        q = [
            int(i)
            for i in conn.execute(
                select(SurveyQuestion.id)
                .where(SurveyQuestion.survey_id == sid)
                .order_by(SurveyQuestion.position)
            ).scalars()
        ]
    canteens = sorted(canteen_of_unit.values())
    _at(clock, today - timedelta(days=1), 13)
    for pid, uid, _card, _std in rng.sample(people[6:], min(40, max(0, len(people) - 6))):
        diner = Actor(f"demo:{pid}", pid, uid, frozenset({("diner", None, None)}))
        answers: dict[int, object] = {
            q[0]: rng.choice([3, 4, 4, 5, 5]),
            q[1]: rng.choice([0, 1, 1, 1, 2]),
            q[2]: sorted(rng.sample(range(4), rng.randint(0, 2))),
            q[3]: rng.choice(SURVEY_COMMENTS),
        }
        canteen = canteen_of_unit.get(uid) or rng.choice(canteens)
        surveys.answer(sim, diner, sid, canteen, answers)


def _ecny(
    sim: Context,
    clock: ReplayClock,
    people: list[tuple[int, int, str, int]],
    terminals: dict[int, TerminalIdentity],
    day: date,
) -> int:
    """A few visitors pay their dinner from their own e-CNY wallets (as guests) on the
    last day, one of them gets part of it back, and two diners top up their cash purse
    by e-CNY — all through the sandbox acquirer, whose notices then arrive (and book
    nothing twice); one more dinner's answer is lost, left pending. Its own random
    draws, so the rest of the demo stays as it was."""
    rng = random.Random(15)
    acquirer = ecny_gateway(sim)
    if not isinstance(acquirer, SandboxEcny):
        return 0
    paid = 0
    orders: list[str] = []
    for n, term in enumerate(list(terminals.values())[:3], start=1):
        wallet = f"W-DEMO-{n}"
        with suppress(Conflict):  # a PostgreSQL city's acquirer store outlives the city
            acquirer.open_wallet(wallet, f"访客{n}", 50_000)
        clock.set(from_local(datetime.combine(day, time(18, 10 + n))))
        req = PaymentRequest(f"demo-ecny-{n}", acquirer.pay_code(wallet), meal="dinner")
        got = ecny.pay(sim, term, req)
        if got.status == "succeeded":
            paid += 1
            orders.append(got.order_no)
    if orders:
        refund_no = "R" + orders[0][1:]
        ecny.refund(sim, Actor.system("demo"), orders[0], 100, refund_no, "少打一个菜")
    for m, (pid, _uid, _card, _std) in enumerate(rng.sample(people, min(2, len(people))), 1):
        wallet = f"W-DEMO-P{m}"
        with suppress(Conflict):
            acquirer.open_wallet(wallet, f"职工{m}", 30_000)
        ecny.topup(sim, Actor.system("demo"), pid, acquirer.pay_code(wallet), 10_000)
    ecny.deliver_sandbox_notices(sim)
    if terminals:
        # One more dinner whose reply is lost (the acquirer took the money, its answer and
        # our one query timed out, its notice is held back): pending, for the bureau's
        # 再次查询 and the day's reconciliation to find.
        clock.set(from_local(datetime.combine(day, time(18, 30))))
        acquirer.behave(late=True, timeouts=1, down=1)
        code = acquirer.pay_code("W-DEMO-1")
        term = next(iter(terminals.values()))
        ecny.pay(sim, term, PaymentRequest("demo-ecny-pending", code, meal="dinner"))
        acquirer.behave(late=False)
    return paid


def _offline_afternoon(
    sim: Context,
    clock: ReplayClock,
    rng: random.Random,
    people: list[tuple[int, int, str, int]],
    terminal: TerminalIdentity,
    funded_on: date,
    today: date,
) -> int:
    """One till loses its network on the last working day before today: it keeps
    selling at the counter through the afternoon on its working set and uploads the
    signed records that evening (``terminals``; the same protocol, answered in
    process). Returns how many sales were applied."""
    day = today - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    if day <= funded_on:
        return 0
    with sim.db.read() as conn:
        unit_id = conn.execute(
            select(Canteen.unit_id).where(Canteen.id == terminal.canteen_id)
        ).scalar_one()
    regulars = [card for _pid, uid, card, _std in people if uid == unit_id][:6]
    if not regulars:
        return 0
    _at(clock, day, 14, 30)
    start = clock.now()
    till = SimTerminal(
        "",
        terminal.code,
        "",
        key=Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)),
        clock=stepping_clock(start + timedelta(minutes=10), timedelta(minutes=7)),
        client=InProcess(sim, terminal),
    )
    till.enrol()
    till.refresh()
    till.cut()  # the network is down from here until the evening
    for card in regulars:
        till.sell(card, amount_fen=rng.choice([800, 1200, 1500]))  # the counter: open amounts
    _at(clock, day, 18, 30)
    till.restore()
    return sum(1 for r in till.upload(batch_size=4) if r["result"] == "applied")


def _face_dinners(
    sim: Context,
    clock: ReplayClock,
    rng: random.Random,
    people: list[tuple[int, int, str, int]],
    canteen_of_unit: dict[int, int],
    terminals: dict[int, TerminalIdentity],
    day: date,
) -> int:
    """Face pay: five diners enrolled by their unit's admin (with their signed consent)
    pay for dinner by face at their home canteen's first terminal, which declares
    liveness detection. The descriptors are synthetic (spread like dlib's: people ≈ 0.9
    apart, each probe ≈ 0.3 from its template); the terminal sends its own."""
    import numpy as np

    from onecard.faces import service as faces
    from onecard.pay.face_pay import FacePayment, face_pay

    admin = Actor.system("demo")
    gen = np.random.default_rng(rng.randint(0, 2**31))
    chosen = [p for p in people if p[1] in canteen_of_unit][:5]
    clock.set(from_local(datetime.combine(day, time(17, 40))))
    templates = {}
    for pid, _uid, _card, _std in chosen:
        templates[pid] = gen.normal(0, 0.9 / 16, 128)
        faces.enrol(sim, admin, pid, descriptor=[float(v) for v in templates[pid]], consent=True)
    for cid in sorted({canteen_of_unit[uid] for _p, uid, _c, _s in chosen}):
        faces.set_liveness(sim, admin, terminals[cid].code, True)
    paid = 0
    for n, (pid, uid, _card, _std) in enumerate(chosen):
        probe = templates[pid] + gen.normal(0, 0.3 / np.sqrt(128), 128)
        clock.set(from_local(datetime.combine(day, time(18, n))))
        fp = FacePayment(
            f"demo-face-{n}", True, descriptor=tuple(float(v) for v in probe), meal="dinner"
        )
        paid += face_pay(sim, terminals[canteen_of_unit[uid]], fp).approved
    return paid


def _enrolment_codes(ctx: Context, logins: dict[str, str]) -> dict[str, str]:
    """The bureau's enrolment code for each login that must bind an authenticator (as
    the bureau would issue on the person's page), so the demo can be signed into."""
    from sqlalchemy import select

    from onecard.org.actors import Actor
    from onecard.org.models import Person
    from onecard.web.accounts import issue_enrolment_code, needs_second_factor

    codes: dict[str, str] = {}
    for label, staff_no in logins.items():
        with ctx.db.read() as conn:
            pid = conn.execute(select(Person.id).where(Person.staff_no == staff_no)).scalar_one()
            needed = needs_second_factor(conn, pid)
        if needed:
            codes[label] = issue_enrolment_code(ctx, Actor.system("demo"), pid)
    return codes


def _skip_codes(ctx: Context, logins: dict[str, str]) -> dict[str, str]:
    """For each login whose role needs an authenticator, a code the sign-in accepts in its
    place (``org.account_codes.DEMO_SKIP``, refused in production): a tester needs no
    authenticator app."""
    from sqlalchemy import select

    from onecard.org import account_codes
    from onecard.org.models import Person
    from onecard.web.accounts import needs_second_factor

    out: dict[str, str] = {}
    with ctx.db.begin() as conn:
        now = ctx.clock.now()
        for label, staff_no in logins.items():
            pid = conn.execute(select(Person.id).where(Person.staff_no == staff_no)).scalar_one()
            if needs_second_factor(conn, pid):
                code = account_codes.new_code()
                account_codes.store(conn, ctx, pid, account_codes.DEMO_SKIP, code, now, 30, "demo")
                out[label] = code
    return out


def _activation_sample(
    ctx: Context, people: list[tuple[int, int, str, int]], logins: dict[str, str]
) -> tuple[str, str, str] | None:
    """One diner without a password gets an activation code, to try /activate with."""
    from sqlalchemy import select

    from onecard.org.actors import Actor
    from onecard.org.models import Person
    from onecard.web.account_activation import issue_activation_code

    with ctx.db.read() as conn:
        taken = set(logins.values())
        for pid, _, _, _ in people:
            row = conn.execute(
                select(Person.staff_no, Person.password_hash).where(Person.id == pid)
            ).one()
            if row.staff_no not in taken and row.password_hash is None:
                break
        else:
            return None
    issued = issue_activation_code(ctx, Actor.system("demo"), pid)
    return issued.staff_no, issued.name, issued.code


def _menus(
    sim: Context,
    clock: ReplayClock,
    people: list[tuple[int, int, str, int]],
    canteen_id: int,
    terminal: TerminalIdentity,
    funded_on: date,
    today: date,
) -> tuple[int, int]:
    """Menus and pre-orders (R-S2, R-S3) at the first canteen: lunch and dinner menus of
    this week and the next days, cut-off 18:00 the day before, no-shows charged.
    Yesterday's pre-orders were collected at the till but one (a no-show, charged by
    this morning's run); tomorrow's are placed — the demo diner's lunch paid ahead (on
    hold), others' at pick-up, one cancelled. Returns how many pre-orders exist and how
    many payments they made."""
    from onecard.menus import service as menus

    system = Actor.system("demo")
    start = today - timedelta(days=2)
    _at(clock, start, 8)
    menus.set_rule(sim, system, canteen_id, time(18), "charge")
    skus = [d[0] for d in DISHES]
    monday = today - timedelta(days=today.weekday())
    days = sorted(
        {monday + timedelta(days=i) for i in range(7)}
        | {today + timedelta(days=i) for i in range(-1, 8)}
    )
    for n, day in enumerate(days):
        lunch = [skus[(n + k) % len(skus)] for k in range(3)]
        menus.set_menu(sim, system, canteen_id, day, "lunch", lunch)
        menus.set_menu(
            sim, system, canteen_id, day, "dinner", sorted({skus[(n + 3) % len(skus)], "D003"})
        )
    placed = paid = 0

    def order(
        pid: int,
        uid: int,
        day: date,
        meal: str,
        lines: tuple[tuple[str, int], ...],
        mode: str,
        tag: str,
    ) -> dict[str, Any]:
        actor = Actor(f"demo:{pid}", person_id=pid, unit_id=uid)
        menu = {r.sku for r in _menu_of(sim, canteen_id, day) if r.meal == meal}
        spec = menus.PreorderSpec(
            canteen_id,
            day,
            meal,
            tuple(x for x in lines if x[0] in menu) or ((sorted(menu)[0], 1),),
            mode,
            f"demo-{tag}-{pid}-{day:%m%d}",
        )
        return menus.place(sim, actor, spec)

    if funded_on < start and len(people) > 12:
        yesterday = today - timedelta(days=1)
        eaters = people[6:10]
        for i, (pid, uid, _card, _std) in enumerate(eaters):
            order(
                pid,
                uid,
                yesterday,
                "lunch",
                (("D001", 1), ("D003", 1), ("D002", 1)),
                "at_pickup" if i == 1 else "prepaid",
                "y",
            )
            placed += 1
        _at(clock, yesterday, 12)
        for n, (_pid, _uid, card, _std) in enumerate(eaters[:-1]):
            menus.pickup(sim, terminal, f"demo-pick-{n}", card)
            paid += 1
        _at(clock, today, 0, 30)
        paid += menus.close_day(sim, system, yesterday).charged  # the last one never came
    _at(clock, today, 9)
    tomorrow = today + timedelta(days=1)
    pid, uid, _card, _std = people[0]
    order(pid, uid, tomorrow, "lunch", (("D001", 1), ("D003", 1)), "prepaid", "t")
    placed += 1
    for i, (pid, uid, _card, _std) in enumerate(people[10:14]):
        got = order(
            pid,
            uid,
            tomorrow,
            "lunch" if i % 2 else "dinner",
            (("D002", 1), ("D004", 1)),
            "at_pickup" if i % 2 else "prepaid",
            "t",
        )
        placed += 1
        if i == 3:
            menus.cancel(sim, Actor(f"demo:{pid}", person_id=pid, unit_id=uid), got["id"])
    return placed, paid


def _menu_of(sim: Context, canteen_id: int, day: date) -> list[Any]:
    from onecard.menus import queries as menu_queries

    with sim.db.read() as conn:
        return list(menu_queries.menu_rows(conn, canteen_id, day, day))


def _demo_logins(
    conn: Connection,
    people: list[tuple[int, int, str, int]],
    unit_ids: list[int],
    canteens: list[int],
    password: str,
) -> dict[str, str]:
    """A few people get roles and a known password so every page can be tried."""
    from sqlalchemy import select, update

    from onecard.core.passwords import hash_password
    from onecard.org.models import Canteen, Person

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
    grants["waste_supervisor"] = (
        in_owner[min(3, len(in_owner) - 1)][0],
        "waste_supervisor",
        {"unit_id": owner_of_first},
    )
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
