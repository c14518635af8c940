"""Every time a person reads is the city's wall clock (issue 14 §3): an import at 05:24
Beijing time on 30 November is 21:24 UTC on the 29th, and the audit page, the run page
and ``local_text`` all say 2026-11-30 05:24 — never 11-29."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from onecard.audit.records import record
from onecard.core.clock import local_text, to_local, zone_label
from onecard.core.config import Settings, get_settings
from onecard.core.context import Context
from onecard.org.actors import Actor
from web.pages import Staff, TestClient, sign_in
from world import World

BUREAU = Actor.system("bureau")
EVENING_UTC = datetime(2026, 11, 29, 21, 24, 7)


def _runs_at_evening_utc(ctx: Context, w: World) -> None:
    ctx.clock.set(EVENING_UTC)  # type: ignore[attr-defined]
    with ctx.db.begin() as conn:
        record(conn, ctx, BUREAU, "distribute", "2026Q4", {"people": 3}, unit_id=w.units["A"])


def test_the_audit_and_run_pages_show_beijing_time(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _runs_at_evening_utc(ctx, w)
    sign_in(client, ctx, staff["fi"])
    audit = client.get("/bureau/audit?kind=money_run").text
    assert "2026-11-30 05:24" in audit and "2026-11-29 21:24" not in audit
    runs = client.get("/bureau/runs?quarter=2026Q4")
    assert runs.status_code == 200
    history = runs.text.split('id="run-history"')[1]
    assert "2026-11-30 05:24" in history and "11-29" not in history
    assert "拨付" in history  # the action as a word, not ``distribute``


def test_local_text_reads_every_stored_form_in_the_city_zone() -> None:
    assert local_text(EVENING_UTC) == "2026-11-30 05:24"
    assert local_text(EVENING_UTC.replace(tzinfo=UTC)) == "2026-11-30 05:24"
    assert local_text("2026-11-29T21:24:07") == "2026-11-30 05:24"  # naive ISO is UTC
    assert local_text("2026-11-29T21:24:07+00:00", "%H:%M:%S") == "05:24:07"
    assert local_text(date(2026, 11, 30)) == "2026-11-30"
    assert local_text(None) == "" and local_text("") == ""
    with pytest.raises(TypeError):
        local_text(42)


def test_the_zone_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONECARD_TIMEZONE", "Europe/London")
    get_settings.cache_clear()
    try:
        assert local_text(EVENING_UTC) == "2026-11-29 21:24"
        assert to_local(EVENING_UTC).hour == 21
        assert zone_label() == "Europe/London"
    finally:
        monkeypatch.delenv("ONECARD_TIMEZONE")
        get_settings.cache_clear()
    assert local_text(EVENING_UTC) == "2026-11-30 05:24"
    assert zone_label() == "北京时间"
    with pytest.raises(ValueError, match="ONECARD_TIMEZONE"):
        Settings(timezone="Mars/Olympus")


def test_instants_inside_audit_records_read_in_city_time() -> None:
    from onecard.audit.queries import describe

    text = describe({"retired_at": "2026-11-29T21:24:07", "expires_at": None, "rows": 12})
    assert "撤销时间：2026-11-30 05:24" in text and "21:24" not in text and "_at" not in text
