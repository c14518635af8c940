"""The organisation pages in a real browser (Debian's chromium), at a phone's 390 px and
a desk's 1366 px, in Chinese: the bureau creates a unit and its canteen (a bad bank
account first), imports the city's information table, appoints a unit admin; the unit
admin keeps their unit's record. No console error, no 5xx, no page wider than the
screen; screenshots of every page go to tests/screenshots/org-*.png."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from openpyxl import Workbook

from onecard.core.context import Context
from onecard.org.info_table import CANTEEN_COLUMNS, UNIT_INFO_TEMPLATE
from org.orgtools import bad_card_number, card_number
from web.browser import CHROMIUM, LiveServer, Watch, fits, shot, sign_in
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

WIDTHS = {"390": {"width": 390, "height": 844}, "1366": {"width": 1366, "height": 900}}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def city_file(broken: bool) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "信息统计表"
    ws.append(list(UNIT_INFO_TEMPLATE))
    units = [
        {"单位名称": "市交通局", "单位代码": "U201", "食堂数量": 1, "午餐标准(元)": "12"},
        {"单位名称": "市林业局", "单位代码": "" if broken else "U202", "食堂数量": 0},
    ]
    for u in units:
        ws.append([u.get(c, "") for c in UNIT_INFO_TEMPLATE])
    cs = wb.create_sheet("食堂")
    cs.append(list(CANTEEN_COLUMNS))
    canteen = {
        "食堂编码": "C201",
        "食堂名称": "交通局食堂",
        "所属单位": "U201",
        "经营方式": "委托经营",
        "经营者": "郴州路通餐饮",
        "经营者结算账户": bad_card_number("621700004040000")
        if broken
        else card_number("621700004040000"),
        "窗口数": 4,
    }
    cs.append([canteen.get(c, "") for c in CANTEEN_COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_the_bureau_builds_the_city_from_the_pages(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
) -> None:
    watch = Watch(expect_statuses={409, 422})
    bctx = browser.new_context(viewport=WIDTHS["1366"], locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.on("dialog", lambda d: d.accept())
    sign_in(page, live.url, "Sbu", totp=True)

    page.goto(f"{live.url}/bureau")
    page.click("nav.tabs a[href='/bureau/org']")
    page.wait_for_selector("#org-units")
    page.click("#new-unit summary")
    page.fill("#new-unit input[name=code]", "U101")
    page.fill("#new-unit input[name=name]", "市教育局")
    page.fill("#new-unit input[name=contact]", "周敏")
    page.click("#new-unit button[type=submit]")
    page.wait_for_selector("#org-saved")
    assert "市教育局" in page.inner_text("h1")
    unit_url = page.url.split("?")[0]

    page.click("#new-canteen summary")
    page.fill("#new-canteen input[name=code]", "C101")
    page.fill("#new-canteen input[name=name]", "教育局机关食堂")
    page.select_option("#new-canteen select[name=operation]", "outsourced")
    page.fill("#new-canteen input[name=operator_name]", "郴州好味餐饮有限公司")
    page.fill("#new-canteen input[name=operator_bank_account]", bad_card_number("621700001111000"))
    page.click("#new-canteen button[type=submit]")
    err = page.wait_for_selector("#org-error")
    assert "校验位" in err.inner_text()
    shot(page, "org-canteen-refused-1366")
    page.fill("#new-canteen input[name=operator_bank_account]", card_number("621700001111000"))
    page.click("#new-canteen button[type=submit]")
    page.wait_for_selector("#canteen-form")
    canteen_url = page.url.split("?")[0]
    page.fill("#canteen-form input[name=windows]", "4")
    page.fill("#canteen-form input[name=contract_starts]", "2026-01-01")
    page.click("#canteen-form button[type=submit]")
    page.wait_for_selector("#org-saved")

    page.goto(f"{live.url}/bureau/org/import")
    page.set_input_files(
        "input[type=file]", {"name": "全市.xlsx", "mimeType": XLSX, "buffer": city_file(True)}
    )
    page.click("#upload-form button[type=submit]")
    errors = page.wait_for_selector("#import-errors")
    assert "食堂" in errors.inner_text() and "经营者结算账户" in errors.inner_text()
    shot(page, "org-import-errors-1366")
    page.set_input_files(
        "input[type=file]", {"name": "全市.xlsx", "mimeType": XLSX, "buffer": city_file(False)}
    )
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#import-result[data-dry-run='1']")
    assert "交通局食堂" in page.inner_text("#import-result")
    shot(page, "org-import-preview-1366")
    page.click("#confirm-import button[type=submit]")
    page.wait_for_selector("#import-done")

    page.goto(f"{live.url}/bureau/org/admins")
    page.fill("#appoint-form input[name=staff_no]", "UA101")
    page.select_option("#appoint-form select[name=role]", "unit_admin")
    page.select_option("#appoint-form select[name=unit_id]", label="U101 市教育局")
    page.fill("#appoint-form input[name=name]", "钱进")
    page.click("#appoint-form button[type=submit]")
    page.wait_for_selector("#org-saved")
    assert "钱进" in page.inner_text("#org-admins")

    pages = {
        "units": f"{live.url}/bureau/org",
        "unit": unit_url,
        "canteen": canteen_url,
        "admins": f"{live.url}/bureau/org/admins",
        "import": f"{live.url}/bureau/org/import",
    }
    for width, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        for name, url in pages.items():
            page.goto(url)
            fits(page)
            shot(page, f"org-{name}-{width}")
    page.goto(f"{unit_url}?lang=en")
    assert "Organisation" in page.inner_text("nav.tabs")
    shot(page, "org-unit-en-1366")
    page.goto(f"{unit_url}?lang=zh-CN")
    watch.check()
    bctx.close()


def test_a_unit_admin_keeps_their_units_record_on_a_phone(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
) -> None:
    watch = Watch(expect_statuses={403})
    bctx = browser.new_context(viewport=WIDTHS["390"], locale="zh-CN")
    page = watch.attach(bctx.new_page())
    sign_in(page, live.url, "Sua")
    a = w.units["A"]
    page.click(f"a[href='/unit/{a}/org']")
    page.wait_for_selector("#unit-form")
    assert page.is_disabled("#unit-form input[name=bank_account]")
    page.fill("#unit-form input[name=contact]", "李明")
    page.click("#unit-form button[type=submit]")
    page.wait_for_selector("#org-saved")
    fits(page)
    shot(page, "org-own-unit-390")
    page.click(f"#org-canteens a[href='/unit/{a}/org/canteens/{w.canteens['A']}']")
    page.wait_for_selector("#canteen-form")
    assert page.is_disabled("#canteen-form input[name=operator_bank_account]")
    fits(page)
    shot(page, "org-own-canteen-390")
    resp = page.goto(f"{live.url}/unit/{w.units['B']}/org")
    assert resp is not None and resp.status == 403
    assert re.search("无权访问", page.inner_text("main"))
    watch.check()
    bctx.close()
