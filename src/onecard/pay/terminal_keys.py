"""Terminal keys on the lunch-rush path: recognised in memory, confirmed in the payment.

Contract:
- ``TerminalKeys(ctx).identify(code, key)`` returns ``(TerminalIdentity, key_hash)`` for
  a terminal presenting ``Authorization: Terminal <code>:<key>``. A code seen before,
  presenting the key whose hash was remembered, is answered from memory — no database
  round trip and no thread hand-off; anything else (first sight, another key, a refusal)
  goes through ``service.authenticate_terminal`` (the ``terminals`` table; the same
  ``TerminalUnauthorized`` / ``TerminalRevoked``) and remembers the terminal.
- Memory is only a hint, never the decision: ``confirm(conn, claims)`` reads the status
  and key hash of every terminal of a payment batch in ONE statement inside the batch's
  own transaction, and returns, per claim, ``None`` or the error to answer. So a terminal
  revoked (or re-keyed) is refused from the first payment whose transaction starts after
  the change commits — in every server process, whatever each remembers — exactly as a
  per-request lookup would, for one statement per batch instead of three round trips
  and a thread hop per request.
- ``warm()`` remembers every live terminal with one query (the batcher calls it at
  start), so the rush's first payment per terminal needs no lookup either.
- At most ``MAX_REMEMBERED`` terminals are remembered (a province has tens of thousands);
  past that, memory starts again empty.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Sequence

from sqlalchemy import Connection, select

from onecard.core.context import Context
from onecard.core.errors import AuthError, TerminalUnauthorized
from onecard.org.builders import hash_device_key
from onecard.org.models import Terminal
from onecard.pay.service import TerminalIdentity, authenticate_terminal
from onecard.rollout.states import LIVE, terminal_refusal

MAX_REMEMBERED = 200_000


class TerminalKeys:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._known: dict[str, tuple[TerminalIdentity, str]] = {}
        self._lock = threading.Lock()

    def warm(self) -> int:
        """Remember every live terminal (up to ``MAX_REMEMBERED``); returns how many."""
        with self.ctx.db.read() as conn:
            rows = conn.execute(
                select(
                    Terminal.id,
                    Terminal.code,
                    Terminal.region_id,
                    Terminal.canteen_id,
                    Terminal.key_hash,
                )
                .where(Terminal.status == LIVE)
                .order_by(Terminal.id)
                .limit(MAX_REMEMBERED)
            ).all()
        known = {
            str(code): (TerminalIdentity(int(tid), str(code), int(region), int(canteen)), str(h))
            for tid, code, region, canteen, h in rows
        }
        with self._lock:
            self._known = known
        return len(known)

    def recall(self, code: str, key: str) -> tuple[TerminalIdentity, str] | None:
        """From memory only: the identity and key hash, or None (then ``identify``)."""
        known = self._known.get(code)
        if known is None:
            return None
        key_hash = hash_device_key(key)
        return known if hmac.compare_digest(known[1], key_hash) else None

    def identify(self, code: str, key: str) -> tuple[TerminalIdentity, str]:
        """Memory first, else the database (blocking: call it off the event loop)."""
        found = self.recall(code, key)
        if found is not None:
            return found
        ident = authenticate_terminal(self.ctx, code, key)  # raises 401/403 as before
        key_hash = hash_device_key(key)
        with self._lock:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            self._known[code] = (ident, key_hash)
        return ident, key_hash


def confirm(conn: Connection, claims: Sequence[tuple[int, str | None]]) -> list[AuthError | None]:
    """Inside the payment's transaction: is each (terminal id, key hash) still good?

    A claim without a key hash was authenticated against the database just before (the
    caller looked it up itself) and is not checked again.
    """
    ids = sorted({tid for tid, h in claims if h is not None})
    if not ids:
        return [None] * len(claims)
    now = {
        int(tid): (str(key_hash), str(status))
        for tid, key_hash, status in conn.execute(
            select(Terminal.id, Terminal.key_hash, Terminal.status).where(Terminal.id.in_(ids))
        )
    }
    out: list[AuthError | None] = []
    for tid, key_hash in claims:
        if key_hash is None:
            out.append(None)
            continue
        row = now.get(tid)
        if row is None or not hmac.compare_digest(row[0], key_hash):
            out.append(TerminalUnauthorized())
        else:
            out.append(terminal_refusal(row[1]))
    return out
