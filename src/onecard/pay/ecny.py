"""e-CNY (数字人民币): a diner pays — or tops up the cash purse — from their own wallet.

Contract:
- e-CNY is the diner's own money: it never touches the subsidy purse. A payment credits
  the canteen's payable from the system's ``ecny_clearing`` account (so the quarter's
  settlement pays it to the canteen like any other consumption); a top-up credits the
  person's cash purse from the same account. The acquirer is ``channels.ecny.gateway``.
- Intent first. ``pay`` (a terminal, an e-CNY payment code) decides with the one
  decision core (``pay.decide.decide_ecny``: meal window and guest price, items, open
  amount) and writes the order ``pending`` — or ``refused``, asking no one — in its own
  transaction; only then asks the acquirer (``micropay``, our ``order_no`` the key); then
  books the answer in a second transaction (``settle``). A timeout is asked about once
  by ``query``; what is still unknown stays ``pending`` and the terminal hears
  ``result: "pending"`` (ask again with ``GET``). ``topup`` is the same for a person's
  cash purse.
- ``settle(ctx, trade)`` books one order's outcome exactly once, whoever learns it first —
  the synchronous answer, a signed notice (``handle_notice``), or ``resolve`` — under a
  row lock, the entry keyed ``ecny:<order_no>``: a crash between the acquirer's answer
  and our commit leaves the order pending and the money at the acquirer, to be found by
  the next ``resolve``; nothing is lost and nothing booked twice.
- ``resolve(ctx, older_than_s)`` asks about every pending order and refund: decided
  orders are booked; one the acquirer never saw is closed there (``close``) and failed
  here; an unreachable acquirer leaves them pending.
- ``refund(ctx, actor, order_no, amount, refund_no)`` (the canteen's manager) returns
  (part of) a payment to the diner's wallet through the acquirer, never to a purse:
  the refund is recorded pending (and the amount reserved on the order) before asking,
  booked (payable → ``ecny_clearing``) once it succeeded, released if it failed. A
  payment that did not succeed is ``NotRefundable``, more than is left
  ``RefundExceedsLeft`` (both 409, nothing written). ``check_refund(ctx, actor,
  refund_no)`` asks again about a pending refund, ``check_order(ctx, actor, order_no)``
  about a pending payment or top-up (the pages' "query again").
- Bad input (a malformed code, amount, txn id) raises ``InvalidInput`` and writes
  nothing; a notice with a bad signature raises ``BadSignature`` and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from onecard.audit import service as audit
from onecard.channels.ecny import EcnyTrade, check_pay_code
from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.channels.factory import ecny_gateway as gateway
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import (
    EcnyDeclined,
    EcnyUnavailable,
    Forbidden,
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
    NotFound,
    NotRefundable,
    PersonInactive,
    RefundExceedsLeft,
    StateConflict,
)
from onecard.core.money import MAX_AMOUNT_FEN, yuan
from onecard.ledger.service import Leg, account_id, fund_region_of, post, system_account
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person
from onecard.pay.decide import (
    EcnyCredential,
    Facts,
    PaymentRequest,
    Policy,
    TerminalIdentity,
    decide_ecny,
)
from onecard.pay.models import EcnyOrder, EcnyRefund
from onecard.pay.pricing import item_prices, meal_facts
from onecard.pay.service import canteen_rules, dumps
from onecard.pay.topup import MAX_TOPUP_FEN

SUBJECT = "食堂消费"
TOPUP_SUBJECT = "一卡通充值"
PENDING_ZH = "支付结果确认中，请稍候查询"
PENDING_EN = "Waiting for the e-CNY outcome; ask again shortly"


@dataclass(frozen=True)
class EcnyOutcome:
    order_no: str
    status: str  # pending | succeeded | failed | refused
    body: bytes  # the terminal's answer


def new_order_no(prefix: str = "E") -> str:
    return prefix + secrets.token_hex(12).upper()


def _check_request(req: PaymentRequest) -> str:
    """The shape checks of ``PaymentRequest.validate`` with an e-CNY code as credential."""
    if not req.txn_id or len(req.txn_id) > 64:
        raise InvalidInput("txn_id 必须为 1–64 个字符")
    if sum([req.meal is not None, req.amount_fen is not None, bool(req.items)]) != 1:
        raise InvalidInput("meal、amount_fen、items 三者必须且只能给出一个")
    if req.amount_fen is not None and (
        type(req.amount_fen) is not int or not 0 < req.amount_fen <= MAX_AMOUNT_FEN
    ):
        raise InvalidAmount()
    for sku, qty in req.items:
        if type(qty) is not int or not 0 < qty <= 999:
            raise InvalidInput(f"商品 {sku} 数量必须为 1–999 的整数")
    return check_pay_code(req.credential)


def _fingerprint(req: PaymentRequest, code: str) -> str:
    body = json.dumps(
        ["ecny", code, req.meal, req.amount_fen, [list(i) for i in req.items]],
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


# --- paying at a terminal ------------------------------------------------------------------
def pay(ctx: Context, terminal: TerminalIdentity, req: PaymentRequest) -> EcnyOutcome:
    code = _check_request(req)
    fingerprint = _fingerprint(req, code)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:  # 1. the intent, committed before anyone is asked
        row = conn.execute(
            select(EcnyOrder).where(
                EcnyOrder.terminal_id == terminal.id, EcnyOrder.txn_id == req.txn_id
            )
        ).one_or_none()
        if row is not None:
            if row.request_hash != fingerprint:
                raise IdempotencyConflict()
            order_no, status, amount = str(row.order_no), str(row.status), int(row.amount_fen)
        else:
            canteen = canteen_rules(conn, terminal.canteen_id)
            payable = _payable(conn, canteen.id)
            facts = Facts(
                now,
                canteen,
                payable,
                meal=meal_facts(conn, canteen.id, req.meal) if req.meal is not None else None,
                item_prices=item_prices(conn, canteen.id, [s for s, _ in req.items])
                if req.items
                else {},
            )
            policy = Policy(ctx.settings.language, ctx.settings.paycode_step_seconds)
            d = decide_ecny(
                terminal,
                req,
                EcnyCredential(code),
                facts,
                policy,
                system_account(conn, "ecny_clearing", fund_region_of(conn, terminal.region_id)),
            )
            order_no, amount = new_order_no(), d.amount
            status = "pending" if d.approved else "refused"
            conn.execute(
                insert(EcnyOrder).values(
                    region_id=terminal.region_id,
                    order_no=order_no,
                    kind="payment",
                    terminal_id=terminal.id,
                    txn_id=req.txn_id,
                    request_hash=fingerprint,
                    canteen_id=terminal.canteen_id,
                    meal_period_id=d.meal_period_id,
                    diner_class=d.klass,
                    amount_fen=amount,
                    refunded_fen=0,
                    status=status,
                    refusal_code=d.refusal,
                    queries=0,
                    business_date=to_local(now).date(),
                    created_at=now,
                    answer=dumps(d.data).decode(),
                )
            )
    if status == "pending":  # 2. ask (again, for a retry: the acquirer is idempotent)
        _ask(ctx, order_no, code, amount, SUBJECT)
    return outcome(ctx, order_no)


def _payable(conn: Connection, canteen_id: int) -> int | None:
    try:
        return account_id(conn, "canteen", canteen_id, "canteen_payable")
    except NotFound:
        return None


def _ask(ctx: Context, order_no: str, code: str, amount: int, subject: str) -> None:
    """Ask the acquirer to take the money and book its answer; an acquirer that does not
    answer is asked about once, and otherwise the order stays pending."""
    gw = gateway(ctx)
    try:
        trade = gw.micropay(order_no, code, amount, subject)
    except EcnyUnavailable:
        try:
            trade = gw.query(order_no)
        except EcnyUnavailable:
            return
        if trade.status == "NOT_FOUND":
            return  # maybe still on its way: ``resolve`` closes it after a while
    settle(ctx, trade)


def outcome(ctx: Context, order_no: str) -> EcnyOutcome:
    with ctx.db.read() as conn:
        row = conn.execute(select(EcnyOrder).where(EcnyOrder.order_no == order_no)).one()
    return EcnyOutcome(order_no, str(row.status), answer_of(row, ctx.settings.language))


def answer_of(row: Any, lang: str) -> bytes:
    """The terminal's answer for an order in its current state (final once decided)."""
    data: dict[str, Any] = json.loads(row.answer) if row.answer else {}
    data["order_no"] = row.order_no
    if row.status == "succeeded":
        data.update(result="approved", trade_no=row.trade_no)
    elif row.status == "failed":
        refusal = EcnyDeclined(reason=row.failure_reason or "")
        data.update(result="refused", code=refusal.code, message=refusal.message(lang))
    elif row.status == "pending":
        en = lang.startswith("en")
        data.update(result="pending", code="ecny_pending", message=PENDING_EN if en else PENDING_ZH)
    return dumps(data)


def stored_answer(ctx: Context, terminal: TerminalIdentity, txn_id: str) -> EcnyOutcome:
    """A terminal asking about its e-CNY payment: a pending one is asked about first."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(EcnyOrder.order_no, EcnyOrder.status).where(
                EcnyOrder.terminal_id == terminal.id, EcnyOrder.txn_id == txn_id
            )
        ).first()
    if row is None:
        raise NotFound(what=f"数字人民币交易 {txn_id}")
    if row.status == "pending":
        _resolve_order(ctx, str(row.order_no), close=False)
    return outcome(ctx, str(row.order_no))


@dataclass(frozen=True)
class OrderCheck:
    order_no: str
    status: str  # pending | succeeded | failed | refused
    answered: bool  # False: the acquirer could not be reached this time


def check_order(ctx: Context, actor: Actor, order_no: str) -> OrderCheck:
    """A person asking the acquirer again about a pending order (再次查询; whoever may act
    for its canteen): its answer is booked as any other (``settle``). An order the
    acquirer never saw is left pending, not closed — the diner may still be paying; the
    periodic ``resolve`` closes it once old. A decided order is returned as it stands.
    Writes nothing a person decides: no audit record."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(EcnyOrder.status, EcnyOrder.canteen_id, Canteen.unit_id)
            .outerjoin(Canteen, Canteen.id == EcnyOrder.canteen_id)
            .where(EcnyOrder.order_no == order_no)
        ).one_or_none()
    if row is None:
        raise NotFound(what=f"数字人民币订单 {order_no}")
    if row.canteen_id is None:  # a top-up: the person's own, the bureau's to look at
        actor.require_bureau()
    else:
        actor.require_canteen(int(row.canteen_id), int(row.unit_id))
    if row.status != "pending":
        return OrderCheck(order_no, str(row.status), True)
    status = _resolve_order(ctx, order_no, close=False)
    return OrderCheck(order_no, status or "pending", status is not None)


# --- booking an outcome once ---------------------------------------------------------------
def settle(ctx: Context, trade: EcnyTrade) -> str:
    """Book one order's outcome (answer, notice or query) once; the order's status after."""
    if trade.kind == "refund":
        return settle_refund(ctx, trade)
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(EcnyOrder).where(EcnyOrder.order_no == trade.order_no).with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(what=f"数字人民币订单 {trade.order_no}")
        if row.status != "pending" or trade.status == "NOT_FOUND":
            return str(row.status)
        at = trade.at or ctx.clock.now()
        if trade.status != "SUCCESS":
            conn.execute(
                update(EcnyOrder)
                .where(EcnyOrder.id == row.id)
                .values(
                    status="failed",
                    trade_no=trade.trade_no,
                    failure_reason=(trade.reason or trade.status)[:100],
                    completed_at=at,
                )
            )
            return "failed"
        if trade.amount_fen != row.amount_fen:
            raise StateConflict("数字人民币结果金额与订单不符")
        clearing = system_account(conn, "ecny_clearing", fund_region_of(conn, int(row.region_id)))
        if row.kind == "payment":
            credit = account_id(conn, "canteen", int(row.canteen_id), "canteen_payable")
            kind = "ecny_payment"
        else:
            credit = account_id(conn, "person", int(row.person_id), "cash")
            kind = "ecny_topup"
        now = ctx.clock.now()
        entry_id, _ = post(
            conn,
            region_id=int(row.region_id),
            kind=kind,
            key=f"ecny:{row.order_no}",
            legs=[Leg(credit, int(row.amount_fen)), Leg(clearing, -int(row.amount_fen))],
            actor="ecny",
            booked_at=now,
            business_day=to_local(at).date(),
            reference=f"数字人民币 {row.order_no} {trade.trade_no}",
        )
        conn.execute(
            update(EcnyOrder)
            .where(EcnyOrder.id == row.id)
            .values(status="succeeded", trade_no=trade.trade_no, entry_id=entry_id, completed_at=at)
        )
        return "succeeded"


def handle_notice(ctx: Context, body: bytes, signature: str) -> str:
    """Apply one signed notice (``BadSignature`` first: nothing written); idempotent."""
    n = gateway(ctx).verify_notification(body, signature)
    trade = EcnyTrade(
        n.kind, n.order_no, n.status, n.amount_fen, n.trade_no, n.reason, n.occurred_at
    )
    return settle(ctx, trade)


def deliver_sandbox_notices(ctx: Context) -> int:
    """With the sandbox nothing calls us back: hand its queued notices to the same
    handler the callback route uses. Any other acquirer: nothing to do."""
    gw = gateway(ctx)
    if not isinstance(gw, SandboxEcny):
        return 0
    return gw.deliver(lambda body, sig: handle_notice(ctx, body, sig))


@dataclass
class Resolved:
    asked: int = 0
    succeeded: int = 0
    failed: int = 0
    still_pending: int = 0
    unreachable: int = 0


def resolve(ctx: Context, older_than_s: float = 60.0, limit: int = 1000) -> Resolved:
    """Ask the acquirer about every order and refund pending for ``older_than_s``."""
    cutoff = ctx.clock.now() - timedelta(seconds=older_than_s)
    with ctx.db.read() as conn:
        orders = list(
            conn.execute(
                select(EcnyOrder.order_no)
                .where(EcnyOrder.status == "pending", EcnyOrder.created_at <= cutoff)
                .order_by(EcnyOrder.id)
                .limit(limit)
            ).scalars()
        )
        refunds = list(
            conn.execute(
                select(EcnyRefund.refund_no)
                .where(EcnyRefund.status == "pending", EcnyRefund.created_at <= cutoff)
                .order_by(EcnyRefund.id)
                .limit(limit)
            ).scalars()
        )
    got = Resolved()
    for order_no in orders:
        got.asked += 1
        status = _resolve_order(ctx, str(order_no), close=True)
        _count(got, status)
    for refund_no in refunds:
        got.asked += 1
        _count(got, _resolve_refund(ctx, str(refund_no)))
    return got


def _count(got: Resolved, status: str | None) -> None:
    if status is None:
        got.unreachable += 1
    elif status == "succeeded":
        got.succeeded += 1
    elif status == "failed":
        got.failed += 1
    else:
        got.still_pending += 1


def _resolve_order(ctx: Context, order_no: str, *, close: bool) -> str | None:
    gw = gateway(ctx)
    with ctx.db.begin() as conn:
        conn.execute(
            update(EcnyOrder)
            .where(EcnyOrder.order_no == order_no)
            .values(queries=EcnyOrder.queries + 1)
        )
    try:
        trade = gw.query(order_no)
        if trade.status == "NOT_FOUND" and close:
            # Never taken: close it there, so a late copy of the request is refused.
            trade = gw.close(order_no)
    except EcnyUnavailable:
        return None
    return settle(ctx, trade)


# --- topping up the cash purse -------------------------------------------------------------
def topup(
    ctx: Context,
    actor: Actor,
    person_id: int,
    pay_code: str,
    amount_fen: int,
    order_no: str | None = None,
) -> EcnyOutcome:
    """Top up ``person_id``'s cash purse from their e-CNY wallet (the person themselves,
    or the system). ``order_no`` again is a retry: no second order."""
    code = check_pay_code(pay_code)
    if type(amount_fen) is not int or not 0 < amount_fen <= min(MAX_TOPUP_FEN, MAX_AMOUNT_FEN):
        raise InvalidAmount()
    if actor.person_id is not None and actor.person_id != person_id:
        raise Forbidden()
    order_no = order_no or new_order_no("Q")
    fingerprint = hashlib.sha256(f"topup:{person_id}:{amount_fen}".encode()).hexdigest()
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        person = conn.execute(
            select(Person.status, Person.region_id).where(Person.id == person_id)
        ).first()
        if person is None:
            raise NotFound(what="人员")
        if person.status != "active":
            raise PersonInactive()
        prior = conn.execute(select(EcnyOrder).where(EcnyOrder.order_no == order_no)).one_or_none()
        if prior is not None:
            if prior.request_hash != fingerprint:
                raise IdempotencyConflict()
            status = str(prior.status)
        else:
            status = "pending"
            conn.execute(
                insert(EcnyOrder).values(
                    region_id=int(person.region_id),
                    order_no=order_no,
                    kind="topup",
                    request_hash=fingerprint,
                    person_id=person_id,
                    amount_fen=amount_fen,
                    refunded_fen=0,
                    status="pending",
                    queries=0,
                    business_date=to_local(now).date(),
                    created_at=now,
                    answer="",
                )
            )
    if status == "pending":
        _ask(ctx, order_no, code, amount_fen, TOPUP_SUBJECT)
    return outcome(ctx, order_no)


# --- refunds to the wallet -----------------------------------------------------------------
@dataclass(frozen=True)
class RefundOutcome:
    refund_no: str
    order_no: str
    amount_fen: int
    status: str  # pending | succeeded | failed


def refund(
    ctx: Context,
    actor: Actor,
    order_no: str,
    amount_fen: int,
    refund_no: str,
    reason: str = "",
) -> RefundOutcome:
    """Give (part of) an e-CNY payment back to the diner's wallet (canteen manager)."""
    if type(amount_fen) is not int or not 0 < amount_fen <= MAX_AMOUNT_FEN:
        raise InvalidAmount()
    if not refund_no or len(refund_no) > 40 or not refund_no.replace("-", "").isalnum():
        raise InvalidInput("退款单号应为 1–40 位字母、数字或 -")
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        order = conn.execute(
            select(EcnyOrder).where(EcnyOrder.order_no == order_no).with_for_update()
        ).one_or_none()
        if order is None or order.kind != "payment":
            raise NotFound(what=f"数字人民币交易 {order_no}")
        owner = conn.execute(
            select(Canteen.unit_id).where(Canteen.id == order.canteen_id)
        ).scalar_one()
        actor.require_canteen(int(order.canteen_id), int(owner))
        done = conn.execute(
            select(EcnyRefund).where(EcnyRefund.refund_no == refund_no)
        ).one_or_none()
        if done is not None:
            if done.order_id != order.id or done.amount_fen != amount_fen:
                raise IdempotencyConflict()
            status = str(done.status)
        else:
            if order.status != "succeeded":
                raise NotRefundable()
            left = int(order.amount_fen) - int(order.refunded_fen)
            if amount_fen > left:
                raise RefundExceedsLeft(left=yuan(left, grouped=True))
            status = "pending"
            conn.execute(
                insert(EcnyRefund).values(
                    refund_no=refund_no,
                    order_id=order.id,
                    amount_fen=amount_fen,
                    status="pending",
                    actor=actor.label[:60],
                    reason=reason[:200],
                    created_at=now,
                )
            )
            # Reserved now, so two refunds racing cannot together exceed the payment.
            conn.execute(
                update(EcnyOrder)
                .where(EcnyOrder.id == order.id)
                .values(refunded_fen=EcnyOrder.refunded_fen + amount_fen)
            )
            audit.record(
                conn,
                ctx,
                actor,
                "refund",
                "ecny_refund",
                target=f"{order_no} ({refund_no})",
                unit_id=int(owner),
                before={"refunded_fen": int(order.refunded_fen)},
                after={"refunded_fen": int(order.refunded_fen) + amount_fen},
                data={"amount_fen": amount_fen, "reason": reason},
            )
    if status == "pending":
        try:
            trade = gateway(ctx).refund(refund_no, order_no, amount_fen)
        except EcnyUnavailable:
            trade = None
        if trade is not None:
            status = settle_refund(ctx, trade)
    return RefundOutcome(refund_no, order_no, amount_fen, status)


def settle_refund(ctx: Context, trade: EcnyTrade) -> str:
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(EcnyRefund).where(EcnyRefund.refund_no == trade.order_no).with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(what=f"数字人民币退款 {trade.order_no}")
        if row.status != "pending" or trade.status == "NOT_FOUND":
            return str(row.status)
        order = conn.execute(
            select(EcnyOrder).where(EcnyOrder.id == row.order_id).with_for_update()
        ).one()
        at = trade.at or ctx.clock.now()
        if trade.status != "SUCCESS":
            conn.execute(
                update(EcnyRefund)
                .where(EcnyRefund.id == row.id)
                .values(status="failed", failure_reason=(trade.reason or "")[:100], completed_at=at)
            )
            conn.execute(
                update(EcnyOrder)
                .where(EcnyOrder.id == order.id)
                .values(refunded_fen=EcnyOrder.refunded_fen - int(row.amount_fen))
            )
            return "failed"
        now = ctx.clock.now()
        entry_id, _ = post(
            conn,
            region_id=int(order.region_id),
            kind="ecny_refund",
            key=f"ecny-refund:{row.refund_no}",
            legs=[
                Leg(
                    account_id(conn, "canteen", int(order.canteen_id), "canteen_payable"),
                    -int(row.amount_fen),
                ),
                Leg(
                    system_account(
                        conn, "ecny_clearing", fund_region_of(conn, int(order.region_id))
                    ),
                    int(row.amount_fen),
                ),
            ],
            actor="ecny",
            booked_at=now,
            business_day=to_local(at).date(),
            reference=f"数字人民币退款 {row.refund_no} {order.order_no}",
        )
        conn.execute(
            update(EcnyRefund)
            .where(EcnyRefund.id == row.id)
            .values(status="succeeded", trade_no=trade.trade_no, entry_id=entry_id, completed_at=at)
        )
        return "succeeded"


def check_refund(ctx: Context, actor: Actor, refund_no: str) -> RefundOutcome:
    """Ask the acquirer again about a pending refund (whoever may refund the payment) and
    book its answer; a refund already decided, or an acquirer that still does not answer,
    is returned as it stands. Writes nothing a person decides: no audit record."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                EcnyRefund.amount_fen,
                EcnyRefund.status,
                EcnyOrder.order_no,
                EcnyOrder.canteen_id,
                Canteen.unit_id,
            )
            .join(EcnyOrder, EcnyOrder.id == EcnyRefund.order_id)
            .join(Canteen, Canteen.id == EcnyOrder.canteen_id)
            .where(EcnyRefund.refund_no == refund_no)
        ).one_or_none()
    if row is None:
        raise NotFound(what=f"数字人民币退款 {refund_no}")
    actor.require_canteen(int(row.canteen_id), int(row.unit_id))
    status = str(row.status)
    if status == "pending":
        status = _resolve_refund(ctx, refund_no) or "pending"
    return RefundOutcome(refund_no, str(row.order_no), int(row.amount_fen), status)


def _resolve_refund(ctx: Context, refund_no: str) -> str | None:
    gw = gateway(ctx)
    try:
        trade = gw.query_refund(refund_no)
        if trade.status == "NOT_FOUND":  # never arrived: ask again, same refund number
            with ctx.db.read() as conn:
                row = conn.execute(
                    select(EcnyRefund.amount_fen, EcnyOrder.order_no)
                    .join(EcnyOrder, EcnyOrder.id == EcnyRefund.order_id)
                    .where(EcnyRefund.refund_no == refund_no)
                ).one()
            trade = gw.refund(refund_no, str(row.order_no), int(row.amount_fen))
    except EcnyUnavailable:
        return None
    return settle_refund(ctx, trade)


def order_row(ctx: Context, order_no: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        row = conn.execute(select(EcnyOrder.__table__).where(EcnyOrder.order_no == order_no)).one()
    return dict(row._mapping)


__all__ = [
    "EcnyOutcome",
    "RefundOutcome",
    "Resolved",
    "check_refund",
    "deliver_sandbox_notices",
    "handle_notice",
    "pay",
    "refund",
    "resolve",
    "settle",
    "stored_answer",
    "topup",
]
