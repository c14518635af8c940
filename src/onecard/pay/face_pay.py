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
5. 1:N among the people the canteen accepts (``faces.gallery``), in the galleries of
   every region whose people it takes for a card or a code (``pay.interregion.diners``:
   its fund region's regions, by the canteen's own rule; another fund region's, under a
   dining agreement in force here, its covered units): a match is paid through
   ``pay.service.pay`` with a ``FaceCredential``; no match is the recorded refusal
   ``face_not_recognised``. The decision core checks everything else as for a card.

Steps 1–5 read in one read transaction: the replay, the canteen's row with the
fund-map version (``pay.service.canteen_facts``: the map itself is cached by version),
and — where there is more than one fund region — the accepted agreements.
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
from onecard.pay.interregion import Diners, diners, fund_map, read_all_terms
from onecard.pay.pricing import CanteenRules
from onecard.pay.service import (
    AfterRecord,
    PaymentOutcome,
    canteen_facts,
    dumps,
    pay,
    replay,
)

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


def _diners(conn: Connection, canteen: CanteenRules, version: int | None, day: date) -> Diners:
    """Whose faces this canteen searches: the regions whose people it takes for a card or
    a code (``pay.interregion.diners``, the decision core's rule) — its own fund region's
    (a township sharing its county's fund, and the county), and another fund region's
    under a dining agreement in force here (issue 17 §2). ``version``: the fund-map
    version read with the canteen's row (``canteen_facts``)."""
    fm = fund_map(conn, version)
    terms = () if fm.single else read_all_terms(conn)
    return diners(fm, terms, canteen.region_id, canteen.id, day)


def face_pay(
    ctx: Context,
    terminal: TerminalIdentity,
    fp: FacePayment,
    *,
    deadline: float | None = None,
    also: AfterRecord | None = None,
) -> PaymentOutcome:
    """``also``: recorded with the decision record, as ``pay.service.pay`` says."""
    if (fp.image is None) == (fp.descriptor is None):
        raise InvalidInput("image 与 descriptor 须且只能给出一个")
    if fp.digits is not None and not DIGITS_RE.fullmatch(fp.digits):
        raise InvalidInput("digits 须为 4 位数字")
    req = fp.request()
    req.validate()
    with ctx.db.read() as conn:
        prior = replay(conn, terminal, req)
        rules, version = canteen_facts(conn, terminal.canteen_id)
        whose = _diners(conn, rules, version, to_local(ctx.clock.now()).date())
    if prior is not None:
        return prior
    if not queries.takes_faces(ctx, terminal.id):
        raise FacePayNotEnabled()
    if not fp.liveness:
        return pay(
            ctx, terminal, req, deadline=deadline, cred=FaceCredential(None, live=False), also=also
        )
    probe = describe(fp.image) if fp.image is not None else check_descriptor(fp.descriptor or ())
    s = ctx.settings
    own = gallery.gallery_for(ctx, whose.own)
    accepts = gallery.Accepts(rules.unit_id, rules.serves_visitors, rules.serves_guests)
    searched: list[gallery.Searched] = [(own, gallery.accepted(own, accepts))]
    for regions, unit_ids in whose.partners:
        g = gallery.gallery_for(ctx, regions)
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
    return pay(ctx, terminal, req, deadline=deadline, cred=FaceCredential(person), also=also)
