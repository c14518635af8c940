"""A Chenzhou-scale city in PostgreSQL, built with COPY in one transaction.

Contract: ``build_city(url, scale)`` drops and recreates the database named in ``url``
(always a bench database on 127.0.0.1, never the test or a user database), brings it to
the newest schema through the migrations, and loads regions, units, canteens with meal
rules and prices, terminals, staff with cards and payment-code secrets, every ledger
account, and the quarter's funding as balanced journal entries (bank → dining fund →
unit income line → each person's subsidy purse; a few cash top-ups). Cached purse
balances are written equal to their postings, and the PostgreSQL zero-sum constraint
trigger checks every funding entry at COMMIT. It returns a ``BenchCity``: what the
simulated terminals need (device keys, card numbers, payment-code secrets).
"""

from __future__ import annotations

import base64
import hashlib
import random
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from onecard.core.clock import quarter_of, to_local
from onecard.core.db import create_schema, make_engine, normalise_url
from onecard.demo import GIVEN, STREETS, SURNAMES
from onecard.ledger.models import CACHED_KINDS, NEGATIVE_ALLOWED, SYSTEM_KINDS
from onecard.ledger.service import open_system_accounts
from onecard.org.builders import create_region, hash_device_key
from onecard.pay.cards import luhn_digit

Progress = Callable[[str, int, int], None]  # (step, done, total)

BUREAUS = [
    "发展和改革委员会",
    "教育局",
    "科学技术局",
    "工业和信息化局",
    "公安局",
    "民政局",
    "司法局",
    "财政局",
    "人力资源和社会保障局",
    "自然资源和规划局",
    "生态环境局",
    "住房和城乡建设局",
    "交通运输局",
    "水利局",
    "农业农村局",
    "商务局",
    "文化旅游广电体育局",
    "卫生健康委员会",
    "退役军人事务局",
    "应急管理局",
    "审计局",
    "市场监督管理局",
    "统计局",
    "医疗保障局",
    "林业局",
    "城市管理和综合执法局",
    "机关事务管理局",
    "信访局",
    "档案馆",
    "人民医院",
    "中医医院",
    "第一中学",
    "第二中学",
    "实验小学",
    "疾病预防控制中心",
    "税务局",
    "气象局",
    "供销合作社",
    "人民法院",
    "人民检察院",
    "总工会",
    "团委",
    "妇联",
]
PLACES = [
    "郴州市",
    "北湖区",
    "苏仙区",
    "资兴市",
    "桂阳县",
    "宜章县",
    "永兴县",
    "嘉禾县",
    "临武县",
    "汝城县",
    "桂东县",
    "安仁县",
]
OPERATORS = [
    "郴州湘南餐饮服务有限公司",
    "湖南膳源团餐管理有限公司",
    "郴州康膳餐饮管理有限公司",
    "郴州禾丰餐饮有限公司",
    "湖南味香园团膳有限公司",
    "郴州百味餐饮管理有限公司",
]
BENCH_SECRET = b"onecard-bench-device-keys"
# Hunan's 14 cities (13 prefecture-level cities and Xiangxi prefecture), by code: a
# province in the bench is the first N of them under 湖南省, Chenzhou first.
PROVINCE = ("430000", "湖南省")
HUNAN = [
    ("431000", "郴州市"),
    ("430100", "长沙市"),
    ("430200", "株洲市"),
    ("430300", "湘潭市"),
    ("430400", "衡阳市"),
    ("430500", "邵阳市"),
    ("430600", "岳阳市"),
    ("430700", "常德市"),
    ("430800", "张家界市"),
    ("430900", "益阳市"),
    ("431100", "永州市"),
    ("431200", "怀化市"),
    ("431300", "娄底市"),
    ("433100", "湘西土家族苗族自治州"),
]


@dataclass(frozen=True)
class CityScale:
    units: int = 1679
    canteens: int = 1205
    staff: int = 83600
    terminals_per_canteen: int = 3
    lost_share: float = 0.003  # cards reported lost
    poor_share: float = 0.005  # no subsidy, 1 yuan of cash: their payments are refused
    cash_share: float = 0.2  # have topped up their cash purse


FULL = CityScale()
QUICK = CityScale(units=60, canteens=40, staff=3000, terminals_per_canteen=2)


@dataclass
class BenchPerson:
    id: int
    unit_id: int
    card_no: str
    token: str
    secret: str
    kind: str  # ok | lost | poor
    subsidy: int
    cash: int


@dataclass
class BenchTerminal:
    id: int
    code: str
    key: str
    canteen_id: int


@dataclass
class BenchCity:
    url: str
    region_id: int
    quarter: str
    people: list[BenchPerson]
    terminals: dict[int, list[BenchTerminal]]  # by canteen
    canteen_of_unit: dict[int, int]
    canteen_ids: list[int]
    lunch_price: dict[int, tuple[int, int, int]]  # canteen → own, visitor, guest
    counts: dict[str, int] = field(default_factory=dict)
    # A province (``cities`` > 1): each city's region, the region of each unit and
    # canteen, and each city's canteens (its people eat in their own city). One city:
    # every unit and canteen is in ``region_id``.
    regions: list[int] = field(default_factory=list)
    region_of_unit: dict[int, int] = field(default_factory=dict)
    region_of_canteen: dict[int, int] = field(default_factory=dict)
    canteens_of_region: dict[int, list[int]] = field(default_factory=dict)
    funded_fen: int = 0
    seconds: float = 0.0


def plain_url(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (for psycopg and pgbench)."""
    u = make_url(normalise_url(url))
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def check_local(url: str) -> None:
    host = make_url(normalise_url(url)).host or "localhost"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"the bench only targets this machine (127.0.0.1), not {host}")


def recreate_database(url: str) -> None:
    check_local(url)
    u = make_url(normalise_url(url))
    name = u.database
    if not name or name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to drop database {name!r}: give the bench its own")
    admin = make_engine(
        u.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def device_key(code: str) -> str:
    return hashlib.blake2b(code.encode(), key=BENCH_SECRET, digest_size=24).hexdigest()


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def copy_rows(
    cur: psycopg.Cursor[Any],
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    total: int,
    progress: Progress | None,
    label: str,
) -> int:
    n = 0
    step = max(1, total // 50)
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
            if progress and n % step == 0:
                progress(label, n, total)
    if progress:
        progress(label, n, total)
    return n


@dataclass
class _Plan:
    """Every city's rows, in memory, with ids unique across the province."""

    units: list[int] = field(default_factory=list)
    unit_std: dict[int, int] = field(default_factory=dict)
    region_of_unit: dict[int, int] = field(default_factory=dict)
    canteen_of_unit: dict[int, int] = field(default_factory=dict)
    region_of_canteen: dict[int, int] = field(default_factory=dict)
    canteens_of_region: dict[int, list[int]] = field(default_factory=dict)
    people: list[BenchPerson] = field(default_factory=list)
    lunch_price: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    terminals: dict[int, list[BenchTerminal]] = field(default_factory=dict)
    city_name: dict[int, str] = field(default_factory=dict)

    @property
    def canteen_ids(self) -> list[int]:
        return sorted(self.region_of_canteen)


def _plan_city(
    rng: random.Random,
    plan: _Plan,
    scale: CityScale,
    index: int,
    region: int,
    region_code: str,
    tokens: list[int],
) -> None:
    """One city's units, canteens, people and terminals, ids offset by ``index``."""
    u0, c0, p0 = index * scale.units, index * scale.canteens, index * scale.staff
    t0 = index * scale.canteens * scale.terminals_per_canteen
    units = list(range(u0 + 1, u0 + scale.units + 1))
    plan.units += units
    for u in units:
        plan.unit_std[u] = rng.choice([54000, 60000, 66000])
        plan.region_of_unit[u] = region
    canteen_units = rng.sample(units, scale.canteens)
    canteen_ids = list(range(c0 + 1, c0 + scale.canteens + 1))
    plan.canteen_of_unit.update(zip(canteen_units, canteen_ids, strict=True))
    plan.canteens_of_region[region] = canteen_ids
    for cid in canteen_ids:
        plan.region_of_canteen[cid] = region
    weights = [rng.lognormvariate(0, 0.8) for _ in units]
    person_units = rng.choices(units, weights=weights, k=scale.staff)
    card_bodies = rng.sample(range(10**9), scale.staff)
    for i in range(scale.staff):
        r = rng.random()
        kind = (
            "lost"
            if r < scale.lost_share
            else ("poor" if r < scale.lost_share + scale.poor_share else "ok")
        )
        body = region_code[:6] + f"{card_bodies[i]:09d}"
        cash = (
            100
            if kind == "poor"
            else (rng.choice([2000, 5000, 10000]) if rng.random() < scale.cash_share else 0)
        )
        plan.people.append(
            BenchPerson(
                id=p0 + i + 1,
                unit_id=person_units[i],
                card_no=body + luhn_digit(body),
                token=f"{tokens[p0 + i]:08d}",
                secret=base64.b32encode(rng.randbytes(20)).decode(),
                kind=kind,
                subsidy=0 if kind == "poor" else plan.unit_std[person_units[i]],
                cash=cash,
            )
        )
    tid = t0
    for cid in canteen_ids:
        own = rng.choice([400, 450, 500, 550, 600])
        plan.lunch_price[cid] = (own, own + 200, own * 2)
        plan.terminals[cid] = []
        for t in range(1, scale.terminals_per_canteen + 1):
            tid += 1
            code = f"T{cid:05d}-{t}"
            plan.terminals[cid].append(BenchTerminal(tid, code, device_key(code), cid))


def _create_regions(
    url: str, cities: int, region_code: str
) -> tuple[int, list[tuple[int, str, str]], dict[int, dict[str, int]]]:
    """The top region and each city (id, code, name) with its system accounts by kind.

    One city: the city is the top region (as a real city deployment). A province: the
    province is the top, and every city keeps its own dining fund (``own_fund``)."""
    engine = make_engine(url)
    create_schema(engine)
    made: list[tuple[int, str, str]] = []
    with engine.begin() as conn:
        if cities == 1:
            top = create_region(conn, region_code, "郴州市")
            made.append((top, region_code, "郴州市"))
        else:
            top = create_region(conn, PROVINCE[0], PROVINCE[1], "province")
            for code, name in HUNAN[:cities]:
                rid = create_region(conn, code, name, "city", top)
                conn.execute(text("UPDATE regions SET own_fund = TRUE WHERE id = :r"), {"r": rid})
                open_system_accounts(conn, rid, top=False)
                made.append((rid, code, name))
        system: dict[int, dict[str, int]] = {}
        for region, kind, aid in conn.execute(
            text("SELECT region_id, kind, id FROM accounts WHERE owner_kind = 'system'")
        ):
            system.setdefault(int(region), {})[kind] = int(aid)
    engine.dispose()
    for rid, _, _ in made:
        assert set(system[rid]) == set(SYSTEM_KINDS)
    return top, made, system


def build_city(
    url: str,
    scale: CityScale = FULL,
    *,
    region_code: str = "431000",
    seed: int = 735,
    progress: Progress | None = None,
    now: datetime | None = None,
    cities: int = 1,
) -> BenchCity:
    """One city (``cities`` = 1) or a province of ``cities`` cities of ``scale`` each
    (Hunan's, at most 14), every row carrying its city's region."""
    if not 1 <= cities <= len(HUNAN):
        raise ValueError(f"cities must be 1–{len(HUNAN)}")
    started = _time.perf_counter()
    rng = random.Random(seed)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    quarter = quarter_of(to_local(now).date())
    recreate_database(url)
    _top, made, system = _create_regions(url, cities, region_code)

    # --- the plan, in memory --------------------------------------------------------
    plan = _Plan()
    # Payment-code tokens are unique in the deployment: one draw for every city.
    tokens = rng.sample(range(10**8), scale.staff * cities)
    for index, (rid, code, name) in enumerate(made):
        plan.city_name[rid] = name
        _plan_city(rng, plan, scale, index, rid, code, tokens)
    units, unit_std, people = plan.units, plan.unit_std, plan.people
    canteen_of_unit, canteen_ids = plan.canteen_of_unit, plan.canteen_ids
    lunch_price, terminals = plan.lunch_price, plan.terminals
    unit_region, canteen_region = plan.region_of_unit, plan.region_of_canteen

    # --- COPY ---------------------------------------------------------------------------
    counts: dict[str, int] = {}
    funded = 0
    with psycopg.connect(plain_url(url)) as pg, pg.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM accounts")
        next_acct = int(cur.fetchone()[0]) + 1  # type: ignore[index]

        counts["units"] = copy_rows(
            cur,
            "units",
            [
                "id",
                "region_id",
                "code",
                "name",
                "bank_account",
                "contact",
                "phone",
                "default_standard_fen",
            ],
            (
                (
                    u,
                    unit_region[u],
                    f"U{u:05d}",
                    f"{_place(rng, plan.city_name[unit_region[u]])}{rng.choice(BUREAUS)}",
                    f"43050100{u:08d}",
                    _name(rng),
                    f"0735-2{u:06d}",
                    unit_std[u],
                )
                for u in units
            ),
            len(units),
            progress,
            "units 单位",
        )
        counts["canteens"] = copy_rows(
            cur,
            "canteens",
            [
                "id",
                "region_id",
                "unit_id",
                "code",
                "name",
                "operation",
                "operator_name",
                "operator_bank_account",
                "location",
                "contact",
                "phone",
                "capacity",
                "service_staff",
                "dining_area_m2",
                "opening_hours",
                "notes",
                "serves_visitors",
                "serves_guests",
                "purse_order",
                "rollout_status",
            ],
            (_canteen_row(rng, canteen_region[cid], cid, u) for u, cid in canteen_of_unit.items()),
            len(canteen_ids),
            progress,
            "canteens 食堂",
        )
        periods: list[tuple[int, int, str, str, time, time, int]] = []
        prices: list[tuple[int, int, str, int]] = []
        mp = 0
        for cid in canteen_ids:
            own, visitor, guest = lunch_price[cid]
            # Lunch is served all day in the bench city so the rush can run at any hour;
            # the per-person limit (one lunch a day) still applies and is checked.
            for code, name, start, end, o in (
                ("breakfast", "早餐", time(7), time(8, 30), own // 2),
                ("lunch", "午餐", time(0), time(23, 59, 59), own),
                ("dinner", "晚餐", time(17, 30), time(19), own),
            ):
                mp += 1
                periods.append((mp, cid, code, name, start, end, 1))
                for klass, price in (
                    ("own", o),
                    ("visitor", o + (visitor - own)),
                    ("guest", o + (guest - own)),
                ):
                    prices.append((len(prices) + 1, mp, klass, price))
        counts["meal_periods"] = copy_rows(
            cur,
            "meal_periods",
            ["id", "canteen_id", "code", "name", "starts", "ends", "per_person_limit"],
            periods,
            len(periods),
            progress,
            "meal periods 餐次",
        )
        copy_rows(
            cur,
            "meal_prices",
            ["id", "meal_period_id", "diner_class", "price_fen"],
            prices,
            len(prices),
            progress,
            "prices 价格",
        )
        all_terms = [t for ts in terminals.values() for t in ts]
        counts["terminals"] = copy_rows(
            cur,
            "terminals",
            ["id", "region_id", "canteen_id", "code", "name", "key_hash", "status", "installed_at"],
            (
                (
                    t.id,
                    canteen_region[t.canteen_id],
                    t.canteen_id,
                    t.code,
                    f"{t.code} 消费机",
                    hash_device_key(t.key),
                    "live",  # the benchmark's terminals pay at once (rollout.states)
                    now,
                )
                for t in all_terms
            ),
            len(all_terms),
            progress,
            "terminals 消费机",
        )
        counts["staff"] = copy_rows(
            cur,
            "people",
            [
                "id",
                "region_id",
                "unit_id",
                "staff_no",
                "name",
                "category",
                "phone",
                "status",
                "standard_fen",
                "bank_card_no",
                "paycode_token",
                "paycode_secret",
                "paycode_last_step",
                "must_change_password",
                "totp_last_step",
            ],
            (
                (
                    p.id,
                    unit_region[p.unit_id],
                    p.unit_id,
                    f"{p.id:07d}",
                    _name(rng),
                    "contract" if p.kind == "poor" else "staff",
                    f"139{rng.randrange(10**8):08d}",
                    "active",
                    p.subsidy,
                    f"6217{p.id:012d}",
                    p.token,
                    p.secret,
                    0,
                    True,
                    0,
                )
                for p in people
            ),
            len(people),
            progress,
            "staff 职工",
        )
        counts["cards"] = copy_rows(
            cur,
            "cards",
            ["id", "region_id", "card_no", "person_id", "status", "issued_at", "status_changed_at"],
            (
                (
                    p.id,
                    unit_region[p.unit_id],
                    p.card_no,
                    p.id,
                    "lost" if p.kind == "lost" else "active",
                    now,
                    now if p.kind == "lost" else None,
                )
                for p in people
            ),
            len(people),
            progress,
            "cards 卡",
        )

        # Accounts: two purses per person, two lines per unit, a payable per canteen.
        acct: dict[tuple[str, int, str], int] = {}
        rows: list[tuple[int, int, str, str, int, bool, bool, int]] = []

        def add(owner_kind: str, owner: int, kind: str, region: int, balance: int = 0) -> None:
            aid = next_acct + len(rows)
            acct[(owner_kind, owner, kind)] = aid
            rows.append(
                (
                    aid,
                    region,
                    kind,
                    owner_kind,
                    owner,
                    kind in NEGATIVE_ALLOWED,
                    kind in CACHED_KINDS,
                    balance,
                )
            )

        for p in people:
            add("person", p.id, "subsidy", unit_region[p.unit_id], p.subsidy)
            add("person", p.id, "cash", unit_region[p.unit_id], p.cash)
        for u in units:
            add("unit", u, "unit_income", unit_region[u])
            add("unit", u, "unit_returned", unit_region[u])
        for cid in canteen_ids:
            add("canteen", cid, "canteen_payable", canteen_region[cid])
        counts["accounts"] = copy_rows(
            cur,
            "accounts",
            [
                "id",
                "region_id",
                "kind",
                "owner_kind",
                "owner_id",
                "allow_negative",
                "cached",
                "balance",
            ],
            rows,
            len(rows),
            progress,
            "accounts 账户",
        )

        # The quarter's money, the way real money arrives (as the demo does it).
        entries: list[tuple[int, int, str, str, str, datetime, datetime, str, str, str, int]] = []
        postings: list[tuple[int, int, int, int]] = []

        def entry(kind: str, key: str, legs: list[tuple[int, int]], ref: str, region: int) -> None:
            eid = len(entries) + 1
            entries.append((eid, region, kind, key, quarter, now, now, "bench", ref, "", len(legs)))
            assert sum(a for _, a in legs) == 0
            for account, amount in legs:
                postings.append((len(postings) + 1, eid, account, amount))

        members: dict[int, list[BenchPerson]] = {}
        for p in people:
            members.setdefault(p.unit_id, []).append(p)
        # Each city's money goes through its own dining fund (its system accounts).
        for u, ps in members.items():
            total = sum(p.subsidy for p in ps)
            if total == 0:
                continue
            funded += total
            region = unit_region[u]
            bank, fund = system[region]["bank_clearing"], system[region]["dining_fund"]
            income = acct[("unit", u, "unit_income")]
            entry(
                "unit_funds_in",
                f"bench:in:{quarter}:{u}",
                [(bank, -total), (fund, total)],
                f"单位 {u} {quarter} 就餐经费",
                region,
            )
            entry(
                "to_income",
                f"bench:income:{quarter}:{u}",
                [(fund, -total), (income, total)],
                "",
                region,
            )
            entry(
                "distribution",
                f"bench:dist:{quarter}:{u}",
                [(income, -total)]
                + [(acct[("person", p.id, "subsidy")], p.subsidy) for p in ps if p.subsidy],
                f"{quarter} 补贴发放",
                region,
            )
        for p in people:
            if p.cash:
                funded += p.cash
                region = unit_region[p.unit_id]
                entry(
                    "topup",
                    f"bench:topup:{p.id}",
                    [
                        (system[region]["bank_clearing"], -p.cash),
                        (acct[("person", p.id, "cash")], p.cash),
                    ],
                    "自费充值",
                    region,
                )
        counts["entries"] = copy_rows(
            cur,
            "journal_entries",
            [
                "id",
                "region_id",
                "kind",
                "idempotency_key",
                "period",
                "booked_at",
                "occurred_at",
                "actor",
                "reference",
                "memo",
                "legs",
            ],
            entries,
            len(entries),
            progress,
            "funding entries 分录",
        )
        counts["postings"] = copy_rows(
            cur,
            "postings",
            ["id", "entry_id", "account_id", "amount"],
            postings,
            len(postings),
            progress,
            "postings 过账",
        )
        for table in (
            "units",
            "canteens",
            "meal_periods",
            "meal_prices",
            "terminals",
            "people",
            "cards",
            "accounts",
            "journal_entries",
            "postings",
        ):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        if progress:
            progress("commit (zero-sum trigger checks every entry)", 0, 1)
        pg.commit()
        if progress:
            progress("commit (zero-sum trigger checks every entry)", 1, 1)
        pg.autocommit = True
        cur.execute("VACUUM ANALYZE")
    return BenchCity(
        url=url,
        region_id=made[0][0],
        quarter=quarter,
        people=people,
        terminals=terminals,
        canteen_of_unit=canteen_of_unit,
        canteen_ids=canteen_ids,
        lunch_price=lunch_price,
        counts=counts,
        funded_fen=funded,
        regions=[rid for rid, _, _ in made],
        region_of_unit=unit_region,
        region_of_canteen=canteen_region,
        canteens_of_region=plan.canteens_of_region,
        seconds=_time.perf_counter() - started,
    )


def _place(rng: random.Random, city: str) -> str:
    """Where a unit sits: Chenzhou's districts and counties, or another city's name."""
    return rng.choice(PLACES) if city == "郴州市" else city


def _canteen_row(rng: random.Random, region: int, cid: int, unit: int) -> tuple[Any, ...]:
    outsourced = rng.random() < 0.45
    return (
        cid,
        region,
        unit,
        f"C{cid:05d}",
        f"第{cid}职工食堂",
        "outsourced" if outsourced else "self",
        rng.choice(OPERATORS) if outsourced else None,
        f"62270035{cid:08d}" if outsourced else None,
        f"郴州市北湖区{rng.choice(STREETS)}{rng.randint(1, 300)}号",
        _name(rng),
        f"0735-28{rng.randint(10000, 99999)}",
        rng.choice([80, 120, 200, 300]),
        rng.randint(4, 20),
        rng.choice([150, 260, 400, 600]),
        "早 07:00–08:30 · 午 11:30–13:30 · 晚 17:30–19:00",
        "",
        True,
        True,
        "subsidy_first",
        "live",
    )
