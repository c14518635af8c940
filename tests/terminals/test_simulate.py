"""``onecard terminal simulate``: a till in its own process, against the app served on
127.0.0.1, loses its network for real (its next request fails to connect), keeps
selling, comes back and uploads — and the server has applied each sale once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.terminals.models import OfflineRecord
from terminals.offline_kit import ledger_ok
from web.browser import LiveServer
from world import build_world, fund, purse

ROOT = Path(__file__).resolve().parents[2]


def test_a_till_in_its_own_process_sells_offline_and_comes_back(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=3_000)
    fund(ctx, w, "b1", cash=3_000)
    server = LiveServer(ctx).start()
    try:
        start = (ctx.clock.now() + timedelta(minutes=1)).isoformat(timespec="seconds")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "onecard.cli",
                "terminal",
                "simulate",
                "--url",
                server.url,
                "--terminal",
                w.terminals["A"].code,
                "--key",
                w.keys["A"],
                "--credential",
                w.cards["a1"],
                "--credential",
                w.cards["b1"],
                "--credential",
                w.cards["c1"],  # holds nothing: no offline limit
                "--sales",
                "6",
                "--online-sales",
                "1",
                "--amount-fen",
                "700",
                "--at",
                start,
                "--batch",
                "2",
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200", "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["online"] == ["approved"]  # a1's first, online
    assert [o["result"] for o in out["offline"]] == ["approved", "approved", "refused"] * 2
    assert out["offline"][2]["code"] == "offline_over_limit:person_day"
    assert out["kept"] == 4 and out["left_unsent"] == 0
    assert [r["result"] for r in out["uploaded"]] == ["applied"] * 4
    assert [r["seq"] for r in out["uploaded"]] == [1, 2, 3, 4]
    # 700 online and twice 700 offline for a1, twice 700 offline for b1.
    assert purse(ctx, w, "a1") == (3_000 - 2_100, 0)
    assert purse(ctx, w, "b1") == (0, 3_000 - 1_400)
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(OfflineRecord)).scalar_one() == 4
    ledger_ok(ctx)
