"""Face pay (刷脸支付): a terminal's picture or descriptor → the person → the one decision core.

Contract: ``face_pay(ctx, terminal, request, deadline=…)`` answers as ``pay.service.pay``
does (the same stored bytes, the same idempotency on ``(terminal, txn_id)``), with one
more answer that is *not* recorded: ``need_digits``, when the face alone does not
single out one person (``faces.gallery.identify``: a thin margin, or a canteen that
accepts many enrolled people) — the till asks the diner for the last 4 digits of their
phone or staff number and sends the same ``txn_id`` again with them.

In order, nothing written before the payment's own transaction:
1. The request's shape (``PaymentRequest.validate``; its credential is ``face:`` and a
   hash of what the terminal sent, so a retry is recognised and replayed — before any
   picture is read again).
2. The terminal must have declared liveness detection (``faces.queries.takes_faces``),
   else ``FacePayNotEnabled`` (403).
3. The terminal's liveness verdict: failed is a recorded refusal ``face_not_live``.
4. The descriptor: computed from the JPEG (``NoFaceFound``: 422) or the terminal's own.
5. 1:N among the people the canteen accepts (``faces.gallery``): a match is paid through
   ``pay.service.pay`` with a ``FaceCredential``; no match is the recorded refusal
   ``face_not_recognised``. The decision core checks everything else as for a card.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Connection

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import FacePayNotEnabled, InvalidInput
from onecard.faces import gallery, queries
from onecard.faces.embedding import check_descriptor, describe
from onecard.pay.decide import FaceCredential, PaymentRequest, TerminalIdentity
from onecard.pay.interregion import current_fund_map, read_all_terms
from onecard.pay.service import PaymentOutcome, canteen_rules, dumps, pay, replay

DIGITS_RE = re.compile(r"[0-9]{4}")
NEED_DIGITS = {
    "zh-CN": "请输入手机号（或工号）后 4 位",
    "en": "Enter the last 4 digits of your phone (or staff) number",
}


@dataclass(frozen=True)
class FacePayment:
    txn_id: str
    liveness: bool  # the terminal's verdict on this picture
    image: bytes | None = None  # a JPEG (or PNG)
    descriptor: tuple[float, ...] | None = None  # or the terminal's own 128-d descriptor
    digits: str | None = None  # last 4 of phone or staff number, when asked
    meal: str | None = None
    amount_fen: int | None = None
    items: tuple[tuple[str, int], ...] = ()

    def credential(self) -> str:
        h = hashlib.sha256()
        if self.image is not None:
            h.update(b"jpeg:" + hashlib.sha256(self.image).digest())
        else:
            h.update(b"desc:" + json.dumps(list(self.descriptor or ())).encode())
        h.update(json.dumps([self.liveness, self.digits]).encode())
        return "face:" + h.hexdigest()

    def request(self) -> PaymentRequest:
        return PaymentRequest(
            txn_id=self.txn_id,
            credential=self.credential(),
            meal=self.meal,
            amount_fen=self.amount_fen,
            items=self.items,
        )


def _partners(
    conn: Connection, terminal: TerminalIdentity, day: date
) -> list[tuple[int, frozenset[int] | None]]:
    """The regions whose people may pay at this canteen by face under a dining agreement
    (issue 17 §2): each member region of a home fund region with an accepted agreement,
    in force today, whose host is this canteen's fund region and which covers this
    canteen; with the units it covers (None: all). Nothing in a single-fund deployment.
    The payment's decision checks the agreement again (``pay.decide``)."""
    fm = current_fund_map(conn)
    if fm.single:
        return []
    host = fm.fund_of.get(terminal.region_id)
    # One entry a region (several agreements of one home fund: their units together), so
    # no one is searched twice (a person beside themselves would make every margin thin).
    units: dict[int, frozenset[int] | None] = {}
    for t in read_all_terms(conn):
        in_force = t.valid_from <= day and (t.valid_to is None or day <= t.valid_to)
        here = t.canteen_ids is None or terminal.canteen_id in t.canteen_ids
        if t.host != host or t.home == host or not in_force or not here:
            continue
        for r in (r for r, f in fm.fund_of.items() if f == t.home and r != terminal.region_id):
            had = units.get(r, frozenset())
            units[r] = None if had is None or t.unit_ids is None else had | t.unit_ids
    return sorted(units.items())


def face_pay(
    ctx: Context, terminal: TerminalIdentity, fp: FacePayment, *, deadline: float | None = None
) -> PaymentOutcome:
    if (fp.image is None) == (fp.descriptor is None):
        raise InvalidInput("image 与 descriptor 须且只能给出一个")
    if fp.digits is not None and not DIGITS_RE.fullmatch(fp.digits):
        raise InvalidInput("digits 须为 4 位数字")
    req = fp.request()
    req.validate()
    with ctx.db.read() as conn:
        prior = replay(conn, terminal, req)
        rules = canteen_rules(conn, terminal.canteen_id)
        partners = _partners(conn, terminal, to_local(ctx.clock.now()).date())
    if prior is not None:
        return prior
    if not queries.takes_faces(ctx, terminal.id):
        raise FacePayNotEnabled()
    if not fp.liveness:
        return pay(ctx, terminal, req, deadline=deadline, cred=FaceCredential(None, live=False))
    probe = describe(fp.image) if fp.image is not None else check_descriptor(fp.descriptor or ())
    s = ctx.settings
    own = gallery.gallery_for(ctx, terminal.region_id)
    accepts = gallery.Accepts(rules.unit_id, rules.serves_visitors, rules.serves_guests)
    searched: list[gallery.Searched] = [(own, gallery.accepted(own, accepts))]
    for region_id, unit_ids in partners:
        g = gallery.gallery_for(ctx, region_id)
        covered = (
            np.ones(g.size, dtype=bool) if unit_ids is None else np.isin(g.unit_ids, list(unit_ids))
        )
        searched.append((g, covered))
    found = gallery.identify_in(
        searched,
        probe,
        int(fp.digits) if fp.digits is not None else None,
        threshold=s.face_threshold,
        margin=s.face_margin,
        digits_above=s.face_digits_above,
    )
    if isinstance(found, gallery.NeedDigits):
        data = {
            "txn_id": fp.txn_id,
            "terminal": terminal.code,
            "canteen": rules.name,
            "result": "need_digits",
            "message": NEED_DIGITS["en" if s.language == "en" else "zh-CN"],
        }
        return PaymentOutcome(body=dumps(data), approved=False, data=data)
    person = found.person_id if isinstance(found, gallery.Match) else None
    return pay(ctx, terminal, req, deadline=deadline, cred=FaceCredential(person))
