"""Card life cycle: issue, report lost, unfreeze, replace, cancel.

Contract: each public function is one transaction and takes the acting ``Actor``: the
cardholder may report their own card lost or unfreeze it; the admin of the person's unit
(or the bureau / clearing operator) may do anything here. A card only points at a person;
balances live on the person's purses, so replacing a card moves no money and a lost
card is refused at every terminal from the moment ``report_lost`` commits (terminals
ask the server on every payment, nothing is cached). Reporting a card lost stops that
card only: the person's payment code is their phone's, and a lost phone is reported
with ``pay.paycode_keys.rotate``. Every change is an audit event (kind ``card``).
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import Connection, insert, select, update

from onecard.audit import service as audit
from onecard.core.context import Context
from onecard.core.errors import Forbidden, MalformedCredential, NotFound, StateConflict
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.pay.models import Card

LOST, ACTIVE, CANCELLED = {"status": "lost"}, {"status": "active"}, {"status": "cancelled"}


def new_card_no(conn: Connection, region_code: str) -> str:
    """A 16-digit card number: 6-digit region code + 9 random digits + Luhn check digit."""
    while True:
        body = region_code[:6] + f"{secrets.randbelow(10**9):09d}"
        card_no = body + luhn_digit(body)
        if conn.execute(select(Card.id).where(Card.card_no == card_no)).first() is None:
            return card_no


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _issue(
    conn: Connection, ctx: Context, person_id: int, card_no: str | None, replaces: int | None
) -> str:
    region = conn.execute(select(Person.region_id).where(Person.id == person_id)).scalar()
    if region is None:
        raise NotFound(what="人员")
    card_no = card_no or new_card_no(conn, ctx.settings.region_code)
    if not re.fullmatch(r"[0-9]{8,16}", card_no):
        # Terminals accept 8–16 digits as a card (18 starting with 8 is a payment code):
        # a card of any other shape could never pay.
        raise MalformedCredential(card_no)
    if conn.execute(select(Card.id).where(Card.card_no == card_no)).first() is not None:
        raise StateConflict(f"卡号 {card_no} 已存在")
    conn.execute(
        insert(Card).values(
            region_id=region,
            card_no=card_no,
            person_id=person_id,
            status="active",
            issued_at=ctx.clock.now(),
            replaces_card_id=replaces,
        )
    )
    return card_no


def issue_card_conn(
    conn: Connection, ctx: Context, person_id: int, card_no: str | None = None
) -> str:
    """Issue inside an open transaction (bulk builders); refuses a second active card."""
    active = conn.execute(
        select(Card.card_no).where(Card.person_id == person_id, Card.status == "active")
    ).scalar()
    if active is not None:
        raise StateConflict(f"该人员已有在用卡 {active}")
    return _issue(conn, ctx, person_id, card_no, None)


def _authorise(conn: Connection, actor: Actor, person_id: int, *, holder_may: bool) -> None:
    """The unit's admin (or the bureau) may manage a person's cards; the holder only
    what ``holder_may`` allows (reporting lost, unfreezing)."""
    if holder_may and actor.person_id == person_id:
        return
    unit = conn.execute(select(Person.unit_id).where(Person.id == person_id)).scalar()
    if unit is None:
        raise NotFound(what="人员")
    if not actor.manages_unit(int(unit)):
        raise Forbidden()


def _audit(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    action: str,
    card_no: str,
    person_id: int,
    before: dict[str, str] | None,
    after: dict[str, str],
) -> None:
    """The transaction's last write: who did what to which card (its holder's unit)."""
    unit = conn.execute(select(Person.unit_id).where(Person.id == person_id)).scalar()
    audit.record(
        conn,
        ctx,
        actor,
        "card",
        action,
        target=card_no,
        unit_id=int(unit) if unit is not None else None,
        person_id=person_id,
        before=before,
        after=after,
    )


def issue_card(ctx: Context, actor: Actor, person_id: int, card_no: str | None = None) -> str:
    with ctx.db.begin() as conn:
        _authorise(conn, actor, person_id, holder_may=False)
        new = issue_card_conn(conn, ctx, person_id, card_no)
        _audit(conn, ctx, actor, "card_issued", new, person_id, None, {"status": "active"})
        return new


def _card(
    conn: Connection, actor: Actor, card_no: str, *, holder_may: bool, holder_only: bool = False
) -> tuple[int, int, str]:
    """The card's (id, person, status), once the actor may act on it. ``holder_only``
    (the diner's own routes, ``/me/…``) admits the holder alone, whatever else the actor
    may manage; someone else's card is then "not found", as an unknown one."""
    row = conn.execute(
        select(Card.id, Card.person_id, Card.status)
        .where(Card.card_no == card_no)
        .with_for_update()
    ).first()
    if row is None or (holder_only and int(row[1]) != actor.person_id):
        raise NotFound(what=f"卡 {card_no}")
    _authorise(conn, actor, int(row[1]), holder_may=holder_may)
    return int(row[0]), int(row[1]), str(row[2])


def _set_status(conn: Connection, ctx: Context, card_id: int, frm: str, to: str) -> None:
    done = conn.execute(
        update(Card)
        .where(Card.id == card_id, Card.status == frm)
        .values(status=to, status_changed_at=ctx.clock.now())
    ).rowcount
    if done != 1:
        raise StateConflict(f"卡状态不是 {frm}")


def report_lost(ctx: Context, actor: Actor, card_no: str, *, holder_only: bool = False) -> None:
    """挂失: the card is refused everywhere from now on. Reporting twice is harmless."""
    with ctx.db.begin() as conn:
        card_id, person_id, status = _card(
            conn, actor, card_no, holder_may=True, holder_only=holder_only
        )
        if status == "lost":
            return
        _set_status(conn, ctx, card_id, "active", "lost")
        _audit(conn, ctx, actor, "card_lost", card_no, person_id, {"status": status}, LOST)


def unfreeze(ctx: Context, actor: Actor, card_no: str, *, holder_only: bool = False) -> None:
    """解挂: a lost card that turned up works again."""
    with ctx.db.begin() as conn:
        card_id, person_id, status = _card(
            conn, actor, card_no, holder_may=True, holder_only=holder_only
        )
        if status == "active":
            return
        _set_status(conn, ctx, card_id, "lost", "active")
        _audit(conn, ctx, actor, "card_unfrozen", card_no, person_id, {"status": status}, ACTIVE)


def replace_card(ctx: Context, actor: Actor, card_no: str, new_card_no_: str | None = None) -> str:
    """补卡: cancel the old card and issue a new one to the same person (balance intact)."""
    with ctx.db.begin() as conn:
        card_id, person_id, status = _card(conn, actor, card_no, holder_may=False)
        if status == "cancelled":
            raise StateConflict("原卡已注销")
        _set_status(conn, ctx, card_id, status, "cancelled")
        new = _issue(conn, ctx, person_id, new_card_no_, card_id)
        _audit(
            conn,
            ctx,
            actor,
            "card_replaced",
            card_no,
            person_id,
            {"status": status},
            {"status": "cancelled", "new_card_no": new},
        )
        return new


def cancel_card(ctx: Context, actor: Actor, card_no: str) -> None:
    with ctx.db.begin() as conn:
        card_id, person_id, status = _card(conn, actor, card_no, holder_may=False)
        if status == "cancelled":
            return
        _set_status(conn, ctx, card_id, status, "cancelled")
        _audit(
            conn, ctx, actor, "card_cancelled", card_no, person_id, {"status": status}, CANCELLED
        )
