"""The civil affairs bureau's community canteen pages: supervision, a claim reviewed line
by line and approved, its Excel, in Chinese and in English; read-only for finance."""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import load_workbook

from onecard.core.context import Context
from onecard.ledger.verify import verify
from town import build_town, eat
from web.pages import Staff, TestClient, csrf_of, sign_in
from world import World


def _month(ctx: Context) -> None:
    t = build_town(ctx)
    eat(ctx, t, "wang", "bun", datetime(2026, 3, 2, 12))
    eat(ctx, t, "wang", "noodles", datetime(2026, 3, 2, 12, 20))  # twice in one lunch
    eat(ctx, t, "chen", "love", datetime(2026, 3, 3, 12), delivered=True)
    eat(ctx, t, "zhao", "noodles", datetime(2026, 3, 3, 12))
    ctx.clock.set(datetime(2026, 3, 10, 4))  # type: ignore[attr-defined]


def test_the_bureau_reviews_a_month_in_both_languages(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _month(ctx)
    token, _ = sign_in(client, ctx, staff["bu"])
    page = client.get("/bureau/community?month=2026-03")
    assert page.status_code == 200
    html = page.text
    assert "社区食堂" in html and "同一餐重复补贴" in html and "新南二社区食堂" in html
    # 1.50 + 0.50 + 2.00 = 4.00 of meal subsidies this month.
    assert 'id="cc-subsidy">4.00<' in html

    r = client.post(
        "/bureau/community/claims",
        data={"canteen_id": "1", "month": "2026-03", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    claim_url = r.headers["location"]
    html = client.get(claim_url).text
    # Three lines: 1.50, 0.50 and 2.00 + 3.00 delivery = 7.00; 赵 (no subsidy) is not in it.
    assert 'id="claim-total">7.00<' in html and "赵桂兰" not in html
    assert "2026-03-03 12:00" in html  # Beijing time
    first_line = html.split('id="line-')[1].split('"')[0]
    r = client.post(
        f"{claim_url}/lines/{first_line}",
        data={"decision": "reject", "reason": "", "csrf_token": csrf_of(html)},
    )
    assert r.status_code == 422 and "驳回须写明原因" in r.text
    r = client.post(
        f"{claim_url}/lines/{first_line}",
        data={"decision": "reject", "reason": "重复就餐", "csrf_token": csrf_of(html)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(f"{claim_url}/approve", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert "已审核通过" in html and "已驳回：重复就餐" in html

    book = load_workbook(io.BytesIO(client.get(f"{claim_url}.xlsx").content))
    ws = book.active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "时间" and len(rows) == 4
    assert [r[8] for r in rows[1:]] == [1.5, 0.5, 5.0]
    assert rows[1][9] == "已驳回" and rows[3][7] == 3.0

    en = client.get("/bureau/community?month=2026-03&lang=en").text
    assert "Community canteens" in en and "Subsidised twice in one meal" in en
    en = client.get(f"{claim_url}?lang=en").text
    assert "Subsidy claim" in en and "Rejected" in en
    with ctx.db.read() as conn:
        assert verify(conn).ok


def test_finance_reads_without_forms(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _month(ctx)
    token, _ = sign_in(client, ctx, staff["fi"])
    html = client.get("/bureau/community?month=2026-03").text
    assert "生成（或更新）月度申报" not in html
    r = client.post(
        "/bureau/community/claims",
        data={"canteen_id": "1", "month": "2026-03", "csrf_token": token},
    )
    assert r.status_code == 403
