"""The bureau's audit page: filters by person, unit, kind and date, Beijing time, and the
same rows as Excel (text as text). Finance and auditors read it; a unit admin gets 403."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from onecard.core.context import Context
from sheetcheck import assert_no_live_formula
from web.pages import Staff, TestClient, sign_in
from world import World


def _actions(client: TestClient, ctx: Context, w: World, staff: Staff) -> None:
    """Unit A's admin reports a1's card lost (12:00 Beijing time); unit B's admin, a day
    later, reports b1's card lost."""
    sign_in(client, ctx, staff["ua"])
    assert client.post(f"/api/v1/admin/cards/{w.cards['a1']}/lost").status_code == 200
    ctx.clock.advance(days=1)  # type: ignore[attr-defined]
    client.cookies.clear()
    sign_in(client, ctx, staff["ub"])
    assert client.post(f"/api/v1/admin/cards/{w.cards['b1']}/lost").status_code == 200
    client.cookies.clear()


def _seqs(html: str) -> list[str]:
    import re

    return re.findall(r'data-seq="(\d+)"', html)


def test_the_audit_page_filters_and_shows_beijing_time(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _actions(client, ctx, w, staff)
    sign_in(client, ctx, staff["fi"])  # finance reads
    page = client.get("/bureau/audit")
    assert page.status_code == 200
    # Sign-ins are recorded too; the two card actions are the ones under test.
    second, first = _seqs(client.get("/bureau/audit?kind=card").text)
    seqs = _seqs(page.text)
    assert seqs == sorted(seqs, key=int, reverse=True)  # newest first
    assert first in seqs and second in seqs
    assert "2026-03-10 12:00:00" in page.text and "2026-03-11 12:00:00" in page.text
    assert "testclient" in page.text and "挂失" in page.text

    def cards(query: str) -> list[str]:
        return _seqs(client.get(f"/bureau/audit?kind=card&{query}").text)

    assert cards("person=Sa1") == [first]  # the card's holder
    assert cards("person=职员ub") == [second]  # who did it
    assert cards("unit=U002") == [second]
    assert _seqs(client.get("/bureau/audit?kind=roster").text) == []
    assert cards("since=2026-03-11") == [second]
    assert cards("until=2026-03-10") == [first]
    bad = client.get("/bureau/audit?since=2026-13-01")
    assert bad.status_code == 422 and "日期格式" in bad.text
    assert client.get("/bureau/audit?kind=nonsense").status_code == 422


def test_the_day_boundary_is_beijing_midnight(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """07:30 Beijing time on 11 March is still 10 March in UTC: it belongs to the 11th."""
    ctx.clock.advance(hours=19, minutes=30)  # type: ignore[attr-defined]
    sign_in(client, ctx, staff["ua"])
    client.post(f"/api/v1/admin/cards/{w.cards['a1']}/lost")
    client.cookies.clear()
    sign_in(client, ctx, staff["bu"])
    assert ctx.clock.now().date().isoformat() == "2026-03-10"  # UTC
    [lost] = _seqs(client.get("/bureau/audit?kind=card").text)
    assert _seqs(client.get("/bureau/audit?kind=card&since=2026-03-11&until=2026-03-11").text) == [
        lost
    ]
    assert _seqs(client.get("/bureau/audit?kind=card&until=2026-03-10").text) == []


def test_the_export_has_the_filtered_rows_in_beijing_time_as_text(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _actions(client, ctx, w, staff)
    sign_in(client, ctx, staff["bu"])
    page = client.get("/bureau/audit?unit=U001&kind=card")
    assert 'href="/bureau/audit.xlsx?unit=U001&amp;kind=card"' in page.text
    r = client.get("/bureau/audit.xlsx?unit=U001&kind=card")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert_no_live_formula(r.content)
    ws = load_workbook(io.BytesIO(r.content)).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:2] == ("序号", "时间（北京时间）")
    assert len(rows) == 2 and rows[1][1] == "2026-03-10 12:00:00"
    assert rows[1][9] == "状态：正常" and rows[1][10] == "状态：已挂失"


def test_only_the_bureau_finance_and_auditors_open_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["ua"])
    assert client.get("/bureau/audit").status_code == 403
    assert client.get("/bureau/audit.xlsx").status_code == 403
