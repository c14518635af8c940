"""The bureau's dashboard at any city size: headline figures against last quarter, the
matrix's top N with "others" and a search, empty charts, the quarterly report PDF, and
the bureau's lists a page at a time."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from onecard.core.context import Context
from onecard.funding.statements import page_label
from web.pages import Staff, TestClient, sign_in
from web.test_statement_pdf import pdf_pages
from world import World, fund


def _lunch(client: TestClient, token: str, w: World, canteen: str, who: str) -> None:
    r = client.post(
        "/till/pay",
        data={
            "csrf_token": token,
            "canteen_id": str(w.canteens[canteen]),
            "credential": w.cards[who],
            "mode": "meal",
            "meal": "lunch",
        },
    )
    assert r.status_code == 200


def test_headline_matrix_search_and_report(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    for who in ("a1", "b1", "c1"):
        fund(ctx, w, who, subsidy=60000)
    token, _ = sign_in(client, ctx, "Scm")  # the manager of canteen A's till
    _lunch(client, token, w, "A", "b1")
    _lunch(client, token, w, "A", "c1")
    bureau = TestClient(client.app)
    sign_in(bureau, ctx, "Sbu")
    page = bureau.get("/bureau/dashboard?quarter=2026Q1")
    assert page.status_code == 200
    meals = re.search(r'data-key="meals">.*?class="amt">([^<]+)<', page.text, re.S)
    assert meals is not None and meals.group(1).strip() == "2"
    assert "暂无数据" in page.text and 'id="quarter-select"' in page.text

    top1 = bureau.get("/bureau/dashboard/matrix.json?quarter=2026Q1&top=1").json()
    assert len({r[0] for r in top1["rows"] if r[0] != "其他单位"}) == 1
    assert sum(r[2] for r in top1["rows"]) == 2  # the other unit is summed as "其他单位"
    assert any(r[0] == "其他单位" for r in top1["rows"])
    found = bureau.get("/bureau/dashboard/matrix.json?quarter=2026Q1&search=医院").json()
    assert found["rows"] and all("医院" in r[0] for r in found["rows"])
    nothing = bureau.get("/bureau/dashboard/matrix.json?quarter=2026Q1&search=不存在").json()
    assert nothing["rows"] == []

    pdf = bureau.get("/bureau/dashboard/report.pdf?quarter=2026Q1")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    pages = pdf_pages(pdf.content)
    assert len(pages) == 1  # one page for the director
    assert "就餐笔数" in pages[0] and page_label(1, 1) in pages[0] and "局领导" in pages[0]


def test_bureau_lists_are_paged_and_searchable(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, "Sbu")
    page = client.get("/bureau/terminals?q=T-A")
    assert page.status_code == 200
    codes = re.findall(r"<tr><td>(T-[A-Z0-9-]+)</td>", page.text)
    assert codes and all(c.startswith("T-A") for c in codes)
    assert client.get("/bureau?q=不存在的食堂").text.count("/bureau/canteens/") == 0
    assert client.get("/bureau/terminals?page=0").status_code == 422


def test_the_organisation_s_units_come_a_hundred_a_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from onecard.org import builders as b

    with ctx.db.begin() as conn:
        for i in range(120):
            b.create_unit(conn, w.region, f"X{i:03d}", f"测试单位{i:03d}")
    sign_in(client, ctx, "Sbu")
    first = client.get("/bureau/org")
    assert first.status_code == 200 and 'id="org-units-pages"' in first.text
    assert first.text.count("/bureau/org/units/") == 100
    second = client.get("/bureau/org?page=2")
    assert second.text.count("/bureau/org/units/") == 123 - 100  # the world's 3 + 120
    found = client.get("/bureau/org?q=测试单位11")  # 110–119: one page, no pager
    assert found.text.count("/bureau/org/units/") == 10
    assert 'id="org-units-pages"' not in found.text


def test_an_english_dashboard_has_english_titles_headers_and_labels(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    for who in ("b1", "c1"):
        fund(ctx, w, who, subsidy=60000)
    token, _ = sign_in(client, ctx, "Scm")
    _lunch(client, token, w, "A", "b1")
    _lunch(client, token, w, "A", "c1")
    bureau = TestClient(client.app)
    sign_in(bureau, ctx, "Sbu")
    for key in ("daily", "rush", "matrix", "revenue", "ratings"):
        zh = bureau.get(f"/bureau/dashboard/{key}.json?quarter=2026Q1").json()
        en = bureau.get(f"/bureau/dashboard/{key}.json?quarter=2026Q1&lang=en").json()
        assert re.search("[\u4e00-\u9fff]", zh["title"]), key  # the source stays Chinese
        for text in (en["title"], *en["headers"]):
            assert text and not re.search("[\u4e00-\u9fff]", text), (key, text)
        assert len(en["headers"]) == len(zh["headers"]) and en["rows"] == [
            [
                en_cell if isinstance(zh_cell, str) and zh_cell.startswith("其他") else zh_cell
                for zh_cell, en_cell in zip(zh_row, en_row, strict=True)
            ]
            for zh_row, en_row in zip(zh["rows"], en["rows"], strict=True)
        ], key
    rush = bureau.get("/bureau/dashboard/rush.json?quarter=2026Q1&lang=en").json()
    assert rush["title"].endswith(" 2026-03-10")  # the day follows the English title
    top1 = bureau.get("/bureau/dashboard/matrix.json?quarter=2026Q1&top=1&lang=en").json()
    assert "Other units" in {r[0] for r in top1["rows"]}
    xlsx = bureau.get("/bureau/dashboard/revenue.xlsx?quarter=2026Q1&lang=en")
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert next(c.value for c in sheet[1]) == "Canteen"
