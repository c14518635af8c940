"""What a terminal needs to sell offline, read as it stands now (reads only).

Contract: ``current(conn, terminal, limits)`` returns the canteen's header and the
entries, keyed so that an incremental refresh can name what changed:

- ``meal:<code>`` — a meal period: window, per-person count limit, price per class;
- ``person:<id>`` — an accepted person (active, of a class the canteen serves): name,
  unit, diner class, their offline limit for a day (``limits.person_day_limit``), their
  active card numbers, and what verifies their payment codes offline — the token, the
  TOTP secret and the last step already spent. The secret is what a phone holds too: a
  working set is as sensitive as the phones, goes only to a live terminal with its
  device key, and is never stored by the server (``strip_secrets``);
- ``lost:<card_no>`` — a card reported lost or cancelled, of an accepted person.

``digest(entry)`` is what a version remembers per key (of the whole entry, secret
included: a rotated secret is a change to send).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from onecard.core.errors import Refused
from onecard.ledger.models import Account
from onecard.org.models import Person, Unit
from onecard.pay.decide import TerminalIdentity
from onecard.pay.models import Card, MealPeriod, MealPrice
from onecard.pay.pricing import diner_class
from onecard.pay.service import canteen_rules
from onecard.terminals.limits import Limits, person_day_limit

SECRET_FIELDS = ("secret",)


def digest(entry: dict[str, Any]) -> str:
    body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def strip_secrets(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in SECRET_FIELDS}


def current(
    conn: Connection, terminal: TerminalIdentity, limits: Limits
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(canteen header, entries by key) for ``terminal`` now."""
    canteen = canteen_rules(conn, terminal.canteen_id)
    header = {"id": canteen.id, "name": canteen.name, "purse_order": canteen.purse_order}
    entries: dict[str, dict[str, Any]] = {}
    prices: dict[int, dict[str, int]] = defaultdict(dict)
    periods = conn.execute(
        select(
            MealPeriod.id,
            MealPeriod.code,
            MealPeriod.name,
            MealPeriod.starts,
            MealPeriod.ends,
            MealPeriod.per_person_limit,
        ).where(MealPeriod.canteen_id == canteen.id)
    ).all()
    for pid, klass, fen in conn.execute(
        select(MealPrice.meal_period_id, MealPrice.diner_class, MealPrice.price_fen).where(
            MealPrice.meal_period_id.in_([p.id for p in periods])
        )
    ):
        prices[int(pid)][str(klass)] = int(fen)
    for p in periods:
        entries[f"meal:{p.code}"] = {
            "kind": "meal",
            "code": p.code,
            "name": p.name,
            "starts": p.starts.strftime("%H:%M:%S"),
            "ends": p.ends.strftime("%H:%M:%S"),
            "per_person_limit": int(p.per_person_limit),
            "prices": prices[int(p.id)],
        }
    purses: dict[int, int] = defaultdict(int)
    people = conn.execute(
        select(
            Person.id,
            Person.name,
            Person.unit_id,
            Unit.name,
            Person.category,
            Person.paycode_token,
            Person.paycode_secret,
            Person.paycode_last_step,
        )
        .join(Unit, Unit.id == Person.unit_id)
        .where(Person.region_id == terminal.region_id, Person.status == "active")
        .order_by(Person.id)
    ).all()
    accepted: dict[int, str] = {}
    for row in people:
        try:
            accepted[int(row.id)] = diner_class(int(row.unit_id), str(row.category), canteen)
        except Refused:
            continue  # a class this canteen does not serve
    for owner, bal in conn.execute(
        select(Account.owner_id, Account.balance).where(
            Account.owner_kind == "person",
            Account.kind.in_(("subsidy", "cash")),
            Account.region_id == terminal.region_id,
        )
    ):
        if int(owner) in accepted:
            purses[int(owner)] += int(bal)
    cards: dict[int, list[str]] = defaultdict(list)
    for card_no, person_id, status in conn.execute(
        select(Card.card_no, Card.person_id, Card.status)
        .where(Card.region_id == terminal.region_id)
        .order_by(Card.card_no)
    ):
        pid = int(person_id)
        if pid not in accepted:
            continue
        if status == "active":
            cards[pid].append(str(card_no))
        else:
            entries[f"lost:{card_no}"] = {"kind": "lost_card", "card_no": card_no, "person_id": pid}
    for row in people:
        pid = int(row.id)
        if pid not in accepted:
            continue
        entries[f"person:{pid}"] = {
            "kind": "person",
            "person_id": pid,
            "name": row.name,
            "unit": row[3],
            "diner_class": accepted[pid],
            "day_limit_fen": person_day_limit(limits, purses[pid]),
            "cards": cards[pid],
            "token": row.paycode_token,
            "secret": row.paycode_secret,
            "last_step": int(row.paycode_last_step),
        }
    return header, entries
