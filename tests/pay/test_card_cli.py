"""The card desk and terminal commands, run as an operator would type them.

Each command goes through ``onecard.cli.main`` (the real entry point, exit codes and
all) against the test database.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from onecard.cli import main
from onecard.core.context import Context
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, fund, purse


def run(ctx: Context, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    url = ctx.db.engine.url.render_as_string(hide_password=False)
    argv = ["onecard", *args, "--database-url", url]
    old, sys.argv = sys.argv, argv
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out + out.err


def lunch(ctx: Context, w: World, txn: str, card: str) -> dict[str, object]:
    return dict(
        json.loads(pay(ctx, w.terminals["A"], PaymentRequest(txn, card, amount_fen=300)).body)
    )


def test_lost_unfreeze_replace_issue_from_the_command_line(
    ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000)
    card = w.cards["a1"]
    assert run(ctx, capsys, "card", "lost", card) == (0, f"已挂失 卡号 {card}\n")
    assert lunch(ctx, w, "t1", card)["code"] == "card_lost"
    assert run(ctx, capsys, "card", "unfreeze", card)[0] == 0
    assert lunch(ctx, w, "t2", card)["result"] == "approved"
    code, out = run(ctx, capsys, "card", "replace", card)
    assert code == 0
    new = re.search(r"新卡号 (\d{16})", out)
    assert new, out
    assert lunch(ctx, w, "t3", new.group(1))["result"] == "approved"
    assert purse(ctx, w, "a1") == (400, 0)
    # Bad input: a clear message and the exit code of its class; nothing changes.
    code, out = run(ctx, capsys, "card", "lost", "4310000000000000")
    assert code == 3 and "未找到" in out
    code, out = run(ctx, capsys, "card", "issue", "Sa1")
    assert code == 5 and "已有在用卡" in out
    code, out = run(ctx, capsys, "card", "issue", "no-such-staff")
    assert code == 3 and "工号 no-such-staff" in out
    assert purse(ctx, w, "a1") == (400, 0)


def test_register_and_revoke_a_terminal(ctx: Context, capsys: pytest.CaptureFixture[str]) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1000)
    code, out = run(ctx, capsys, "terminal", "register", "C001", "T-NEW", "--name", "二号窗口")
    assert code == 0, out
    key = re.search(r"device key \(只显示这一次\): (\S+)", out)
    assert key, out
    from onecard.pay.service import authenticate_terminal

    # Registered = installed: it pays once accepted and made live (onecard rollout …).
    assert run(ctx, capsys, "rollout", "live", "T-NEW")[0] == 5  # not accepted yet
    assert run(ctx, capsys, "rollout", "accept", "T-NEW")[0] == 0
    assert run(ctx, capsys, "rollout", "live", "T-NEW")[0] == 0
    assert authenticate_terminal(ctx, "T-NEW", key.group(1)).canteen_id == w.canteens["A"]
    assert run(ctx, capsys, "terminal", "register", "C001", "T-NEW")[0] == 5
    assert run(ctx, capsys, "terminal", "register", "NOPE", "T-X")[0] == 3
    assert run(ctx, capsys, "terminal", "revoke", "T-NEW")[0] == 0
    from onecard.core.errors import OneCardError

    with pytest.raises(OneCardError):
        authenticate_terminal(ctx, "T-NEW", key.group(1))
    assert run(ctx, capsys, "terminal", "rollout", "C001", "bogus")[0] == 2
    assert run(ctx, capsys, "terminal", "rollout", "C001", "live")[0] == 0
