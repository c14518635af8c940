"""Menus and pre-orders (R-S2, R-S3): the writes.

Contract: each public function is one transaction; it checks the actor again and, for a
change a person makes, writes one audit record (kind ``menu``) as its last write.
Refusals change nothing (the transaction rolls back).

- ``set_rule`` / ``set_menu``: a canteen's manager (its owning unit's admin, the bureau)
  sets the pre-order rule (cut-off, no-show rule) and one day's meal of the menu (the
  dishes: catalogue items of kind ``dish``, active). A dish someone has pre-ordered for
  that meal may not leave the menu (``StateConflict``).
- ``place``: a diner pre-orders a meal of a later day before its cut-off (``D−1`` at the
  canteen's ``cutoff``, Beijing time; after it ``PreorderClosed``). Every dish must be
  on that meal's menu (``NotOnMenu``). ``(person, request_id)`` is the idempotency key:
  a retry gets the first answer, the same key with another body ``IdempotencyConflict``.
  The payment decision core (``pay.decide.decide``, item lines) says whether this diner
  may pay for it here (active, a class the canteen serves, the balance, goods from cash)
  and how it splits over the purses; ``prepaid`` then *holds* it — one balanced entry
  (kind ``preorder_hold``): the purses → the person's ``preorder_hold`` account.
  ``at_pickup`` holds nothing (the balance is not required yet).
- ``cancel``: the diner, before the cut-off; a prepaid hold goes back to the purses it
  came from (kind ``preorder_release``). Cancelling a cancelled pre-order answers the
  same again (a retried cancel); a picked-up or closed one is ``PreorderNotOpen``.
- ``pickup``: a terminal (or the till acting as one) with the diner's credential, on the
  day. In one transaction: the hold (if any) is released, then the dishes are paid
  through ``pay.service.decide_and_record`` — the payment every other till sale is, in
  the ``payments`` table, so settlement, reports, statements and ratings count it —
  priced as the dishes were when ordered (``agreed``: the held amount). A
  refusal raises and rolls back everything (the hold stays). ``(terminal, txn_id)`` is
  the key: a retry gets the stored answer; a second pick-up of a picked-up pre-order
  gets its payment's answer and charges nothing. So pre-order and pick-up never both
  charge: the money moves purses → hold → purses → canteen, once to the canteen.
- ``close_day``: for a past day, every pre-order still ``placed`` is a no-show: an
  ``at_pickup`` one is just closed; a prepaid one's hold is released, and under the
  canteen's ``charge`` rule paid to the canteen as a payment by the same core
  (credential kind ``preorder``: the pre-order names its diner, so the core is given
  the person, as face pay gives it), on the canteen's first live terminal, txn id
  ``preorder:<id>``. Idempotent: a second run finds nothing placed and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from onecard.audit import service as audit
from onecard.catalogue.models import Item
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import (
    Forbidden,
    GoodsCashOnly,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    NotOnMenu,
    OneCardError,
    PickupRefused,
    PreorderAcrossYear,
    PreorderCancelled,
    PreorderClosed,
    PreorderExists,
    PreorderNotOpen,
    PreorderTooEarly,
    Refused,
    StateConflict,
    UnknownCard,
)
from onecard.core.fields import CLIENT_KEY_PATTERN
from onecard.ledger.models import Account
from onecard.ledger.service import Leg, open_account, post
from onecard.menus.models import (
    HOLD_KIND,
    MAX_PORTIONS,
    NO_SHOW_RULES,
    PAY_MODES,
    MenuDish,
    MenuSetting,
    Preorder,
    PreorderLine,
)
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, Terminal
from onecard.pay.decide import (
    CardCredential,
    CodeCredential,
    FaceCredential,
    PaymentRequest,
    Policy,
    TerminalIdentity,
    decide,
    read_credential,
)
from onecard.pay.models import Card, MealPeriod, Payment
from onecard.pay.service import PaymentOutcome, decide_and_record, read_facts

DEFAULT_CUTOFF = time(18, 0)
DEFAULT_NO_SHOW = "release"
DAYS_AHEAD = 14  # how far ahead a menu may be set and a meal pre-ordered
MAX_DISHES = 60  # dishes on one meal of one day
STATE_WORDS = {"picked_up": ("已取餐", "picked up"), "no_show": ("按未取餐结算", "closed")}


# --- rules ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    cutoff: time
    no_show: str


def rule_of(conn: Connection, canteen_id: int) -> Rule:
    row = conn.execute(
        select(MenuSetting.cutoff, MenuSetting.no_show).where(MenuSetting.canteen_id == canteen_id)
    ).first()
    if row is None:
        return Rule(DEFAULT_CUTOFF, DEFAULT_NO_SHOW)
    return Rule(row.cutoff, str(row.no_show))


def cutoff_local(day: date, rule: Rule) -> datetime:
    """The last moment (Beijing, naive) a pre-order of ``day`` may be made or cancelled."""
    return datetime.combine(max(day, date.min + timedelta(days=1)) - timedelta(days=1), rule.cutoff)


def check_day(day: date) -> None:
    """A day a menu may be about: this century (a typo otherwise, never a crash)."""
    if not 2000 <= day.year <= 2099:
        raise InvalidInput("日期超出范围（2000–2099 年）")


def _canteen(conn: Connection, canteen_id: int) -> Any:
    row = conn.execute(
        select(Canteen.id, Canteen.unit_id, Canteen.region_id, Canteen.name).where(
            Canteen.id == canteen_id
        )
    ).first()
    if row is None:
        raise NotFound(what="食堂")
    return row


def _managed(conn: Connection, actor: Actor, canteen_id: int) -> Any:
    row = _canteen(conn, canteen_id)
    actor.require_canteen(int(row.id), int(row.unit_id))
    return row


def set_rule(ctx: Context, actor: Actor, canteen_id: int, cutoff: time, no_show: str) -> None:
    """The canteen's pre-order cut-off (Beijing time, the day before) and no-show rule."""
    if no_show not in NO_SHOW_RULES:
        raise InvalidInput("未取餐规则只能是 charge（扣款）或 release（退回）")
    cutoff = cutoff.replace(second=0, microsecond=0, tzinfo=None)
    with ctx.db.begin() as conn:
        canteen = _managed(conn, actor, canteen_id)
        before = rule_of(conn, canteen_id)
        now = ctx.clock.now()
        exists = conn.execute(
            select(MenuSetting.canteen_id).where(MenuSetting.canteen_id == canteen_id)
        ).first()
        values = {"cutoff": cutoff, "no_show": no_show, "updated_at": now}
        if exists is None:
            conn.execute(insert(MenuSetting).values(canteen_id=canteen_id, **values))
        else:
            conn.execute(
                update(MenuSetting).where(MenuSetting.canteen_id == canteen_id).values(**values)
            )
        audit.record(
            conn,
            ctx,
            actor,
            "menu",
            "preorder_rule_set",
            target=str(canteen.name),
            unit_id=int(canteen.unit_id),
            before={"cutoff": before.cutoff.strftime("%H:%M"), "no_show": before.no_show},
            after={"cutoff": cutoff.strftime("%H:%M"), "no_show": no_show},
        )


# --- the menu ------------------------------------------------------------------------------
def _meal_exists(conn: Connection, canteen_id: int, meal: str) -> None:
    found = conn.execute(
        select(MealPeriod.id).where(MealPeriod.canteen_id == canteen_id, MealPeriod.code == meal)
    ).first()
    if found is None:
        raise NotFound(what=f"餐次 {meal}")


def _day_in_range(ctx: Context, day: date) -> None:
    """A menu is kept from a week back to ``DAYS_AHEAD`` ahead (further: not now, 409)."""
    today = to_local(ctx.clock.now()).date()
    if not today - timedelta(days=7) <= day <= today + timedelta(days=DAYS_AHEAD):
        raise StateConflict(f"菜单只能设置今天前 7 天至后 {DAYS_AHEAD} 天之内的日子")


def set_menu(
    ctx: Context, actor: Actor, canteen_id: int, day: date, meal: str, skus: list[str]
) -> int:
    """One day's meal of the menu: exactly these dishes, in this order. Returns how many."""
    if len(skus) > MAX_DISHES or len(set(skus)) != len(skus):
        raise InvalidInput(f"菜品不能重复，至多 {MAX_DISHES} 个")
    with ctx.db.begin() as conn:
        canteen = _managed(conn, actor, canteen_id)
        _meal_exists(conn, canteen_id, meal)
        _day_in_range(ctx, day)
        found = {
            str(sku): int(iid)
            for iid, sku in conn.execute(
                select(Item.id, Item.sku).where(
                    Item.canteen_id == canteen_id,
                    Item.sku.in_(skus),
                    Item.kind == "dish",
                    Item.active.is_(True),
                )
            )
        }
        missing = [s for s in skus if s not in found]
        if missing:
            raise NotFound(what=f"本食堂在售的菜品 {', '.join(missing)}")
        before = [
            str(s)
            for (s,) in conn.execute(
                select(Item.sku)
                .join(MenuDish, MenuDish.item_id == Item.id)
                .where(
                    MenuDish.canteen_id == canteen_id, MenuDish.day == day, MenuDish.meal == meal
                )
                .order_by(MenuDish.position)
            )
        ]
        dropped = set(before) - set(skus)
        if dropped:
            ordered = conn.execute(
                select(PreorderLine.sku)
                .join(Preorder, Preorder.id == PreorderLine.preorder_id)
                .where(
                    Preorder.canteen_id == canteen_id,
                    Preorder.day == day,
                    Preorder.meal == meal,
                    Preorder.status == "placed",
                    PreorderLine.sku.in_(dropped),
                )
                .limit(1)
            ).scalar()
            if ordered is not None:
                raise StateConflict(f"{ordered} 已有人预订，不能撤下")
        if before == skus:
            return len(skus)
        conn.execute(
            delete(MenuDish).where(
                MenuDish.canteen_id == canteen_id, MenuDish.day == day, MenuDish.meal == meal
            )
        )
        if skus:
            conn.execute(
                insert(MenuDish),
                [
                    {
                        "canteen_id": canteen_id,
                        "day": day,
                        "meal": meal,
                        "item_id": found[s],
                        "position": i,
                    }
                    for i, s in enumerate(skus)
                ],
            )
        audit.record(
            conn,
            ctx,
            actor,
            "menu",
            "menu_set",
            target=f"{canteen.name} {day.isoformat()} {meal}",
            unit_id=int(canteen.unit_id),
            before={"dishes": before},
            after={"dishes": skus},
        )
        return len(skus)


# --- pre-orders ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PreorderSpec:
    canteen_id: int
    day: date
    meal: str
    lines: tuple[tuple[str, int], ...]
    pay_mode: str
    request_id: str

    def check(self) -> None:
        import re

        if not 1 <= len(self.request_id) <= 64 or not re.fullmatch(
            CLIENT_KEY_PATTERN, self.request_id
        ):
            raise InvalidInput("request_id 须为 1–64 个可见字符")
        if self.pay_mode not in PAY_MODES:
            raise InvalidInput("支付方式只能是 prepaid（预订时支付）或 at_pickup（取餐时支付）")
        if not self.lines or len(self.lines) > MAX_DISHES:
            raise InvalidInput("请至少选择一个菜品")
        skus = [s for s, _ in self.lines]
        if len(set(skus)) != len(skus):
            raise InvalidInput("同一菜品只能出现一次")
        for sku, qty in self.lines:
            if type(qty) is not int or not 1 <= qty <= MAX_PORTIONS:
                raise InvalidInput(f"{sku} 份数须为 1–{MAX_PORTIONS}")

    def fingerprint(self) -> str:
        body = [self.canteen_id, self.day.isoformat(), self.meal, self.pay_mode, sorted(self.lines)]
        return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


def view(conn: Connection, preorder_id: int) -> dict[str, Any]:
    """A pre-order as the API answers it."""
    p = conn.execute(select(Preorder.__table__).where(Preorder.id == preorder_id)).one()
    canteen = conn.execute(select(Canteen.name).where(Canteen.id == p.canteen_id)).scalar_one()
    lines = conn.execute(
        select(PreorderLine.sku, PreorderLine.name, PreorderLine.qty, PreorderLine.price_fen)
        .where(PreorderLine.preorder_id == preorder_id)
        .order_by(PreorderLine.id)
    ).all()
    return {
        "id": int(p.id),
        "canteen_id": int(p.canteen_id),
        "canteen": str(canteen),
        "day": p.day,
        "meal": str(p.meal),
        "pay_mode": str(p.pay_mode),
        "status": str(p.status),
        "amount_fen": int(p.amount_fen),
        "held_fen": int(p.held_subsidy_fen) + int(p.held_cash_fen) if p.status == "placed" else 0,
        "payment_id": p.payment_id,
        "no_show_action": p.no_show_action,
        "lines": [
            {"sku": str(s), "name": str(n), "qty": int(q), "price_fen": int(f)}
            for s, n, q, f in lines
        ],
    }


def _refusal(code: str | None) -> Refused:
    """The ``Refused`` class the core answered with (by its code)."""
    todo: list[type[Refused]] = [Refused]
    while todo:
        cls = todo.pop()
        if cls.code == code:
            return cls()
        todo.extend(cls.__subclasses__())
    return Refused(code or "")


def _purses(conn: Connection, person_id: int) -> dict[str, tuple[int, int]]:
    """Lock the person's accounts (``FOR UPDATE``): pre-orders of one person serialise."""
    return {
        str(kind): (int(aid), int(bal))
        for aid, kind, bal in conn.execute(
            select(Account.id, Account.kind, Account.balance)
            .where(Account.owner_kind == "person", Account.owner_id == person_id)
            .order_by(Account.id)
            .with_for_update()
        )
    }


def _policy(ctx: Context) -> Policy:
    return Policy(ctx.settings.language, ctx.settings.paycode_step_seconds)


def place(ctx: Context, actor: Actor, spec: PreorderSpec) -> dict[str, Any]:
    """Pre-order a meal (see the module's contract); returns the pre-order."""
    person_id = actor.person_id
    if person_id is None:
        raise Forbidden()
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        # The person's accounts first: a retry racing its first attempt waits here, then
        # finds it (READ COMMITTED reads what committed while it waited).
        purses = _purses(conn, person_id)
        prior = conn.execute(
            select(Preorder.id, Preorder.request_hash).where(
                Preorder.person_id == person_id, Preorder.request_id == spec.request_id
            )
        ).first()
        if prior is not None:
            if prior.request_hash != spec.fingerprint():
                raise IdempotencyConflict()
            return view(conn, int(prior.id))
        canteen, on_menu = _open_meal(conn, spec, person_id, to_local(now))
        # The payment core decides as a till sale of these dishes would be decided now.
        terminal = TerminalIdentity(0, "preorder", int(canteen.region_id), int(canteen.id))
        req = PaymentRequest(spec.request_id, f"preorder:{person_id}", items=spec.lines)
        facts = read_facts(conn, terminal, req, FaceCredential(person_id), now)
        d = decide(terminal, req, FaceCredential(person_id), facts, _policy(ctx))
        prepaid = spec.pay_mode == "prepaid"
        if not d.approved and (
            prepaid or d.refusal not in (InsufficientFunds.code, GoodsCashOnly.code)
        ):
            raise _refusal(d.refusal)
        if prepaid and d.from_sub > 0 and spec.day.year > to_local(now).year:
            # Subsidy held over the year end would escape the clearing (R-A10), which
            # takes what a purse held on 31 December: only own money may be held for it.
            raise PreorderAcrossYear(day=spec.day.isoformat())
        amount = sum(int(on_menu[s].price_fen) * q for s, q in spec.lines)
        held = (d.from_sub, d.from_cash) if prepaid else (0, 0)
        pid = _insert(conn, spec, person_id, int(canteen.region_id), on_menu, amount, held, now)
        if prepaid:
            assert d.amount == amount, "the core priced the dishes as the menu does"
            _hold(conn, actor, pid, person_id, int(canteen.region_id), purses, held, now)
        out = view(conn, pid)
        audit.record(
            conn,
            ctx,
            actor,
            "menu",
            "preorder_placed",
            target=f"{canteen.name} {spec.day.isoformat()} {spec.meal}",
            person_id=person_id,
            after={
                "preorder": pid,
                "pay_mode": spec.pay_mode,
                "amount_fen": amount,
                "lines": [list(x) for x in spec.lines],
            },
        )
        return out


def _open_meal(
    conn: Connection, spec: PreorderSpec, person_id: int, local_now: datetime
) -> tuple[Any, dict[str, Any]]:
    """The canteen and the meal's dishes by sku, if this pre-order may be taken now:
    a known canteen and meal (404), before the cut-off and not too far ahead (409), each
    dish on that meal's menu (422), the person's only pre-order of the meal (409)."""
    canteen = _canteen(conn, spec.canteen_id)
    _meal_exists(conn, spec.canteen_id, spec.meal)
    rule = rule_of(conn, spec.canteen_id)
    if spec.day <= local_now.date() or local_now >= cutoff_local(spec.day, rule):
        raise PreorderClosed(cutoff=f"{cutoff_local(spec.day, rule):%Y-%m-%d %H:%M}")
    if spec.day > local_now.date() + timedelta(days=DAYS_AHEAD):
        raise PreorderTooEarly(days=DAYS_AHEAD)
    spec.check()  # what the API's schema cannot say (a dish twice)
    on_menu = {
        str(r.sku): r
        for r in conn.execute(
            select(Item.id, Item.sku, Item.name, Item.price_fen)
            .join(MenuDish, MenuDish.item_id == Item.id)
            .where(
                MenuDish.canteen_id == spec.canteen_id,
                MenuDish.day == spec.day,
                MenuDish.meal == spec.meal,
                Item.active.is_(True),
            )
        )
    }
    for sku, _ in spec.lines:
        if sku not in on_menu:
            raise NotOnMenu(sku=sku, day=spec.day.isoformat(), meal=spec.meal)
    taken = conn.execute(
        select(Preorder.id).where(
            Preorder.person_id == person_id,
            Preorder.canteen_id == spec.canteen_id,
            Preorder.day == spec.day,
            Preorder.meal == spec.meal,
            Preorder.status == "placed",
        )
    ).first()
    if taken is not None:
        raise PreorderExists()
    return canteen, on_menu


def _insert(
    conn: Connection,
    spec: PreorderSpec,
    person_id: int,
    region_id: int,
    on_menu: dict[str, Any],
    amount: int,
    held: tuple[int, int],
    now: datetime,
) -> int:
    """The pre-order row and its lines (priced as the menu's dishes are now)."""
    pid = int(
        conn.execute(
            insert(Preorder)
            .values(
                region_id=region_id,
                canteen_id=spec.canteen_id,
                person_id=person_id,
                day=spec.day,
                meal=spec.meal,
                request_id=spec.request_id,
                request_hash=spec.fingerprint(),
                pay_mode=spec.pay_mode,
                status="placed",
                amount_fen=amount,
                held_subsidy_fen=held[0],
                held_cash_fen=held[1],
                created_at=now,
            )
            .returning(Preorder.id)
        ).scalar_one()
    )
    conn.execute(
        insert(PreorderLine),
        [
            {
                "preorder_id": pid,
                "item_id": int(on_menu[s].id),
                "sku": s,
                "name": str(on_menu[s].name),
                "qty": q,
                "price_fen": int(on_menu[s].price_fen),
            }
            for s, q in spec.lines
        ],
    )
    return pid


def _hold(
    conn: Connection,
    actor: Actor,
    pid: int,
    person_id: int,
    region_id: int,
    purses: dict[str, tuple[int, int]],
    held: tuple[int, int],
    now: datetime,
) -> None:
    """The hold: one balanced entry, the purses (as the core split it) → the person's
    ``preorder_hold`` account (opened at their first prepaid pre-order)."""
    from_sub, from_cash = held
    hold = open_account(conn, region_id, "person", person_id, HOLD_KIND)
    legs = [Leg(hold, from_sub + from_cash)]
    if from_sub:
        legs.append(Leg(purses["subsidy"][0], -from_sub))
    if from_cash:
        legs.append(Leg(purses["cash"][0], -from_cash))
    entry_id, _ = post(
        conn,
        region_id=region_id,
        kind="preorder_hold",
        key=f"preorder-hold:{pid}",
        legs=legs,
        actor=actor.label[:60],
        booked_at=now,
        reference=f"preorder:{pid}",
    )
    conn.execute(update(Preorder).where(Preorder.id == pid).values(hold_entry_id=entry_id))


def _release(conn: Connection, p: Any, actor: str, now: datetime) -> int:
    """Put a prepaid pre-order's hold back in the purses it came from."""
    hold = conn.execute(
        select(Account.id).where(
            Account.owner_kind == "person",
            Account.owner_id == p.person_id,
            Account.kind == HOLD_KIND,
        )
    ).scalar_one()
    purses = {
        str(k): int(a)
        for a, k in conn.execute(
            select(Account.id, Account.kind).where(
                Account.owner_kind == "person",
                Account.owner_id == p.person_id,
                Account.kind.in_(("subsidy", "cash")),
            )
        )
    }
    legs = [Leg(int(hold), -(int(p.held_subsidy_fen) + int(p.held_cash_fen)))]
    if p.held_subsidy_fen:
        legs.append(Leg(purses["subsidy"], int(p.held_subsidy_fen)))
    if p.held_cash_fen:
        legs.append(Leg(purses["cash"], int(p.held_cash_fen)))
    entry_id, _ = post(
        conn,
        region_id=int(p.region_id),
        kind="preorder_release",
        key=f"preorder-release:{p.id}",
        legs=legs,
        actor=actor[:60],
        booked_at=now,
        reference=f"preorder:{p.id}",
    )
    conn.execute(update(Preorder).where(Preorder.id == p.id).values(release_entry_id=entry_id))
    return entry_id


def _locked(conn: Connection, preorder_id: int) -> Any:
    return conn.execute(
        select(Preorder.__table__).where(Preorder.id == preorder_id).with_for_update()
    ).first()


def _not_open(status: str) -> PreorderNotOpen:
    zh, en = STATE_WORDS.get(status, (status, status))
    return PreorderNotOpen(state=zh, state_en=en)


def cancel(ctx: Context, actor: Actor, preorder_id: int) -> dict[str, Any]:
    """The diner cancels their pre-order before the cut-off; a hold is released."""
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        if actor.person_id is not None:
            _purses(conn, actor.person_id)  # lock order: the person's accounts, then the row
        p = _locked(conn, preorder_id)
        if p is None or p.person_id != actor.person_id:
            raise NotFound(what="预订")
        if p.status == "cancelled":
            return view(conn, preorder_id)
        if p.status != "placed":
            raise _not_open(str(p.status))
        rule = rule_of(conn, int(p.canteen_id))
        if to_local(now) >= cutoff_local(p.day, rule):
            raise PreorderClosed(cutoff=f"{cutoff_local(p.day, rule):%Y-%m-%d %H:%M}")
        if p.pay_mode == "prepaid":
            _release(conn, p, actor.label, now)
        conn.execute(
            update(Preorder)
            .where(Preorder.id == preorder_id)
            .values(status="cancelled", closed_at=now)
        )
        out = view(conn, preorder_id)
        audit.record(
            conn,
            ctx,
            actor,
            "menu",
            "preorder_cancelled",
            target=f"{out['canteen']} {p.day.isoformat()} {p.meal}",
            person_id=int(p.person_id),
            before={"status": "placed"},
            after={
                "preorder": preorder_id,
                "status": "cancelled",
                "released_fen": out["amount_fen"],
            }
            if p.pay_mode == "prepaid"
            else {"preorder": preorder_id, "status": "cancelled"},
        )
        return out


# --- pick-up -------------------------------------------------------------------------------
@dataclass
class Pickup:
    outcome: PaymentOutcome
    preorder: dict[str, Any]


def _person_by_credential(conn: Connection, credential: str, region_no: str) -> int:
    cred = read_credential(credential, region_no)
    if isinstance(cred, CardCredential):
        pid = conn.execute(select(Card.person_id).where(Card.card_no == cred.card_no)).scalar()
    elif isinstance(cred, CodeCredential):
        pid = conn.execute(select(Person.id).where(Person.paycode_token == cred.token)).scalar()
    else:  # pragma: no cover - read_credential makes no other kind
        pid = None
    if pid is None:
        raise UnknownCard()
    return int(pid)


def _choose(conn: Connection, rows: list[Any], canteen_id: int, local_now: datetime) -> Any:
    """The pre-order to pick up: the only one open, or the one of the meal on now."""
    if len(rows) == 1:
        return rows[0]
    windows = {
        str(c): (s, e)
        for c, s, e in conn.execute(
            select(MealPeriod.code, MealPeriod.starts, MealPeriod.ends).where(
                MealPeriod.canteen_id == canteen_id
            )
        )
    }
    t = local_now.time()
    now_on = [r for r in rows if r.meal in windows and windows[r.meal][0] <= t < windows[r.meal][1]]
    if len(now_on) == 1:
        return now_on[0]
    raise InvalidInput("今天有多餐预订，请指定餐次")


def _ordered(
    conn: Connection, preorder_id: int
) -> tuple[tuple[tuple[str, int], ...], dict[str, int]]:
    """A pre-order's dishes as a payment's item lines, and the unit prices they were
    ordered at: pick-up and a no-show charge are priced so (the hold is that amount),
    whatever the catalogue says today."""
    lines = conn.execute(
        select(PreorderLine.sku, PreorderLine.qty, PreorderLine.price_fen)
        .where(PreorderLine.preorder_id == preorder_id)
        .order_by(PreorderLine.id)
    ).all()
    return tuple((str(s), int(q)) for s, q, _ in lines), {str(s): int(f) for s, _, f in lines}


def _pickup_refused(exc: OneCardError) -> PickupRefused:
    """A pick-up the core (or the credential) refused: 409, the reason in both languages."""
    return PickupRefused(reason=exc.message("zh-CN"), reason_en=exc.message("en"))


def _stored(conn: Connection, payment_id: int) -> PaymentOutcome:
    body = conn.execute(select(Payment.response).where(Payment.id == payment_id)).scalar_one()
    return PaymentOutcome(
        body=str(body).encode(), approved=True, replayed=True, payment_id=payment_id
    )


def pickup(
    ctx: Context,
    terminal: TerminalIdentity,
    txn_id: str,
    credential: str,
    meal: str | None = None,
) -> Pickup:
    """The diner collects today's pre-order at ``terminal``'s canteen (see the contract)."""
    if not 1 <= len(txn_id) <= 64:
        raise InvalidInput("txn_id 必须为 1–64 个字符")
    now = ctx.clock.now()
    local_now = to_local(now)
    with ctx.db.begin() as conn:
        done = conn.execute(
            select(Payment.id).where(Payment.terminal_id == terminal.id, Payment.txn_id == txn_id)
        ).scalar()
        if done is not None:
            got = conn.execute(select(Preorder.id).where(Preorder.payment_id == done)).scalar()
            if got is None:
                raise IdempotencyConflict()
            return Pickup(_stored(conn, int(done)), view(conn, int(got)))
        try:
            person_id = _person_by_credential(conn, credential, ctx.settings.region_no)
        except (Refused, InvalidInput) as exc:
            raise _pickup_refused(exc) from exc
        _purses(conn, person_id)
        q = (
            select(Preorder.__table__)
            .where(
                Preorder.person_id == person_id,
                Preorder.canteen_id == terminal.canteen_id,
                Preorder.day == local_now.date(),
            )
            .order_by(Preorder.id)
            .with_for_update()
        )
        if meal is not None:
            q = q.where(Preorder.meal == meal)
        rows = conn.execute(q).all()
        placed = [r for r in rows if r.status == "placed"]
        if not placed:
            picked = [r for r in rows if r.status == "picked_up"]
            if picked:  # a second pick-up: the first one's answer, nothing charged
                return Pickup(_stored(conn, int(picked[-1].payment_id)), view(conn, picked[-1].id))
            if any(r.status == "cancelled" for r in rows):
                raise PreorderCancelled()
            if rows:
                raise _not_open(str(rows[-1].status))
            raise NotFound(what="今天在本食堂的预订")
        p = _choose(conn, placed, terminal.canteen_id, local_now)
        if p.pay_mode == "prepaid":
            _release(conn, p, f"terminal:{terminal.code}", now)
        items, agreed = _ordered(conn, int(p.id))
        req = PaymentRequest(txn_id, credential, items=items)
        req.validate()
        out = decide_and_record(conn, ctx, terminal, req, agreed=agreed)
        if not out.approved:  # rolls back the release too
            raise _pickup_refused(_refusal(str(out.data.get("code"))))
        conn.execute(
            update(Preorder)
            .where(Preorder.id == p.id)
            .values(status="picked_up", payment_id=out.payment_id, closed_at=now)
        )
        return Pickup(out, view(conn, int(p.id)))


# --- the day's close: no-shows -------------------------------------------------------------
@dataclass(frozen=True)
class PreorderRequest(PaymentRequest):
    """A payment the pre-order itself makes (a no-show charged): no card, code or face
    was shown, so it is recorded with the credential kind ``preorder``."""

    @property
    def credential_kind(self) -> str:
        return "preorder"


@dataclass
class CloseResult:
    day: date
    closed: int = 0
    charged: int = 0
    charged_fen: int = 0
    released: int = 0
    released_fen: int = 0
    unpaid: int = 0
    refused: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(self).items()}


def _till_terminal(conn: Connection, canteen_id: int) -> TerminalIdentity | None:
    row = conn.execute(
        select(Terminal.id, Terminal.code, Terminal.region_id, Terminal.canteen_id)
        .where(Terminal.canteen_id == canteen_id, Terminal.status == "live")
        .order_by(Terminal.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return TerminalIdentity(int(row.id), str(row.code), int(row.region_id), int(row.canteen_id))


def close_day(ctx: Context, actor: Actor, day: date) -> CloseResult:
    """Close ``day``'s pre-orders still placed as no-shows (see the contract)."""
    actor.require_bureau()
    now = ctx.clock.now()
    if day >= to_local(now).date():
        raise StateConflict("只能结算已经过去的日子的预订")
    res = CloseResult(day)
    with ctx.db.begin() as conn:
        rows = conn.execute(
            select(Preorder.__table__)
            .where(Preorder.day == day, Preorder.status == "placed")
            .order_by(Preorder.id)
            .with_for_update()
        ).all()
        for p in rows:
            _close_one(conn, ctx, actor, p, now, res)
        if res.closed:
            audit.record(
                conn,
                ctx,
                actor,
                "menu",
                "preorders_closed",
                target=day.isoformat(),
                after=res.as_dict(),
            )
    return res


def _close_one(
    conn: Connection, ctx: Context, actor: Actor, p: Any, now: datetime, res: CloseResult
) -> None:
    res.closed += 1
    action, payment_id = "none", None
    if p.pay_mode != "prepaid":
        res.unpaid += 1
    else:
        held = int(p.held_subsidy_fen) + int(p.held_cash_fen)
        _release(conn, p, actor.label, now)
        action = "released"
        terminal = _till_terminal(conn, int(p.canteen_id))
        if rule_of(conn, int(p.canteen_id)).no_show == "charge" and terminal is not None:
            items, agreed = _ordered(conn, int(p.id))
            req = PreorderRequest(f"preorder:{p.id}", f"preorder:{p.id}", items=items)
            who = FaceCredential(int(p.person_id))
            out = decide_and_record(conn, ctx, terminal, req, who, agreed=agreed)
            if out.approved:
                action, payment_id = "charged", out.payment_id
                res.charged += 1
                res.charged_fen += int(out.data.get("amount_fen", 0))
            else:
                res.refused += 1
        if action == "released":
            res.released += 1
            res.released_fen += held
    conn.execute(
        update(Preorder)
        .where(Preorder.id == p.id)
        .values(status="no_show", no_show_action=action, payment_id=payment_id, closed_at=now)
    )
