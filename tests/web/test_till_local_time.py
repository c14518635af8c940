"""The till writes every time through core.clock.local_text (issue 14 §6's leftover): a
payment at 08:10 Beijing time (00:10 UTC) reads 08:10 on the till, its list and the
shift report — never 00:10 — and no till module or template formats a time itself."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from web.pages import Staff, TestClient, sign_in
from world import World

SRC = Path(__file__).resolve().parents[2] / "src" / "onecard"
TILL_FILES = [
    SRC / "web" / "till.py",
    SRC / "pay" / "till_queries.py",
    *sorted((SRC / "web" / "templates" / "till").glob("*.html")),
]


def test_the_till_shows_beijing_time(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 3, 10, 8, 10, 5)))  # 00:10:05 UTC
    token, _ = sign_in(client, ctx, staff["cm"])
    paid = client.post(
        "/till/pay",
        data={
            "csrf_token": token,
            "canteen_id": str(w.canteens["A"]),
            "credential": w.cards["a1"],
            "mode": "meal",
            "meal": "breakfast",
        },
        headers={"HX-Request": "true"},
    ).text
    assert 'data-result="approved"' in paid
    till = client.get("/till").text
    assert '<span class="when">08:10:05</span>' in till and "00:10:05" not in till
    assert "07:00–09:00" in till  # the meal windows, wall-clock
    assert "2026-03-10 · T-A1" in till
    report = client.get("/till/report").text
    assert "08:10:05" in report and "00:10" not in report
    assert "打印时间 2026-03-10 08:10" in report


def test_no_till_module_formats_a_time_itself() -> None:
    for path in TILL_FILES:
        text = path.read_text(encoding="utf-8")
        # No strftime, no f-string time format ("{p.starts:%H:%M}"); local("%H:%M") is fine.
        assert not re.search(r'strftime|\{[^}"]*:%[HMYmd]', text), path.name
