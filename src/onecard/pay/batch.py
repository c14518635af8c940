"""A payment batch decided set-wise: facts gathered for the whole batch, the one decision
core applied in arrival order, the results written set-wise.

Contract: ``decide_batch(conn, ctx, items)`` runs inside the caller's transaction (on
PostgreSQL; psycopg pipeline mode) and returns one entry per item: a ``PaymentOutcome``,
an exception for that caller, or ``None`` for an item it leaves to
``service.decide_and_record`` (run after it, in the same transaction): a transaction id
seen twice in the batch (the second is then a replay), a canteen without its payable
account. Its answers are byte for byte those of ``decide_and_record`` one by one in the
same order (tests/pay/test_batcher.py checks it on a mixed workload).

How, in TWO round trips (round trips, not statements, were a batch's cost: on a busy
two-core machine each one waits for the scheduler — measured ~22 per batch at ~1.7 ms
each before):
1. every read, one statement per kind of fact (``pay.batch_sql``): stored decisions,
   canteens with their payable accounts, cards, payers (payment-code payers' rows
   locked), rotated-away tokens, meal periods with prices, item prices, every payer's
   purses locked in id order and today's meal counts read under that lock, the entry
   table's lock, the last closed quarter and the ids to use;
2. after ``pay.decide.decide`` for each payment in arrival order — the facts threaded:
   each sees the purses, meal counts and code steps the approvals before it left —
   every write: code steps, then the entries, postings and purse balances by
   ``ledger.journal.write_pipelined`` (guarded: a purse can never go below zero), then
   the decision records, and the approvals' item lines (``payment_lines``) when the
   batch has any.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import psycopg
from sqlalchemy import Connection

from onecard.core.clock import next_quarter, quarter_of, to_local
from onecard.core.context import Context
from onecard.core.errors import ForeignRegion, IdempotencyConflict, OneCardError
from onecard.ledger import journal
from onecard.ledger.journal import int_array, text_array
from onecard.pay import batch_sql as sql
from onecard.pay.batch_worker import Result, _Item
from onecard.pay.decide import (
    CardCredential,
    CardFacts,
    CodeCredential,
    Credential,
    Decision,
    Facts,
    Payer,
    Policy,
    Purses,
    decide,
    read_credential,
)
from onecard.pay.interregion import (
    Cross,
    FundMap,
    Terms,
    cross_of,
    fund_map,
    known_single,
    terms_of_row,
)
from onecard.pay.pricing import CanteenRules, MealFacts
from onecard.pay.service import PaymentOutcome, dumps, line_rows

__all__ = ["decide_batch"]


def _period(day: date, last_closed: str | None) -> str:
    """``ledger.service.period_for`` from the last closed quarter already read."""
    q = quarter_of(day)
    first_open = None if last_closed is None else next_quarter(last_closed)
    return q if first_open is None or q >= first_open else first_open


@dataclasses.dataclass
class _Gathered:
    """The batch's facts, by key; the mutable ones are threaded through the decisions."""

    canteens: dict[int, tuple[CanteenRules, int | None]]
    cards: dict[str, CardFacts]
    people: dict[int, Payer]
    by_token: dict[str, int]
    retired: set[str]
    meals: dict[tuple[int, str], MealFacts]
    items: dict[int, dict[str, int]]  # canteen → sku → fen
    goods: dict[int, frozenset[str]]  # canteen → the skus among them that are goods
    item_ids: dict[int, dict[str, int]]  # canteen → sku → item id
    purses: dict[int, Purses]
    counts: dict[tuple[int, int], int]  # (person, meal period) → approved today
    version: int | None = None  # the fund-map version read with the canteens
    fm: FundMap | None = None  # the fund-region map (None: not needed, single fund)
    terms: tuple[Terms, ...] | None = None  # every accepted agreement (None: not read)

    def cross(self, payer: Payer, canteen: CanteenRules) -> Cross | None:
        """``Facts.cross`` for a payer at a canteen (``pay.service.cross_terms``)."""
        if self.fm is None or self.fm.single:
            return None
        home, host = self.fm.fund_of.get(payer.region_id), self.fm.fund_of.get(canteen.region_id)
        if home is None or host is None or home == host:
            return None
        assert self.terms is not None  # checked by ``needs_single``
        pair = tuple(t for t in self.terms if t.home == home and t.host == host)
        return cross_of(self.fm, home, host, pair)

    def needs_single(self, it: _Item, cred: Credential) -> bool:
        """A cross-region payment whose agreements this batch did not read (the map
        changed to more than one fund region since the batch was sent): the single path
        decides it."""
        if self.terms is not None or self.fm is None or self.fm.single:
            return False
        payer = self.people.get(self._payer_id(cred) or 0)
        canteen = self.canteens[it.terminal.canteen_id][0]
        return payer is not None and self.fm.fund_of.get(payer.region_id) != self.fm.fund_of.get(
            canteen.region_id
        )

    def _payer_id(self, cred: Credential) -> int | None:
        if isinstance(cred, CodeCredential):
            return self.by_token.get(cred.token)
        if isinstance(cred, CardCredential):
            card = self.cards.get(cred.card_no)
            return card.person_id if card is not None and card.status == "active" else None
        return None

    def facts(self, it: _Item, cred: Credential, now: Any) -> Facts:
        canteen, payable = self.canteens[it.terminal.canteen_id]
        card = None
        pid: int | None
        if isinstance(cred, CodeCredential):
            pid = self.by_token.get(cred.token)
        elif isinstance(cred, CardCredential):
            card = self.cards.get(cred.card_no)
            pid = card.person_id if card is not None and card.status == "active" else None
        else:  # face pay takes the single path (pay.face_pay), never a batch
            pid = None
        payer = self.people.get(pid) if pid is not None else None
        meal = self.meals.get((canteen.id, it.req.meal)) if it.req.meal is not None else None
        return Facts(
            now,
            canteen,
            payable,
            card=card,
            payer=payer,
            code_retired=isinstance(cred, CodeCredential) and cred.token in self.retired,
            purses=self.purses.get(payer.id) if payer is not None else None,
            meal=meal,
            item_prices=self.items.get(canteen.id, {}) if it.req.items else {},
            goods_skus=self.goods.get(canteen.id, frozenset()) if it.req.items else frozenset(),
            item_ids=self.item_ids.get(canteen.id, {}) if it.req.items else {},
            meals_had=self.counts.get((payer.id, meal.period_id), 0)
            if payer is not None and meal is not None
            else 0,
            cross=self.cross(payer, canteen) if payer is not None else None,
        )

    def thread(self, d: Decision) -> None:
        """What an approval leaves for the payments after it in the batch."""
        if not d.approved or d.payer is None or d.purses_after is None:
            return
        self.purses[d.payer.id] = d.purses_after
        if d.meal_period_id is not None:
            key = (d.payer.id, d.meal_period_id)
            self.counts[key] = self.counts.get(key, 0) + 1
        if d.code_step is not None:
            self.people[d.payer.id] = dataclasses.replace(
                self.people[d.payer.id], paycode_last_step=d.code_step
            )


def decide_batch(conn: Connection, ctx: Context, items: list[_Item]) -> list[Result | None]:
    """Decide the batch's payments set-wise inside the caller's transaction."""
    results: list[Result | None] = [None] * len(items)
    now = ctx.clock.now()
    day = to_local(now).date()
    policy = Policy(ctx.settings.language, ctx.settings.paycode_step_seconds)

    # Which items this path takes: the first of each (terminal, txn id) in the batch.
    todo: list[int] = []
    seen_keys: set[tuple[int, str]] = set()
    for i, it in enumerate(items):
        key = (it.terminal.id, it.req.txn_id)
        if key not in seen_keys:
            todo.append(i)
        seen_keys.add(key)
    if not todo:
        return results

    # Credentials: a malformed code is the caller's error — once it is known not to be
    # a retry (below).
    creds: dict[int, Credential] = {}
    malformed: dict[int, OneCardError] = {}
    single: set[int] = set()  # left to the single path (``decide_and_record``)
    for i in todo:
        try:
            creds[i] = read_credential(items[i].req.credential, ctx.settings.region_no)
        except ForeignRegion:
            single.add(i)  # perhaps another network of this deployment: the single path
        except OneCardError as exc:
            malformed[i] = exc
    nos = sorted({c.card_no for c in creds.values() if isinstance(c, CardCredential)})
    tokens = sorted({c.token for c in creds.values() if isinstance(c, CodeCredential)})
    canteen_ids = sorted({items[i].terminal.canteen_id for i in todo})
    lines = sorted(
        {(items[i].terminal.canteen_id, sku) for i in todo for sku, _ in items[i].req.items}
    )
    keyed: dict[str, Any] = {
        "nos": text_array(nos),
        "tokens": text_array(tokens),
        "canteens": int_array(canteen_ids),
        "day": day,
    }

    # Round trip 1: everything the decisions read, the locks they need, ids and period.
    statements: list[journal.Statement] = [
        (
            sql.SEEN,
            {
                "keys": sql.as_json(
                    [{"t": items[i].terminal.id, "x": items[i].req.txn_id} for i in todo]
                )
            },
        ),
        (sql.CANTEENS, keyed),
        (sql.CARDS, keyed),
        (sql.CODE_PEOPLE, keyed),
        (sql.CARD_PEOPLE, keyed),
        (sql.RETIRED, keyed),
        (sql.MEALS, keyed),
        (sql.PURSES, keyed),
        (sql.MEAL_COUNTS, keyed),
        (sql.LOCK_ENTRIES, {}),
        (sql.LAST_CLOSED, {}),
        (sql.IDS, {"n": len(todo)}),
    ]
    if lines:
        statements.append((sql.ITEMS, {"lines": sql.as_json([{"c": c, "s": s} for c, s in lines])}))
    # Agreements only when this deployment has (or may have) more than one fund region.
    read_agreements = not known_single(conn)
    if read_agreements:
        statements.append((sql.AGREEMENTS, {}))
    cursors = journal.pipelined(conn, statements)
    (
        seen_cur,
        canteen_cur,
        card_cur,
        code_people_cur,
        card_people_cur,
        retired_cur,
        meal_cur,
        purse_cur,
        count_cur,
        _lock,
        closed_cur,
        id_cur,
    ) = cursors[:12]

    # Stored decisions (a retry is answered with the first answer's bytes).
    stored = {(int(r[0]), str(r[1])): r for r in seen_cur.fetchall()}
    fresh: list[int] = []
    for i in todo:
        it = items[i]
        found = stored.get((it.terminal.id, it.req.txn_id))
        if found is None:
            if i in malformed:
                results[i] = malformed[i]
            elif i not in single:
                fresh.append(i)
        elif found[3] != it.req.fingerprint():
            results[i] = IdempotencyConflict()
        else:
            results[i] = PaymentOutcome(
                body=str(found[4]).encode(),
                approved=found[5] != "refused",
                replayed=True,
                payment_id=int(found[2]),
            )
    if not fresh:
        return results

    g = _gather(cursors, canteen_cur, card_cur, code_people_cur, card_people_cur, retired_cur)
    g.meals = _meals(meal_cur)
    g.purses = _purses(purse_cur)
    g.counts = {(int(pid), int(mp)): int(n) for pid, mp, n in count_cur.fetchall()}
    if read_agreements:
        g.terms = tuple(terms_of_row(r) for r in cursors[-1].fetchall())
    fm = g.fm = fund_map(conn, g.version)
    if lines:
        goods: dict[int, set[str]] = {}
        for c, s, fen, kind, iid in cursors[12].fetchall():
            g.items.setdefault(int(c), {})[str(s)] = int(fen)
            g.item_ids.setdefault(int(c), {})[str(s)] = int(iid)
            if kind == "goods":
                goods.setdefault(int(c), set()).add(str(s))
        g.goods = {c: frozenset(ss) for c, ss in goods.items()}
    closed = {int(r): str(c) for r, c in closed_cur.fetchall()}
    ids = [(int(e), int(p)) for e, p in id_cur.fetchall()]

    # Decide, in arrival order, each seeing what the approvals before it left. The batch
    # writes one accounting period: the first payment's (its fund region's first open
    # quarter for today); a payment whose fund region has closed another quarter (one
    # region settled ahead of another) takes the single path, which books it right.
    decided: list[tuple[int, Decision]] = []
    period: str | None = None
    for i in fresh:
        it = items[i]
        fund = fm.fund_of.get(it.terminal.region_id, it.terminal.region_id)
        mine = _period(day, closed.get(fund))
        period = period or mine
        if mine != period:
            continue
        if g.canteens.get(it.terminal.canteen_id, (None, None))[1] is None:
            continue  # no payable account: decide_and_record says so
        if g.needs_single(it, creds[i]):
            continue
        try:
            d = decide(it.terminal, it.req, creds[i], g.facts(it, creds[i], now), policy)
        except OneCardError as exc:  # bad input, unknown meal: nothing is written
            results[i] = exc
            continue
        g.thread(d)
        decided.append((i, d))
    bodies = _write(conn, items, now, day, period or _period(day, None), ids, decided)
    for i, d in decided:
        results[i] = PaymentOutcome(
            body=bodies[i],
            approved=d.approved,
            payment_id=int(d.data["payment_id"]),
            data=d.data,
        )
    return results


def _gather(
    cursors: list[psycopg.Cursor[Any]],
    canteen_cur: psycopg.Cursor[Any],
    card_cur: psycopg.Cursor[Any],
    code_people_cur: psycopg.Cursor[Any],
    card_people_cur: psycopg.Cursor[Any],
    retired_cur: psycopg.Cursor[Any],
) -> _Gathered:
    canteens: dict[int, tuple[CanteenRules, int | None]] = {}
    version = None
    for r in canteen_cur.fetchall():
        canteens[int(r[0])] = (
            CanteenRules(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], bool(r[7]), int(r[8])),
            None if r[6] is None else int(r[6]),
        )
        version = None if r[9] is None else int(r[9])
    cards = {str(r[0]): CardFacts(int(r[1]), str(r[2])) for r in card_cur.fetchall()}
    people: dict[int, Payer] = {}
    by_token: dict[str, int] = {}
    for r in code_people_cur.fetchall() + card_people_cur.fetchall():
        pid = int(r[0])
        people.setdefault(
            pid, Payer(pid, r[1], int(r[2]), r[3], r[4], r[5], str(r[7]), int(r[8]), int(r[9]))
        )
        by_token[str(r[6])] = pid
    retired = {str(r[0]) for r in retired_cur.fetchall()}
    return _Gathered(
        canteens, cards, people, by_token, retired, {}, {}, {}, {}, {}, {}, version=version
    )


def _meals(meal_cur: psycopg.Cursor[Any]) -> dict[tuple[int, str], MealFacts]:
    rows: dict[tuple[int, str], tuple[Any, ...]] = {}
    prices: dict[tuple[int, str], dict[str, int]] = {}
    for r in meal_cur.fetchall():
        key = (int(r[0]), str(r[1]))
        rows.setdefault(key, tuple(r))
        mine = prices.setdefault(key, {})
        if r[7] is not None:
            mine[str(r[7])] = int(r[8])
    return {
        key: MealFacts(int(r[2]), key[1], str(r[3]), r[4], r[5], int(r[6]), prices[key])
        for key, r in rows.items()
    }


def _purses(purse_cur: psycopg.Cursor[Any]) -> dict[int, Purses]:
    found: dict[int, dict[str, tuple[int, int]]] = {}  # person → kind → (account, balance)
    for aid, owner, kind, bal in purse_cur.fetchall():
        found.setdefault(int(owner), {})[str(kind)] = (int(aid), int(bal))
    return {
        pid: Purses(*kinds["subsidy"], *kinds["cash"])
        for pid, kinds in found.items()
        if "subsidy" in kinds and "cash" in kinds
    }


def _write(
    conn: Connection,
    items: list[_Item],
    now: Any,
    day: date,
    period: str,
    ids: list[tuple[int, int]],
    decided: list[tuple[int, Decision]],
) -> dict[int, bytes]:
    """Round trip 2: every write of the batch; returns each answer's bytes (as stored).
    ``ids``: (entry id, payment id) pairs drawn from the sequences in round trip 1, at
    least one per decision."""
    if not decided:
        return {}
    assert len(ids) >= len(decided)
    steps = {
        d.payer.id: d.code_step
        for _, d in decided
        if d.approved and d.code_step is not None and d.payer is not None
    }
    before: list[journal.Statement] = []
    if steps:
        before.append((sql.STEPS, {"ids": int_array(steps), "steps": int_array(steps.values())}))
    approved = [(i, d) for i, d in decided if d.approved]
    entry_ids = [e for e, _ in ids[: len(approved)]]
    entry_of = {i: e for (i, _), e in zip(approved, entry_ids, strict=True)}
    entries = journal.check(d.entry(items[i].terminal, items[i].req.txn_id) for i, d in approved)
    purses = {a: False for _, d in approved for a in d.purse_ids()}
    rows = []
    lines: list[dict[str, int]] = []
    bodies: dict[int, bytes] = {}
    for (i, d), (_, pid) in zip(decided, ids, strict=False):
        it = items[i]
        d.data["payment_id"] = pid
        if d.approved and d.lines:
            lines.extend(line_rows(pid, d))
        bodies[i] = body = dumps(d.data)
        rows.append(
            {
                "id": pid,
                "region_id": it.terminal.region_id,
                "terminal_id": it.terminal.id,
                "txn_id": it.req.txn_id,
                "request_hash": it.req.fingerprint(),
                "status": "approved" if d.approved else "refused",
                "refusal_code": d.refusal,
                "canteen_id": it.terminal.canteen_id,
                "person_id": d.payer.id if d.payer else None,
                "home_unit_id": d.payer.unit_id if d.payer else None,
                "credential_kind": it.req.credential_kind,
                "meal_period_id": d.meal_period_id,
                "diner_class": d.klass,
                "amount_fen": d.amount,
                "subsidy_fen": d.from_sub,
                "cash_fen": d.from_cash,
                "entry_id": entry_of.get(i),
                "response": body.decode(),
            }
        )
    after: list[journal.Statement] = [
        (sql.PAYMENTS, {"day": day, "now": now, "rows": sql.as_json(rows)})
    ]
    if lines:
        after.append((sql.LINES, {"rows": sql.as_json(lines)}))
    cursors = journal.write_pipelined(
        conn,
        entries,
        journal.Header(period, "", now),
        ids=entry_ids,
        purses=purses,
        before=before,
        after=after,
    )
    if steps and cursors[0].rowcount != len(steps):  # the rows are locked: cannot happen
        raise RuntimeError("payment code steps moved under a lock")
    return bodies
