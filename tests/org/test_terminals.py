"""The bureau registers and revokes terminals and moves canteens through rollout.

A registered terminal is ``installed``: it pays only once accepted and made live
(rollout/states.py); the whole machine is tested in tests/rollout."""

from __future__ import annotations

import pytest

from onecard.core.context import Context
from onecard.core.errors import (
    Forbidden,
    GoLiveRefused,
    StateConflict,
    TerminalNotLive,
    TerminalRevoked,
)
from onecard.org.actors import Actor
from onecard.org.terminals import (
    register_terminal,
    revoke_terminal,
    set_rollout_status,
    terminal_id_by_code,
)
from onecard.pay.service import authenticate_terminal
from onecard.rollout import service
from world import build_world

BUREAU = Actor.system("bureau")


def test_register_then_authenticate_then_revoke(ctx: Context) -> None:
    w = build_world(ctx)
    key = register_terminal(ctx, BUREAU, w.canteens["A"], "T-A2", "二号机")
    with pytest.raises(TerminalNotLive):  # installed, not yet accepted and live
        authenticate_terminal(ctx, "T-A2", key)
    tid = terminal_id_by_code(ctx, "T-A2")
    service.accept_terminal(ctx, BUREAU, tid)
    service.make_terminal_live(ctx, BUREAU, tid)
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


def test_live_needs_a_passed_inspection_and_a_live_terminal(ctx: Context) -> None:
    w = build_world(ctx)
    set_rollout_status(ctx, BUREAU, w.canteens["B"], "planned")  # suspended
    with pytest.raises(GoLiveRefused, match="尚无通过的验收检查"):
        set_rollout_status(ctx, BUREAU, w.canteens["B"], "live")
    set_rollout_status(ctx, BUREAU, w.canteens["A"], "live")  # already live: nothing to do
