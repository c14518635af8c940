"""The bureau's offline page: uploads per terminal and day, each record with its status
and reason in words, the gap a terminal waits on, and the city's offline debts."""

from __future__ import annotations

import copy
import io

from openpyxl import load_workbook

from onecard.core.context import Context
from onecard.pay.service import PaymentRequest, pay
from terminals.offline_kit import signed, till, upload_raw
from web.pages import Staff, TestClient, sign_in
from world import World


def a_day_offline(ctx: Context, w: World, client: TestClient) -> None:
    """Terminal A sells four records offline while a1 spends online at B: the first is
    applied with a debt, the second refused over the limit, the first sent again, the
    fourth deferred behind the missing third."""
    sim = till(ctx, w, client)
    sim.cut()
    for amount in (2_000, 200, 200, 200):
        assert sim.sell(w.cards["a1"], amount_fen=amount).result == "approved"
    one, two, _three, four = sim.queue
    assert pay(
        ctx, w.terminals["B"], PaymentRequest("b-1", w.cards["a1"], amount_fen=60_000)
    ).approved
    over = {**two["record"], "amount_fen": 50_000}
    answers = upload_raw(client, w, [one, signed(sim.key, over)])
    assert [a["result"] for a in answers] == ["applied", "refused"]
    assert answers[0]["debt_fen"] == 1_000
    assert [a["result"] for a in upload_raw(client, w, [copy.deepcopy(one)])] == ["duplicate"]
    assert [a["result"] for a in upload_raw(client, w, [four])] == ["deferred"]


def test_the_bureau_sees_uploads_gaps_and_debts(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    a_day_offline(ctx, w, client)
    code = w.terminals["A"].code
    sign_in(client, ctx, "Sbu")
    page = client.get("/bureau/offline")
    assert page.status_code == 200, page.text
    text = page.text
    days = text[text.index('id="offline-days"') : text.index('id="offline-gaps"')]
    assert code in days and "20.00" in days  # one applied, 20 yuan
    gaps = text[text.index('id="offline-gaps"') : text.index('id="offline-records"')]
    assert "待补传" in gaps and "3–3" in gaps
    records = text[text.index('id="offline-records"') : text.index('id="offline-debts"')]
    assert 'data-status="applied"' in records and 'data-status="refused"' in records
    assert "超出离线限额" in records and "offline_over_limit" not in records
    assert "重复上传 ×1" in records
    debts = text[text.index('id="offline-debts"') :]
    assert "Sa1" in debts and 'id="offline-debt-total">10.00<' in debts
    refused = client.get("/bureau/offline", params={"status": "refused"}).text
    listed = refused[refused.index('id="offline-records"') : refused.index('id="offline-debts"')]
    assert 'data-status="refused"' in listed and 'data-status="applied"' not in listed
    dup = client.get("/bureau/offline", params={"status": "duplicate"}).text
    listed = dup[dup.index('id="offline-records"') : dup.index('id="offline-debts"')]
    assert 'data-status="applied"' in listed and 'data-status="refused"' not in listed
    assert client.get("/bureau/offline", params={"status": "nonsense"}).status_code == 422
    sheet = client.get("/bureau/offline/debts.xlsx")
    assert sheet.status_code == 200
    ws = load_workbook(io.BytesIO(sheet.content)).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "姓名" and len(rows) == 2
    assert rows[1][1] == "Sa1" and rows[1][3:6] == (10.0, 0, 10.0)


def test_the_page_in_english(ctx: Context, w: World, staff: Staff, client: TestClient) -> None:
    a_day_offline(ctx, w, client)
    sign_in(client, ctx, "Sbu")
    text = client.get("/bureau/offline?lang=en").text
    assert "Offline payments" in text and "Beyond the offline limit" in text
    assert "Awaiting resend" in text and "超出离线限额" not in text


def test_a_unit_admin_may_not_see_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["ua"])
    assert client.get("/bureau/offline").status_code == 403
    assert client.get("/bureau/offline/debts.xlsx").status_code == 403
