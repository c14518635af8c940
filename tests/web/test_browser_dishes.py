"""Issue 16 §3 in a real browser, in Chinese at a phone's 390 px and a desk's 1366 px: the
diner opens a meal sold by item lines from /me, rates a dish (a second try of the same
dish is refused on the page, nothing changed) and reads the week's nutrition; the
canteen manager and the bureau read the dish rankings and comments.

Every page fails the test on a Latin word or raw code in the visible text, sideways
scroll or an element sticking out, a cell squeezed to one character per line, a console
error or a 5xx. Screenshots: ``<tmp>/screenshots/dishes-<page>-<width>.png``."""

from __future__ import annotations

from typing import Any

import pytest

from onecard.core.context import Context
from onecard.feedback import dishes
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from web.browser import CHROMIUM, DESKTOP, PHONE, LiveServer, Watch, shot, sign_in
from web.conftest import Seed
from web.page_checks import VISIBLE_TEXT_JS, foreign_words, squeezed, sticking_out
from web.pages import Staff
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

WIDTHS = (("390", PHONE), ("1366", DESKTOP))


def _history(ctx: Context, w: World) -> None:
    """Canteen A's dishes; two meals of 张伟 (a1) by item lines, one of 李娜 (b1), rated."""
    from dishworld import menu

    ids = menu(ctx, w)
    t = w.terminals["A"]
    for n in (1, 2):
        pay(ctx, t, PaymentRequest(f"br-a{n}", w.cards["a1"], items=(("D1", 1), ("D2", 2))))
    out = pay(ctx, t, PaymentRequest("br-b1", w.cards["b1"], items=(("D1", 1), ("D2", 1))))
    with ctx.db.read() as conn:
        b1 = Actor.load(conn, w.people["b1"], "Sb1", w.units["B"])
    pid = int(out.data["payment_id"])
    dishes.rate_dish(ctx, b1, pid, ids["D1"], 4, "肥而不腻，很下饭")
    dishes.rate_dish(ctx, b1, pid, ids["D2"], 5)


@pytest.fixture
def seed() -> Seed:
    return _history


def check(page: Any, problems: list[str], wide: str) -> None:
    text = page.evaluate(VISIBLE_TEXT_JS)
    problems += [f"{page.url} @{wide}: foreign word {x}" for x in foreign_words(text)]
    problems += [f"{page.url} @{wide}: {x}" for x in sticking_out(page)]
    problems += [f"{page.url} @{wide}: {x}" for x in squeezed(page)]


def test_the_diner_rates_dishes_and_the_canteen_and_bureau_read_them(
    ctx: Context, w: World, staff: Staff, live: LiveServer, browser: Any
) -> None:
    problems: list[str] = []
    watch = Watch(expect_statuses={409})

    def signed_in(staff_no: str, totp: bool = False) -> Any:
        """One browser per person (an authenticator code is good once), resized per width."""
        page = watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
        sign_in(page, live.url, staff_no, totp=totp)
        return page

    page = signed_in(staff["a1"])
    for wide, size in WIDTHS:
        page.set_viewport_size(size)
        page.goto(f"{live.url}/me")
        links = page.locator("a.dish-link")
        assert links.count() == 2
        check(page, problems, wide)
        links.first.click()
        page.wait_for_load_state()
        assert "红烧肉" in page.inner_text("#meal")
        check(page, problems, wide)
        shot(page, f"dishes-meal-{wide}")
        if wide == "390":
            form = page.locator("li.dish-line form").first
            form.locator("input[name=stars][value='4']").check()
            form.locator("textarea[name=comment]").fill("分量足")
            form.locator("button[type=submit]").click()
            page.wait_for_load_state()
            assert page.locator("#dish-rated").count() == 1
            assert "分量足" in page.inner_text("#meal")
            # A second try of the same dish (an old tab): 409, nothing changed.
            url = page.url.split("?")[0]
            item = page.locator("li.dish-line").first.get_attribute("data-item")
            resp = page.request.post(
                f"{url}/dishes/{item}",
                form={"stars": "1", "csrf_token": _csrf(page)},
            )
            assert resp.status == 409 and "已经评价过了" in resp.text()
            check(page, problems, wide)
            shot(page, f"dishes-rated-{wide}")
        page.goto(f"{live.url}/me/nutrition")
        assert page.locator("#nutrition-table tr[data-key]").count() == 5
        check(page, problems, wide)
        shot(page, f"dishes-nutrition-{wide}")

    page = signed_in(staff["cm"])
    for wide, size in WIDTHS:
        page.set_viewport_size(size)
        page.goto(f"{live.url}/dishes/canteens/{w.canteens['A']}")
        assert "肥而不腻" in page.inner_text("#dish-comments")
        assert page.locator("#dish-rankings tr[data-item]").count() == 2
        check(page, problems, wide)
        shot(page, f"dishes-canteen-{wide}")

    page = signed_in(staff["bu"], totp=True)
    for wide, size in WIDTHS:
        page.set_viewport_size(size)
        page.goto(f"{live.url}/bureau/dishes")
        assert "财政局机关食堂" in page.inner_text("#dish-rankings")
        check(page, problems, wide)
        shot(page, f"dishes-bureau-{wide}")
    watch.check()
    assert not problems, "\n".join(problems)


def _csrf(page: Any) -> str:
    return str(page.locator("input[name=csrf_token]").first.get_attribute("value") or "")
