"""The payment decision core: one pure function, the rules of a terminal payment.

Contract:
- ``decide(terminal, req, cred, facts, policy)`` — no I/O, no clock (the time is a fact)
  — returns the ``Decision``: approved, with the entry to post (``entry``) and what the
  payer's purses hold after it; or refused, with the refusal's code and no postings. Its
  ``data`` is the terminal's answer (less the ``payment_id`` the writer adds), byte for
  byte what the paths store. Bad input it cannot decide (a meal the canteen does not
  have, unknown item codes) is raised (``OneCardError``, never ``Refused``): nothing is
  recorded for it. The same facts always give the same decision.
- The order of the checks is the rule: credential (unknown, lost or cancelled card; a
  code no one holds — rotated: ``code_revoked`` — or that does not match, is spent or
  expired), the person active, the diner class the canteen serves, the price (meal
  window, a price for the class; item lines), the meal-period limit, the balance, shop
  goods from the cash purse (``goods_cash_only``, unless the canteen's unit lets the
  subsidy pay: ``CanteenRules.goods_from_subsidy``); then the split of the rest over the
  purses in the canteen's order.
- Facts are read by the callers: ``pay.service`` for one payment (``read_facts``), and
  ``pay.batch`` set-wise for a whole batch, which threads them: after each approval, the
  payer's purses (``Decision.purses_after``), meal count and code step (``code_step``)
  are what the next payment in the batch sees.
- ``PaymentRequest`` / ``TerminalIdentity`` (re-exported by ``pay.service``) are the
  request as a terminal sends it and who sent it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from onecard.core.clock import to_local
from onecard.core.errors import (
    CardCancelled,
    CardLost,
    CodeInvalid,
    CodeRevoked,
    FaceNotLive,
    FaceNotRecognised,
    GoodsCashOnly,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    MalformedCredential,
    NoDiningAgreement,
    NotFound,
    PeriodLimitReached,
    PersonInactive,
    Refused,
    UnknownCard,
)
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.ledger.journal import Leg, NewEntry
from onecard.pay import paycode
from onecard.pay.interregion import Cross, terms_for
from onecard.pay.pricing import (
    CanteenRules,
    MealFacts,
    diner_class,
    goods_fen,
    price_items,
    quote_meal,
)


# --- the request ------------------------------------------------------------------------
@dataclass(frozen=True)
class TerminalIdentity:
    id: int
    code: str
    region_id: int
    canteen_id: int


CARD_NO_RE = re.compile(r"[0-9]{8,16}")
# A face payment's credential: what the terminal sent (picture or descriptor, liveness,
# digits), hashed — so a retry of the same request is recognised. Made by ``pay.face_pay``
# only; the face path hands the core the person it identified (``FaceCredential``).
FACE_RE = re.compile(r"face:[0-9a-f]{64}")


def credential_shape_ok(credential: str) -> bool:
    """A card number (8–16 ASCII digits) or a payment code (18 digits starting with 8,
    spaces allowed between groups). Anything else — 17 digits, letters, full-width or
    other Unicode digits — is malformed, refused before anything is looked up."""
    cred = credential.strip()
    return CARD_NO_RE.fullmatch(cred) is not None or paycode.looks_like_code(cred)


@dataclass(frozen=True)
class PaymentRequest:
    txn_id: str
    credential: str
    meal: str | None = None
    amount_fen: int | None = None
    items: tuple[tuple[str, int], ...] = ()

    def validate(self) -> None:
        if not self.txn_id or len(self.txn_id) > 64:
            raise InvalidInput("txn_id 必须为 1–64 个字符")
        chosen = sum([self.meal is not None, self.amount_fen is not None, bool(self.items)])
        if chosen != 1:
            raise InvalidInput("meal、amount_fen、items 三者必须且只能给出一个")
        if self.amount_fen is not None and (
            type(self.amount_fen) is not int or not 0 < self.amount_fen <= MAX_AMOUNT_FEN
        ):
            raise InvalidAmount()
        for sku, qty in self.items:
            if type(qty) is not int or not 0 < qty <= 999:
                raise InvalidInput(f"商品 {sku} 数量必须为 1–999 的整数")
        if not credential_shape_ok(self.credential) and not FACE_RE.fullmatch(self.credential):
            raise MalformedCredential()

    def fingerprint(self) -> str:
        body = json.dumps(
            [self.credential.strip(), self.meal, self.amount_fen, [list(i) for i in self.items]],
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()

    @property
    def credential_kind(self) -> str:
        if FACE_RE.fullmatch(self.credential):
            return "face"
        return "code" if paycode.looks_like_code(self.credential.strip()) else "card"


@dataclass(frozen=True)
class CardCredential:
    card_no: str


@dataclass(frozen=True)
class CodeCredential:
    token: str
    otp: str


@dataclass(frozen=True)
class FaceCredential:
    """The person face identification found (``None``: no one clearly), and whether the
    terminal's liveness check passed."""

    person_id: int | None
    live: bool = True


Credential = CardCredential | CodeCredential | FaceCredential


def read_credential(
    credential: str, region_no: str, networks: frozenset[str] = frozenset()
) -> Credential:
    """What to look up: a card number, or a payment code's person token (and its otp).
    Raises ``MalformedCredential`` / ``ForeignRegion`` (bad input, never recorded); a face
    credential is not read from text (``pay.face_pay`` identifies the person). A code of
    another payment network of this deployment (``networks``: the cities' network numbers)
    is read like our own: the person is found, and the agreement check decides."""
    cred = credential.strip()
    if FACE_RE.fullmatch(cred):
        raise MalformedCredential()
    if paycode.looks_like_code(cred):
        parsed = paycode.parse_code(cred, region_no, networks)
        return CodeCredential(parsed.token, parsed.otp)
    return CardCredential(cred)


# --- the facts ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Payer:
    id: int
    name: str
    unit_id: int
    unit_name: str
    category: str
    status: str
    paycode_secret: str = ""
    paycode_last_step: int = 0
    region_id: int = 0  # the person's region (its fund region decides cross-region pay)


@dataclass(frozen=True)
class CardFacts:
    person_id: int
    status: str


@dataclass(frozen=True)
class Purses:
    subsidy_id: int
    subsidy: int
    cash_id: int
    cash: int


@dataclass(frozen=True)
class Facts:
    """What one payment's decision reads (all of it, or ``None`` where nothing exists)."""

    now: datetime  # naive UTC: the payment's time
    canteen: CanteenRules
    payable: int | None  # the canteen's payable account (None: it has none)
    card: CardFacts | None = None  # a card credential's card (None: no such card)
    payer: Payer | None = None  # the person behind the card or code (None: no one)
    code_retired: bool = False  # a code no one holds carries a rotated-away token
    purses: Purses | None = None  # the payer's, locked
    meal: MealFacts | None = None  # the requested meal period (None: no such period)
    item_prices: Mapping[str, int] = field(default_factory=dict)  # sku → fen, active
    goods_skus: frozenset[str] = frozenset()  # which of those are shop goods
    item_ids: Mapping[str, int] = field(default_factory=dict)  # sku → item id, active
    meals_had: int = 0  # the payer's approved payments in that meal period today
    # The payer's fund region is not the canteen's: the accepted agreements between the
    # two (possibly none). None: the same fund region (or a single-fund deployment).
    cross: Cross | None = None


@dataclass(frozen=True)
class Policy:
    language: str
    step_seconds: int


# --- the decision ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    approved: bool
    data: dict[str, Any]  # the answer, less its payment_id
    refusal: str | None = None
    payer: Payer | None = None
    amount: int = 0
    from_sub: int = 0
    from_cash: int = 0
    meal_period_id: int | None = None
    klass: str | None = None
    legs: tuple[Leg, ...] = ()
    code_step: int | None = None  # the payment code's step to store as spent
    purses_after: Purses | None = None
    # An approval priced from item lines: (item id, qty, unit price fen, line fen) per
    # line as sent, for ``payment_lines`` (written by the paths with the payment).
    lines: tuple[tuple[int, int, int, int], ...] = ()

    def purse_ids(self) -> list[int]:
        """The purse accounts the approval debits (cached balances the writer guards)."""
        if self.purses_after is None:
            return []
        mine = {self.purses_after.subsidy_id, self.purses_after.cash_id}
        return [leg.account_id for leg in self.legs if leg.account_id in mine]

    def entry(self, terminal: TerminalIdentity, txn_id: str) -> NewEntry:
        """The approval's journal entry (the key is the payment's idempotency key)."""
        return NewEntry(
            region_id=terminal.region_id,
            kind="payment",
            key=f"pay:{terminal.id}:{txn_id}",
            legs=self.legs,
            reference=str(self.data["canteen"]),
            actor=f"terminal:{terminal.code}",
        )


def _refused(data: dict[str, Any], refusal: Refused, payer: Payer | None, lang: str) -> Decision:
    data.update(result="refused", code=refusal.code, message=refusal.message(lang))
    return Decision(False, data, refusal=refusal.code, payer=payer)


def refused_instead(d: Decision, refusal: Refused, lang: str) -> Decision:
    """An approval turned into a refusal by what its write found (a payment code spent
    by a concurrent payment): the answer as the decision would have given it."""
    keep = ("txn_id", "terminal", "canteen", "payer")
    return _refused({k: d.data[k] for k in keep if k in d.data}, refusal, d.payer, lang)


def split_purses(amount: int, subsidy: int, cash: int, order: str) -> tuple[int, int]:
    """(from subsidy, from cash) for ``amount``, first purse first; caller checks totals."""
    if order == "cash_first":
        from_cash = min(cash, amount)
        return amount - from_cash, from_cash
    from_subsidy = min(subsidy, amount)
    return from_subsidy, amount - from_subsidy


def _unix(now: datetime) -> float:
    return now.timestamp() if now.tzinfo else now.replace(tzinfo=UTC).timestamp()


def _identify(cred: Credential, facts: Facts, policy: Policy) -> tuple[Payer, int | None]:
    """The payer, and for a payment code the step it spends."""
    if isinstance(cred, FaceCredential):
        if not cred.live:
            raise FaceNotLive()
        if facts.payer is None:
            raise FaceNotRecognised()
        return facts.payer, None
    if isinstance(cred, CodeCredential):
        if facts.payer is None:
            # A token rotated away (phone lost): say so, so the diner refreshes the code.
            raise CodeRevoked() if facts.code_retired else CodeInvalid()
        step = paycode.match_step(
            facts.payer.paycode_secret,
            cred.otp,
            _unix(facts.now),
            facts.payer.paycode_last_step,
            policy.step_seconds,
        )
        return facts.payer, step
    if facts.card is None:
        raise UnknownCard()
    if facts.card.status == "lost":
        raise CardLost()
    if facts.card.status == "cancelled":
        raise CardCancelled()
    if facts.payer is None:  # a card always has its holder
        raise NotFound(what="持卡人")
    return facts.payer, None


def decide(
    terminal: TerminalIdentity,
    req: PaymentRequest,
    cred: Credential,
    facts: Facts,
    policy: Policy,
) -> Decision:
    """The decision on ``req`` given ``facts`` (see the module's contract)."""
    local_now = to_local(facts.now)
    canteen = facts.canteen
    data: dict[str, Any] = {
        "txn_id": req.txn_id,
        "terminal": terminal.code,
        "canteen": canteen.name,
    }
    payer: Payer | None = None
    try:
        payer, step = _identify(cred, facts, policy)
        data["payer"] = {"name": payer.name, "unit": payer.unit_name}
        if payer.status != "active":
            raise PersonInactive()
        purse_rule = canteen.purse_order
        if facts.cross is not None:
            terms = terms_for(facts.cross.terms, payer.unit_id, canteen.id, local_now.date())
            if terms is None:
                raise NoDiningAgreement()
            klass, purse_rule = terms.price_class, terms.purse
        else:
            klass = diner_class(payer.unit_id, payer.category, canteen)
        meal = None
        goods = 0  # what of the amount is shop goods paid from cash only
        if req.meal is not None:
            meal = facts.meal
            if meal is None:
                raise NotFound(what=f"餐次 {req.meal}")
            amount = quote_meal(meal, klass, local_now)
        elif req.items:
            amount = price_items(req.items, facts.item_prices)
            if not canteen.goods_from_subsidy:
                goods = goods_fen(req.items, facts.goods_skus, facts.item_prices)
        else:
            assert req.amount_fen is not None
            amount = req.amount_fen
        purses = facts.purses
        if purses is None:  # every person has both purses
            raise NotFound(what=f"account person:{payer.id}")
        if meal is not None and 0 < meal.per_person_limit <= facts.meals_had:
            raise PeriodLimitReached(limit=meal.per_person_limit)
        # An agreement may say which purse pays: only the subsidy, only cash, or the
        # subsidy then cash; the purse it excludes counts as empty here.
        usable_sub = 0 if purse_rule == "cash" else purses.subsidy
        usable_cash = 0 if purse_rule == "subsidy" else purses.cash
        if usable_sub + usable_cash < amount:
            data["balances"] = {"subsidy_fen": purses.subsidy, "cash_fen": purses.cash}
            raise InsufficientFunds()
        if goods > usable_cash:
            data["balances"] = {"subsidy_fen": purses.subsidy, "cash_fen": purses.cash}
            raise GoodsCashOnly()
        # Goods come from cash unless the unit's shop rule lets the subsidy pay (then
        # ``goods`` is 0); the rest is split by the canteen's purse order (or the
        # agreement's) over what is left.
        from_sub, rest_cash = split_purses(
            amount - goods, usable_sub, usable_cash - goods, purse_rule
        )
        from_cash = goods + rest_cash
    except Refused as refusal:
        return _refused(data, refusal, payer, policy.language)

    if facts.payable is None:
        raise NotFound(what=f"account canteen:{canteen.id}:canteen_payable")
    legs = [Leg(facts.payable, amount)]
    if from_sub:
        legs.append(Leg(purses.subsidy_id, -from_sub))
    if from_cash:
        legs.append(Leg(purses.cash_id, -from_cash))
    if facts.cross is not None:
        # Across fund regions each region's half balances: the payer's region owes what
        # its purse paid, the canteen's region is owed what its canteen earned.
        legs += [Leg(facts.cross.home_due, amount), Leg(facts.cross.host_due, -amount)]
    after = Purses(
        purses.subsidy_id, purses.subsidy - from_sub, purses.cash_id, purses.cash - from_cash
    )
    data.update(
        result="approved",
        amount_fen=amount,
        subsidy_fen=from_sub,
        cash_fen=from_cash,
        balances={"subsidy_fen": after.subsidy, "cash_fen": after.cash},
        meal=req.meal if meal is not None else None,
        diner_class=klass,
        at=local_now.isoformat(timespec="seconds"),
    )
    return Decision(
        True,
        data,
        payer=payer,
        amount=amount,
        from_sub=from_sub,
        from_cash=from_cash,
        meal_period_id=meal.period_id if meal is not None else None,
        klass=klass,
        legs=tuple(legs),
        code_step=step,
        purses_after=after,
        lines=item_lines(req.items, facts) if req.items else (),
    )


def item_lines(
    items: tuple[tuple[str, int], ...], facts: Facts
) -> tuple[tuple[int, int, int, int], ...]:
    """The priced lines of an approval: (item id, qty, unit fen, line fen), as sent;
    none when the facts do not name the items' ids (a caller that reads no ids)."""
    if any(sku not in facts.item_ids for sku, _ in items):
        return ()
    out = []
    for sku, qty in items:
        fen = int(facts.item_prices[sku])
        out.append((int(facts.item_ids[sku]), qty, fen, fen * qty))
    return tuple(out)


# --- e-CNY (数字人民币): the diner's own wallet, not a purse -----------------------------------
@dataclass(frozen=True)
class EcnyCredential:
    """An e-CNY payment code (``channels.ecny.check_pay_code``): it names a wallet at the
    acquirer, not one of our people, so the diner pays as a guest and no purse moves."""

    pay_code: str


def decide_ecny(
    terminal: TerminalIdentity,
    req: PaymentRequest,
    cred: EcnyCredential,
    facts: Facts,
    policy: Policy,
    clearing: int,
) -> Decision:
    """The same rules as ``decide`` for a payer the platform does not know: the canteen
    must serve guests, the meal is priced for a guest (or the open amount, or the item
    lines), no purse, no meal-period count. Approved means "ask the acquirer for this
    amount": its legs credit the canteen's payable from ``clearing`` (the system's
    ``ecny_clearing`` account), to be posted only once the acquirer took the money."""
    local_now = to_local(facts.now)
    canteen = facts.canteen
    data: dict[str, Any] = {
        "txn_id": req.txn_id,
        "terminal": terminal.code,
        "canteen": canteen.name,
        "channel": "ecny",
    }
    try:
        klass = diner_class(0, "guest", canteen)
        meal = None
        if req.meal is not None:
            meal = facts.meal
            if meal is None:
                raise NotFound(what=f"餐次 {req.meal}")
            amount = quote_meal(meal, klass, local_now)
        elif req.items:
            amount = price_items(req.items, facts.item_prices)
        else:
            assert req.amount_fen is not None
            amount = req.amount_fen
    except Refused as refusal:
        return _refused(data, refusal, None, policy.language)
    if facts.payable is None:
        raise NotFound(what=f"account canteen:{canteen.id}:canteen_payable")
    data.update(
        amount_fen=amount,
        meal=req.meal if meal is not None else None,
        diner_class=klass,
        at=local_now.isoformat(timespec="seconds"),
    )
    return Decision(
        True,
        data,
        amount=amount,
        meal_period_id=meal.period_id if meal is not None else None,
        klass=klass,
        legs=(Leg(facts.payable, amount), Leg(clearing, -amount)),
    )


# --- a decision the terminal took offline -----------------------------------------------------
def decide_offline(
    terminal: TerminalIdentity,
    req: PaymentRequest,
    payer: Payer,
    purses: Purses,
    *,
    amount: int,
    canteen: CanteenRules,
    payable: int,
    debt_account: int | None,
    klass: str,
    meal_period_id: int | None,
    at: datetime,
) -> Decision:
    """An offline record the terminal approved within the limits its working set gave
    (``terminals.service`` has checked them): the decision is already taken, so it is
    approved whatever the purses hold now. The purses pay what they can, in the canteen's
    order; what they cannot (``amount`` beyond both) is debited to ``debt_account`` (the
    person's ``offline_debt``, recovered from their next allocation) — required then."""
    covered = min(amount, purses.subsidy + purses.cash)
    from_sub, from_cash = split_purses(covered, purses.subsidy, purses.cash, canteen.purse_order)
    short = amount - covered
    legs = [Leg(payable, amount)]
    if from_sub:
        legs.append(Leg(purses.subsidy_id, -from_sub))
    if from_cash:
        legs.append(Leg(purses.cash_id, -from_cash))
    if short:
        if debt_account is None:
            raise NotFound(what=f"account person:{payer.id}:offline_debt")
        legs.append(Leg(debt_account, -short))
    after = Purses(
        purses.subsidy_id, purses.subsidy - from_sub, purses.cash_id, purses.cash - from_cash
    )
    data: dict[str, Any] = {
        "txn_id": req.txn_id,
        "terminal": terminal.code,
        "canteen": canteen.name,
        "payer": {"name": payer.name, "unit": payer.unit_name},
        "result": "approved",
        "offline": True,
        "amount_fen": amount,
        "subsidy_fen": from_sub,
        "cash_fen": from_cash,
        "debt_fen": short,
        "balances": {"subsidy_fen": after.subsidy, "cash_fen": after.cash},
        "meal": req.meal,
        "diner_class": klass,
        "at": to_local(at).isoformat(timespec="seconds"),
    }
    # The payments row keeps amount = subsidy + cash: what the purses paid. The debt
    # is the record's (``offline_debts``) until an allocation recovers it.
    return Decision(
        True,
        data,
        payer=payer,
        amount=covered,
        from_sub=from_sub,
        from_cash=from_cash,
        meal_period_id=meal_period_id,
        klass=klass,
        legs=tuple(legs),
        purses_after=after,
    )
