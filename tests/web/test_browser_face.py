"""Face pay enrolment in a real browser, on a 390 px phone (zh-CN): the notice before
anything is taken, the photo with the consent box, the state after, and withdrawal.

Screenshots: tests/screenshots/face-*.png. The photo is the astronaut from scikit-image
(a real face); the journey is checked for console errors, page errors and 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from faces.photos import astronaut, jpeg
from onecard.core.context import Context
from onecard.faces import queries
from web.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer, Watch, shot
from web.pages import PASSWORD, Staff
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


@pytest.fixture
def live(ctx: Context, w: World, staff: Staff) -> Iterator[LiveServer]:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    server = LiveServer(ctx).start()
    yield server
    server.stop()


def test_a_diner_enrols_a_face_on_the_phone_and_withdraws(
    ctx: Context, w: World, live: LiveServer
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            phone_ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
            watch = Watch()
            page: Any = watch.attach(phone_ctx.new_page())
            page.on("dialog", lambda d: d.accept())
            page.goto(f"{live.url}/login")
            page.fill("input[name=staff_no]", "Sa1")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_load_state()
            page.click("#face-link")
            page.wait_for_selector("#face-notice")
            assert "敏感个人信息" in page.inner_text("#face-notice")
            assert page.inner_text("#face-state") == "未登记人脸"
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot(page, "face-notice-390")
            page.set_input_files(
                "input[name=photo]",
                {"name": "me.jpg", "mimeType": "image/jpeg", "buffer": jpeg(astronaut())},
            )
            page.check("input[name=consent]")
            page.click("#face-form button[type=submit]")
            page.wait_for_selector("#face-message")
            assert "人脸已登记" in page.inner_text("#face-message")
            assert page.inner_text("#face-state").startswith("已登记人脸")
            assert queries.face_status(ctx, w.people["a1"]).enrolled
            shot(page, "face-enrolled-390")
            page.click("#face-withdraw")
            page.wait_for_selector("#face-message")
            assert "已删除" in page.inner_text("#face-message")
            assert not queries.face_status(ctx, w.people["a1"]).enrolled
            shot(page, "face-withdrawn-390")
            watch.check()
        finally:
            browser.close()
