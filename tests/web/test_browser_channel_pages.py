"""The new channels' pages in a real browser, on a phone (390 px) and a desktop
(1366 px), in Chinese: the till takes an e-CNY code by amount; a unit admin sees a
person's face section (notice, paper consent, photo); the bureau runs the day's e-CNY
reconciliation and reads the offline uploads and debts. Each page: no untranslated word, no sideways scroll, no UTC time, no
console error. Screenshots go to tests/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.context import Context
from terminals.offline_kit import app_client
from web.browser import CHROMIUM, DESKTOP, PHONE, LiveServer, Watch, shot, sign_in
from web.conftest import Seed
from web.page_checks import VISIBLE_TEXT_JS, foreign_words, sticking_out, utc_marks
from web.test_offline_pages import a_day_offline
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]
WALLET = "W-browser"


def _sandbox(ctx: Context, w: World) -> None:
    s = SandboxEcny(b"test-secret", ctx.clock)
    s.open_wallet(WALLET, "钱七", 10_000)
    ctx.ecny = s
    with app_client(ctx) as client:
        a_day_offline(ctx, w, client)


@pytest.fixture
def seed() -> Seed:
    return _sandbox


def _checked(page: Any, problems: list[str]) -> None:
    text = page.evaluate(VISIBLE_TEXT_JS)
    problems += [f"{page.url}: word {x}" for x in foreign_words(text)]
    problems += [f"{page.url}: utc {x}" for x in utc_marks(text)]
    problems += [f"{page.url}: {x}" for x in sticking_out(page)]


def test_till_e_cny_unit_face_and_bureau_e_cny_pages(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    sbx = ctx.ecny
    assert isinstance(sbx, SandboxEcny)
    watch = Watch()
    problems: list[str] = []
    bureau: Any = None
    for size, viewport in (("1366", DESKTOP), ("390", PHONE)):
        bctx = browser.new_context(viewport=viewport, locale="zh-CN")
        page = watch.attach(bctx.new_page())
        sign_in(page, live.url, "Scm")
        page.goto(f"{live.url}/till")
        page.fill("#amount", "3.50")
        page.fill("#credential", sbx.pay_code(WALLET))
        page.press("#credential", "Enter")
        verdict = page.locator("#till-verdict[data-channel=ecny]")
        verdict.wait_for()
        assert verdict.get_attribute("data-result") == "approved"
        assert "数字人民币" in verdict.inner_text() and "3.50" in verdict.inner_text()
        _checked(page, problems)
        shot(page, f"channel-till-ecny-{size}")
        bctx.close()

        bctx = browser.new_context(viewport=viewport, locale="zh-CN")
        page = watch.attach(bctx.new_page())
        sign_in(page, live.url, "Sua")
        page.goto(f"{live.url}/unit/{w.units['A']}/people/{w.people['a1']}")
        face = page.locator("#person-face")
        assert "纸质告知书" in face.inner_text() and page.locator("#face-form").is_visible()
        _checked(page, problems)
        shot(page, f"channel-unit-face-{size}")
        bctx.close()

        # A TOTP code is good once: the bureau signs in once and the phone reuses it.
        bctx = browser.new_context(viewport=viewport, locale="zh-CN", storage_state=bureau)
        page = watch.attach(bctx.new_page())
        if bureau is None:
            sign_in(page, live.url, "Sbu", totp=True)
            bureau = bctx.storage_state()
        page.goto(f"{live.url}/bureau/ecny")
        page.click("#ecny-recon-form button[value=html]")
        page.locator("#ecny-recon").wait_for()
        assert page.locator("#ecny-problems").inner_text() == "0"
        assert page.locator("#ecny-order-table tr[data-status=succeeded]").count() >= 1
        _checked(page, problems)
        shot(page, f"channel-bureau-ecny-{size}")
        page.click("nav.tabs a[href='/bureau/offline']")
        page.locator("#offline-debts").wait_for()
        assert "待补传" in page.locator("#offline-gaps").inner_text()
        assert page.locator("#offline-debt-total").inner_text() == "10.00"
        page.select_option("#offline-status-form select", "refused")
        page.click("#offline-status-form button")
        page.locator("#offline-records tr[data-status=refused]").wait_for()
        assert page.locator("#offline-records tr[data-status=applied]").count() == 0
        _checked(page, problems)
        shot(page, f"channel-bureau-offline-{size}")
        bctx.close()
    assert not problems, "\n".join(problems)
    watch.check()
