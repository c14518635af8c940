"""The reconciliation page in a real browser (Debian's chromium), zh-CN, on a phone
(390 px) and a desktop (1366 px): a statement uploaded, its lines reconciled, an
unclaimed receipt assigned to a unit's notice. Screenshots go to tests/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
import pytest

from onecard.core.context import Context
from web.browser import CHROMIUM, LiveServer, Watch, shot
from web.pages import BUREAU_TOTP, PASSWORD
from web.test_reconciliation_page import _paid_in
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _bureau_page(chromium: Any, base: str, width: int, height: int, watch: Watch) -> Any:
    bctx = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.goto(f"{base}/login")
    page.fill("input[name=staff_no]", "Sbu")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/login/totp$"))
    page.fill("input[name=code]", pyotp.TOTP(BUREAU_TOTP).now())
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    return page


@pytest.mark.parametrize(
    ("label", "width", "height"), [("phone", 390, 844), ("desktop", 1366, 900)]
)
def test_a_statement_upload_and_an_assignment_in_the_browser(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
    label: str,
    width: int,
    height: int,
) -> None:
    bank = _paid_in(ctx)
    watch = Watch()
    page = _bureau_page(browser, live.url, width, height, watch)
    page.goto(f"{live.url}/bureau/reconciliation")
    shot(page, f"reconciliation-{label}-empty")
    statement = bank.statement_xlsx(bank.statement(bank.clock.today())[0].day)
    page.set_input_files(
        "#statement-upload input[name=file]",
        files=[{"name": "建行对账单.xlsx", "mimeType": XLSX, "buffer": statement}],
    )
    page.click("#statement-upload button[type=submit]")
    page.wait_for_selector(".recon-day")
    text = page.inner_text("main")
    assert "已读入" in text and "未认领来款 1" in text
    # Nothing wider than the screen but the tables' own scrolling boxes.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the {width}px screen"
    shot(page, f"reconciliation-{label}-uploaded")
    notice = page.eval_on_selector(
        "form.assign select",
        "s => [...s.options].find(o => o.text.startsWith('JF-U003-2026Q1 ')).value",
    )
    page.select_option("form.assign select", notice)
    page.click("form.assign button[type=submit]")
    page.wait_for_selector("p.ok")
    assert "已认领：市档案馆 JF-U003-2026Q1" in page.inner_text("p.ok")
    assert "未认领来款 0" in page.inner_text(".recon-day")
    shot(page, f"reconciliation-{label}-assigned")
    watch.check()
    page.context.close()


@pytest.mark.parametrize(
    ("label", "width", "height"), [("phone", 390, 844), ("desktop", 1366, 900)]
)
def test_the_file_exchange_in_the_browser(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
    label: str,
    width: int,
    height: int,
) -> None:
    from onecard.channels.files import FileExchangeBank
    from onecard.funding import notices, reconciliation
    from onecard.org.actors import Actor

    online = _paid_in(ctx)
    day = online.statement(online.clock.today())[0].day
    ctx.bank = FileExchangeBank(ctx.db, ctx.clock)
    bureau = Actor.system("bureau")
    reconciliation.import_statement(ctx, bureau, online.statement_file(day), "s.csv")
    notices.transfer_to_income(ctx, bureau)
    watch = Watch()
    page = _bureau_page(browser, live.url, width, height, watch)
    page.goto(f"{live.url}/bureau/reconciliation")
    assert "待发送 1 笔" in page.inner_text("#bank-files")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the {width}px screen"
    shot(page, f"reconciliation-{label}-files-waiting")
    with page.expect_download() as got:
        page.click("form[data-kind=transfers] button[value=xlsx]")
    batch = got.value
    assert batch.suggested_filename.startswith("批量转账-") and batch.suggested_filename.endswith(
        ".xlsx"
    )
    returns = online.process_batch_file(Path(batch.path()).read_bytes(), "b.xlsx", "xlsx")
    page.goto(f"{live.url}/bureau/reconciliation")
    page.set_input_files(
        "#returns-upload input[name=file]",
        files=[{"name": "处理结果.xlsx", "mimeType": XLSX, "buffer": returns}],
    )
    page.click("#returns-upload button[type=submit]")
    page.wait_for_selector("#returns-result")
    assert "成功" in page.inner_text("#returns-result")
    shot(page, f"reconciliation-{label}-files-returns")
    watch.check()
    page.context.close()
