"""Community canteens' writes: the rules, residents and their wallets, canteens and their
meals, and paying for a meal (R-C1..R-C4). Claims and ratings: ``community.claims``.

Contract:
- Every public function is one transaction (``ctx.db.begin``), checks the actor again
  and, for a change a person makes, writes its audit record (kind ``community``) as the
  transaction's last write. Paying for a meal is not audited (like every payment: the
  ledger entry and the meal row are its record).
- Who: the civil affairs bureau. There is no role of that name yet: its work is done by
  the bureau (``Actor.require_bureau``: bureau admin or clearing operator); reading is
  for every city reader.
- Money: every movement is one balanced entry through ``ledger.service.post`` with an
  idempotency key — a top-up ``bank_clearing → resident_wallet`` (cash taken at the
  counter is banked), the bureau's fund ``bank_clearing → civil_subsidy``, a meal
  ``resident_wallet`` (the resident's part) and ``civil_subsidy`` (the subsidy and any
  delivery subsidy) ``→ cc_sales`` / ``cc_subsidy`` of the canteen. A wallet or fund
  that cannot cover its part refuses the meal (``InsufficientFunds``): nothing written.
- ``pay_meal`` is idempotent per (canteen, ``txn_id``): the same request again returns
  the first meal; another request with a known ``txn_id`` is ``IdempotencyConflict``.
  The resident's wallet row is locked first, so two meals of one resident are priced
  one after the other (today's allowance and cap are read after the lock).
- A love meal priced above the rules' cap is refused (``LoveMealAboveCap``) when it is
  priced and again when it is paid, so a lower cap set later holds at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from onecard.audit.service import record
from onecard.community.ids import age_on, parse_id_number
from onecard.community.models import (
    CommunityCanteen,
    CommunityDish,
    CommunityMeal,
    CommunityRules,
    Resident,
    ResidentCategory,
)
from onecard.community.rules import (
    CATEGORIES,
    DEFAULT,
    GRADES,
    Rules,
    Used,
    delivery_subsidy,
    meal_subsidy,
)
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import (
    CategoryNotMet,
    DuplicateCode,
    IdempotencyConflict,
    InvalidAmount,
    InvalidIdNumber,
    InvalidInput,
    LoveMealAboveCap,
    NotFound,
)
from onecard.core.money import MAX_AMOUNT_FEN, yuan
from onecard.ledger.models import Account
from onecard.ledger.service import (
    Leg,
    account_id,
    fund_region_of,
    open_account,
    post,
    system_account,
)
from onecard.org.actors import Actor

CANTEEN_ACCOUNTS = ("cc_sales", "cc_subsidy", "cc_due")
# A meal's slot by Beijing time: what "one meal" means for the supervision's checks.
SLOTS = ((time(10, 30), "breakfast"), (time(16, 0), "lunch"), (time(23, 59, 59), "dinner"))


def slot_of(local: datetime) -> str:
    for until, name in SLOTS:
        if local.time() < until:
            return name
    return "dinner"


def _amount(fen: int) -> int:
    if type(fen) is not int or not 0 < fen <= MAX_AMOUNT_FEN:
        raise InvalidAmount()
    return fen


# --- the rules ---------------------------------------------------------------------------
def current_rules(conn: Connection) -> tuple[int, Rules]:
    """The newest version (0 and seed 003's defaults when the bureau has set none)."""
    row = conn.execute(
        select(CommunityRules.version, CommunityRules.rules)
        .order_by(CommunityRules.version.desc())
        .limit(1)
    ).first()
    return (0, DEFAULT) if row is None else (int(row.version), Rules.from_json(row.rules))


def set_rules(ctx: Context, actor: Actor, changes: Mapping[str, object], note: str = "") -> int:
    """A new version: the current rules with ``changes`` applied. Returns its number."""
    actor.require_bureau()
    with ctx.db.begin() as conn:
        version, rules = current_rules(conn)
        new = Rules.from_dict({**asdict(rules), **changes})
        conn.execute(
            insert(CommunityRules).values(
                version=version + 1,
                rules=new.to_json(),
                note=note[:200],
                set_by=actor.label[:100],
                set_at=ctx.clock.now(),
            )
        )
        before, after = json.loads(rules.to_json()), json.loads(new.to_json())
        keys = [k for k in after if before.get(k) != after.get(k)]
        record(
            conn,
            ctx,
            actor,
            "community",
            "community_rules",
            target=f"rules v{version + 1}",
            before={k: before[k] for k in keys},
            after={k: after[k] for k in keys},
            data={"note": note},
        )
        return version + 1


# --- residents ---------------------------------------------------------------------------
def _check_categories(
    rules: Rules, categories: Mapping[str, str], birth: date, today: date
) -> dict[str, str]:
    out: dict[str, str] = {}
    for c, proof in categories.items():
        if c not in CATEGORIES:
            raise InvalidInput(f"未知类别：{c}")
        if not str(proof).strip():
            raise InvalidInput(f"类别 {c} 须附证明说明")
        age = age_on(birth, today)
        if (c == "aged_60" and age < rules.elder_age) or (
            c == "child_14" and age >= rules.child_age
        ):
            raise CategoryNotMet(category=c)
        out[c] = str(proof).strip()[:200]
    return out


def register_resident(
    ctx: Context,
    actor: Actor,
    *,
    region_id: int,
    name: str,
    id_number: str,
    categories: Mapping[str, str],
    birth_date: date | None = None,
    address: str = "",
) -> int:
    """Register a resident with a wallet. ``birth_date``, when given, must agree with
    the ID number (else ``InvalidIdNumber``); the age categories must agree with it."""
    actor.require_bureau()
    number, birth = parse_id_number(id_number)
    if birth_date is not None and birth_date != birth:
        raise InvalidIdNumber(
            problem="出生日期与号码不符", problem_en="the birth date does not match it"
        )
    name = name.strip()
    if not name or len(name) > 60:
        raise InvalidInput("姓名须为 1–60 字")
    with ctx.db.begin() as conn:
        _, rules = current_rules(conn)
        cats = _check_categories(rules, categories, birth, to_local(ctx.clock.now()).date())
        if conn.execute(select(Resident.id).where(Resident.id_number == number)).first():
            raise DuplicateCode(field="身份证号码", field_en="ID number", value=_masked(number))
        now = ctx.clock.now()
        rid = int(
            conn.execute(
                insert(Resident)
                .values(
                    region_id=region_id,
                    name=name,
                    id_number=number,
                    birth_date=birth,
                    address=address.strip()[:200],
                    registered_at=now,
                )
                .returning(Resident.id)
            ).scalar_one()
        )
        open_account(conn, region_id, "resident", rid, "resident_wallet")
        if cats:
            conn.execute(
                insert(ResidentCategory),
                [{"resident_id": rid, "category": c, "proof": p} for c, p in cats.items()],
            )
        record(
            conn,
            ctx,
            actor,
            "community",
            "resident_registered",
            target=f"resident:{rid}",
            after={"name": name, "birth_date": birth.isoformat(), "categories": cats},
        )
        return rid


def civil_fund(conn: Connection, region_id: int) -> int:
    """The civil affairs bureau's subsidy fund (opened on first use)."""
    return open_account(conn, region_id, "system", 0, "civil_subsidy")


def top_up(ctx: Context, actor: Actor, resident_id: int, amount_fen: int, key: str) -> int:
    """Cash paid in for a resident's wallet (banked by the bureau). Returns the entry."""
    actor.require_bureau()
    _amount(amount_fen)
    with ctx.db.begin() as conn:
        r = _resident(conn, resident_id)
        entry, created = post(
            conn,
            region_id=r.region_id,
            kind="community_topup",
            key=f"cc-topup:{key}",
            legs=[
                Leg(
                    system_account(conn, "bank_clearing", fund_region_of(conn, r.region_id)),
                    -amount_fen,
                ),
                Leg(wallet_of(conn, resident_id), amount_fen),
            ],
            actor=actor.label,
            booked_at=ctx.clock.now(),
            memo=f"社区食堂钱包充值 {yuan(amount_fen)}",
        )
        if created:
            record(
                conn,
                ctx,
                actor,
                "community",
                "resident_topup",
                target=f"resident:{resident_id}",
                data={"amount_fen": amount_fen, "entry": entry},
            )
        return entry


def fund_subsidies(ctx: Context, actor: Actor, region_id: int, amount_fen: int, key: str) -> int:
    """The civil affairs budget arriving in its subsidy fund. Returns the entry."""
    actor.require_bureau()
    _amount(amount_fen)
    with ctx.db.begin() as conn:
        entry, created = post(
            conn,
            region_id=region_id,
            kind="community_fund",
            key=f"cc-fund:{key}",
            legs=[
                Leg(
                    system_account(conn, "bank_clearing", fund_region_of(conn, region_id)),
                    -amount_fen,
                ),
                Leg(civil_fund(conn, region_id), amount_fen),
            ],
            actor=actor.label,
            booked_at=ctx.clock.now(),
            memo="民政社区食堂补贴资金",
        )
        if created:
            record(
                conn,
                ctx,
                actor,
                "community",
                "community_fund",
                target=f"region:{region_id}",
                data={"amount_fen": amount_fen, "entry": entry},
            )
        return entry


# --- canteens and dishes -----------------------------------------------------------------
def create_canteen(
    ctx: Context,
    actor: Actor,
    *,
    region_id: int,
    code: str,
    name: str,
    operator: str,
    address: str,
    rating: str | None = None,
) -> int:
    actor.require_bureau()
    if rating is not None and rating not in GRADES:
        raise InvalidInput("评级须为 A、AA 或 AAA")
    if not code.strip() or not name.strip() or not operator.strip():
        raise InvalidInput("编号、名称和运营方不能为空")
    with ctx.db.begin() as conn:
        if conn.execute(
            select(CommunityCanteen.id).where(CommunityCanteen.code == code.strip())
        ).first():
            raise DuplicateCode(field="社区食堂编号", field_en="Community canteen code", value=code)
        cid = int(
            conn.execute(
                insert(CommunityCanteen)
                .values(
                    region_id=region_id,
                    code=code.strip()[:20],
                    name=name.strip()[:100],
                    operator=operator.strip()[:100],
                    address=address.strip()[:200],
                    rating=rating,
                    created_at=ctx.clock.now(),
                )
                .returning(CommunityCanteen.id)
            ).scalar_one()
        )
        for kind in CANTEEN_ACCOUNTS:
            open_account(conn, region_id, "community", cid, kind)
        civil_fund(conn, region_id)
        record(
            conn,
            ctx,
            actor,
            "community",
            "community_canteen",
            target=f"community_canteen:{cid}",
            after={"code": code, "name": name, "operator": operator, "rating": rating},
        )
        return cid


def set_dish(
    ctx: Context, actor: Actor, canteen_id: int, name: str, price_fen: int, love: bool = False
) -> int:
    """Price a meal of the canteen (a new one, or a new price for one of that name)."""
    actor.require_bureau()
    _amount(price_fen)
    name = name.strip()
    if not name:
        raise InvalidInput("餐名不能为空")
    with ctx.db.begin() as conn:
        _canteen(conn, canteen_id)
        _, rules = current_rules(conn)
        if love and price_fen > rules.love_meal_cap_fen:
            raise LoveMealAboveCap(price=yuan(price_fen), cap=yuan(rules.love_meal_cap_fen))
        old = conn.execute(
            select(CommunityDish.id, CommunityDish.price_fen, CommunityDish.love).where(
                CommunityDish.canteen_id == canteen_id, CommunityDish.name == name
            )
        ).first()
        if old is None:
            did = int(
                conn.execute(
                    insert(CommunityDish)
                    .values(canteen_id=canteen_id, name=name[:60], price_fen=price_fen, love=love)
                    .returning(CommunityDish.id)
                ).scalar_one()
            )
            before = None
        else:
            did = int(old.id)
            conn.execute(
                update(CommunityDish)
                .where(CommunityDish.id == did)
                .values(price_fen=price_fen, love=love)
            )
            before = {"price_fen": old.price_fen, "love": old.love}
        record(
            conn,
            ctx,
            actor,
            "community",
            "community_dish",
            target=f"community_canteen:{canteen_id}",
            before=before,
            after={"name": name, "price_fen": price_fen, "love": love},
        )
        return did


# --- paying for a meal -------------------------------------------------------------------
@dataclass(frozen=True)
class MealPaid:
    meal_id: int
    entry_id: int
    price_fen: int
    subsidy_fen: int
    wallet_fen: int
    delivery_fen: int
    category: str
    wallet_after_fen: int


def _request_hash(resident_id: int, dish_id: int, delivered: bool) -> str:
    body = json.dumps([resident_id, dish_id, bool(delivered)])
    return hashlib.sha256(body.encode()).hexdigest()


def pay_meal(
    ctx: Context,
    actor: Actor,
    *,
    canteen_id: int,
    resident_id: int,
    dish_id: int,
    txn_id: str,
    delivered: bool = False,
) -> MealPaid:
    actor.require_bureau()
    txn_id = txn_id.strip()
    if not txn_id or len(txn_id) > 64:
        raise InvalidInput("交易号须为 1–64 个字符")
    digest = _request_hash(resident_id, dish_id, delivered)
    try:
        with ctx.db.begin() as conn:
            seen = _meal_by_txn(conn, canteen_id, txn_id)
            if seen is not None:
                if seen.request_hash != digest:
                    raise IdempotencyConflict()
                return _paid(conn, seen)
            return _pay(conn, ctx, actor, canteen_id, resident_id, dish_id, txn_id, delivered)
    except IntegrityError:
        # The same txn id raced in from two counters' retries: the first one stands.
        with ctx.db.read() as conn:
            seen = _meal_by_txn(conn, canteen_id, txn_id)
            if seen is None:
                raise
            if seen.request_hash != digest:
                raise IdempotencyConflict() from None
            return _paid(conn, seen)


def _pay(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    resident_id: int,
    dish_id: int,
    txn_id: str,
    delivered: bool,
) -> MealPaid:
    canteen = _canteen(conn, canteen_id)
    dish = conn.execute(
        select(CommunityDish.__table__).where(
            CommunityDish.id == dish_id, CommunityDish.canteen_id == canteen_id
        )
    ).first()
    if dish is None:
        raise NotFound(what="餐品")
    resident = _resident(conn, resident_id)
    # Lock the wallet first: a resident's meals are priced one after another.
    wallet = wallet_of(conn, resident_id)
    conn.execute(select(Account.id).where(Account.id == wallet).with_for_update())
    version, rules = current_rules(conn)
    if dish.love and dish.price_fen > rules.love_meal_cap_fen:
        raise LoveMealAboveCap(price=yuan(dish.price_fen), cap=yuan(rules.love_meal_cap_fen))
    now = ctx.clock.now()
    local = to_local(now)
    day = local.date()
    cats = frozenset(
        conn.execute(
            select(ResidentCategory.category).where(ResidentCategory.resident_id == resident_id)
        ).scalars()
    )
    used_row = conn.execute(
        select(
            func.coalesce(func.sum(CommunityMeal.allowance_fen), 0),
            func.coalesce(func.sum(CommunityMeal.subsidy_fen), 0),
        ).where(CommunityMeal.resident_id == resident_id, CommunityMeal.meal_day == day)
    ).one()
    age = age_on(resident.birth_date, day)
    price = int(dish.price_fen)
    sub = meal_subsidy(rules, cats, age, price, Used(int(used_row[0]), int(used_row[1])))
    delivery = delivery_subsidy(rules, cats, delivered)
    wallet_part = price - sub.subsidy_fen
    from_fund = sub.subsidy_fen + delivery
    legs = []
    if wallet_part:
        legs += [
            Leg(wallet, -wallet_part),
            Leg(account_id(conn, "community", canteen_id, "cc_sales"), wallet_part),
        ]
    if from_fund:
        legs += [
            Leg(civil_fund(conn, canteen.region_id), -from_fund),
            Leg(account_id(conn, "community", canteen_id, "cc_subsidy"), from_fund),
        ]
    entry, _ = post(
        conn,
        region_id=canteen.region_id,
        kind="community_meal",
        key=f"cc-meal:{canteen_id}:{txn_id}",
        legs=legs,
        actor=actor.label,
        booked_at=now,
        reference=f"resident:{resident_id}",
        memo=f"{dish.name} {yuan(price)}",
    )
    meal_id = int(
        conn.execute(
            insert(CommunityMeal)
            .values(
                region_id=canteen.region_id,
                canteen_id=canteen_id,
                resident_id=resident_id,
                dish_id=dish_id,
                txn_id=txn_id,
                request_hash=_request_hash(resident_id, dish_id, delivered),
                price_fen=price,
                subsidy_fen=sub.subsidy_fen,
                allowance_fen=sub.allowance_fen,
                wallet_fen=wallet_part,
                delivery_fen=delivery,
                delivered=bool(delivered),
                love=bool(dish.love),
                category=sub.category,
                age=age,
                rules_version=version,
                meal_day=day,
                slot=slot_of(local),
                paid_at=now,
                entry_id=entry,
            )
            .returning(CommunityMeal.id)
        ).scalar_one()
    )
    seen = _meal_by_txn(conn, canteen_id, txn_id)
    assert seen is not None and seen.id == meal_id
    return _paid(conn, seen)


def _meal_by_txn(conn: Connection, canteen_id: int, txn_id: str) -> Any:
    return conn.execute(
        select(CommunityMeal.__table__).where(
            CommunityMeal.canteen_id == canteen_id, CommunityMeal.txn_id == txn_id
        )
    ).first()


def _paid(conn: Connection, m: Any) -> MealPaid:
    row = m._mapping
    wallet = conn.execute(
        select(Account.balance).where(Account.id == wallet_of(conn, row["resident_id"]))
    ).scalar_one()
    return MealPaid(
        meal_id=int(row["id"]),
        entry_id=int(row["entry_id"]),
        price_fen=int(row["price_fen"]),
        subsidy_fen=int(row["subsidy_fen"]),
        wallet_fen=int(row["wallet_fen"]),
        delivery_fen=int(row["delivery_fen"]),
        category=str(row["category"]),
        wallet_after_fen=int(wallet),
    )


def wallet_of(conn: Connection, resident_id: int) -> int:
    return account_id(conn, "resident", resident_id, "resident_wallet")


def _masked(id_number: str) -> str:
    return id_number[:6] + "********" + id_number[-4:]


def _resident(conn: Connection, resident_id: int) -> Any:
    row = conn.execute(select(Resident.__table__).where(Resident.id == resident_id)).first()
    if row is None:
        raise NotFound(what="居民")
    return row


def _canteen(conn: Connection, canteen_id: int) -> Any:
    row = conn.execute(
        select(CommunityCanteen.__table__).where(CommunityCanteen.id == canteen_id)
    ).first()
    if row is None:
        raise NotFound(what="社区食堂")
    return row
