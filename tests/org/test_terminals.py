"""The bureau registers and revokes terminals and moves canteens through rollout."""

from __future__ import annotations

import pytest

from onecard.core.context import Context
from onecard.core.errors import Forbidden, StateConflict, TerminalRevoked
from onecard.org.actors import Actor
from onecard.org.terminals import register_terminal, revoke_terminal, set_rollout_status
from onecard.pay.service import authenticate_terminal
from world import build_world

BUREAU = Actor.system("bureau")


def test_register_then_authenticate_then_revoke(ctx: Context) -> None:
    w = build_world(ctx)
    key = register_terminal(ctx, BUREAU, w.canteens["A"], "T-A2", "二号机")
    assert authenticate_terminal(ctx, "T-A2", key).canteen_id == w.canteens["A"]
    revoke_terminal(ctx, BUREAU, "T-A2")
    with pytest.raises(TerminalRevoked):
        authenticate_terminal(ctx, "T-A2", key)


def test_duplicate_code_refused_and_units_cannot_register(ctx: Context) -> None:
    w = build_world(ctx)
    with pytest.raises(StateConflict):
        register_terminal(ctx, BUREAU, w.canteens["A"], "T-A1")
    unit_admin = Actor("u", grants=frozenset({("unit_admin", w.units["A"], None)}))
    with pytest.raises(Forbidden):
        register_terminal(ctx, unit_admin, w.canteens["A"], "T-A9")


def test_live_needs_an_active_terminal(ctx: Context) -> None:
    w = build_world(ctx)
    revoke_terminal(ctx, BUREAU, "T-B1")
    with pytest.raises(StateConflict):
        set_rollout_status(ctx, BUREAU, w.canteens["B"], "live")
    set_rollout_status(ctx, BUREAU, w.canteens["A"], "live")
