"""``onecard menus close-day`` and ``counts`` as a process sees them: the night's run
charges a no-show once, a second run changes nothing, a day not yet over exits with the
state-conflict code."""

from __future__ import annotations

import sys
from datetime import date, datetime, time

import pytest

from onecard import cli, cli_kit
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.menus import service as menus
from onecard.org.actors import Actor
from world import World, purse


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["onecard", *args])
    try:
        cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_close_day_from_the_command_line(
    ctx: Context, w: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_kit, "context_factory", lambda _url: ctx)
    monkeypatch.setenv("COLUMNS", "200")
    menus.set_rule(ctx, Actor.system("t"), w.canteens["A"], time(18), "charge")
    a2 = Actor("a2", person_id=w.people["a2"], unit_id=w.units["A"])
    spec = menus.PreorderSpec(
        w.canteens["A"], date(2026, 3, 11), "lunch", (("D1", 1),), "prepaid", "cli-1"
    )
    menus.place(ctx, a2, spec)
    assert run_main(monkeypatch, "menus", "counts", "C001", "2026-03-11") == 0
    assert "红烧肉" in capsys.readouterr().out
    assert run_main(monkeypatch, "menus", "close-day", "2026-03-11") == 5  # state conflict
    capsys.readouterr()
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 3, 12, 2, 15)))
    assert run_main(monkeypatch, "menus", "close-day") == 0
    assert "扣款 1 单 12.00 元" in capsys.readouterr().out
    assert purse(ctx, w, "a2") == (3800, 5000)
    assert run_main(monkeypatch, "menus", "close-day", "2026-03-11") == 0
    assert "结算 0 单" in capsys.readouterr().out
    assert purse(ctx, w, "a2") == (3800, 5000)
