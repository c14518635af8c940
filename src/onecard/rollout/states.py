"""The rollout state machines (R-R1, R-R3): terminals and canteens. Pure: no database.

Contract:
- A terminal goes ``planned → installed → accepted → live``, and to ``revoked`` from any
  other state; nothing leaves ``revoked``. ``TERMINAL_MOVES`` is the whole table: any
  other move is refused (``IllegalTransition``).
- **A terminal pays only when live.** ``terminal_refusal(status)`` is the one predicate
  the payment path asks (``pay.service.authenticate_terminal`` and
  ``pay.terminal_keys.confirm``): ``None`` for a live terminal, else the error to answer
  — ``TerminalRevoked`` (403 ``terminal_revoked``) for a revoked one, ``TerminalNotLive``
  (403 ``terminal_not_live``) for one still planned, installed or accepted.
- A canteen goes ``planned → inspected → live``: a passed inspection makes a planned
  canteen ``inspected``, a failed one sends an inspected canteen back to ``planned``;
  only an inspected canteen with a live terminal may go ``live`` (``rollout.service``
  checks the gate and says which condition is missing); the bureau may take a live
  canteen back to ``planned`` (suspended).
"""

from __future__ import annotations

from onecard.core.errors import AuthError, IllegalTransition, TerminalNotLive, TerminalRevoked

PLANNED, INSTALLED, ACCEPTED, LIVE, REVOKED = "planned", "installed", "accepted", "live", "revoked"
TERMINAL_STATES = (PLANNED, INSTALLED, ACCEPTED, LIVE, REVOKED)
TERMINAL_MOVES: dict[str, frozenset[str]] = {
    PLANNED: frozenset({INSTALLED, REVOKED}),
    INSTALLED: frozenset({ACCEPTED, REVOKED}),
    ACCEPTED: frozenset({LIVE, REVOKED}),
    LIVE: frozenset({REVOKED}),
    REVOKED: frozenset(),
}
INSPECTED = "inspected"
CANTEEN_STATES = (PLANNED, INSPECTED, LIVE)
CANTEEN_MOVES: dict[str, frozenset[str]] = {
    PLANNED: frozenset({INSPECTED}),
    INSPECTED: frozenset({PLANNED, LIVE}),
    LIVE: frozenset({PLANNED}),
}
# The labels pages and exports show (zh-CN is the source text; web.i18n has the English).
TERMINAL_ZH = {
    PLANNED: "计划",
    INSTALLED: "已安装",
    ACCEPTED: "已验收",
    LIVE: "已启用",
    REVOKED: "已停用",
}
CANTEEN_ZH = {PLANNED: "计划", INSPECTED: "已验收检查", LIVE: "已上线"}


def terminal_refusal(status: str) -> AuthError | None:
    """None when a terminal in ``status`` may take payments, else the error to answer."""
    if status == LIVE:
        return None
    if status == REVOKED:
        return TerminalRevoked()
    return TerminalNotLive(status=TERMINAL_ZH.get(status, status))


def check_terminal_move(before: str, after: str) -> None:
    if after not in TERMINAL_MOVES.get(before, frozenset()):
        raise IllegalTransition(
            frm=TERMINAL_ZH.get(before, before),
            to=TERMINAL_ZH.get(after, after),
            frm_en=before,
            to_en=after,
        )


def check_canteen_move(before: str, after: str) -> None:
    if after not in CANTEEN_MOVES.get(before, frozenset()):
        raise IllegalTransition(
            frm=CANTEEN_ZH.get(before, before),
            to=CANTEEN_ZH.get(after, after),
            frm_en=before,
            to_en=after,
        )
