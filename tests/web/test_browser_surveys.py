"""Issue 16 §6 and §8 in a real browser, zh-CN at 390 and 1366 px: the bureau's survey
list and publishing form, a survey's results with a chart per question and the free
text, the per-capita page with its two charts; a canteen manager's survey page; a diner
answers a survey on the phone (stars, a choice, a comment) and sees it answered. Each
page: no Latin word or raw code, no cell one character wide, nothing wider than the
phone, no console error or 5xx; the charts are drawn (ECharts). Screenshots go to
tests/screenshots/surveys-*.png."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from onecard.reports.service import catch_up
from onecard.surveys import queries, service
from web.browser import CHROMIUM, DESKTOP, PHONE, LiveServer, Watch, shot, sign_in
from web.conftest import Seed
from web.page_checks import VISIBLE_TEXT_JS, foreign_words, squeezed, sticking_out
from web.pages import Staff
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


def _seed(ctx: Context, w: World) -> None:
    today = ctx.clock.today()
    sid = service.publish(
        ctx,
        Actor.system("test"),
        service.SurveySpec(
            title="食堂满意度调查",
            intro="请如实评价",
            starts_on=today - timedelta(days=1),
            ends_on=today + timedelta(days=7),
            canteen_ids=[w.canteens["A"], w.canteens["B"]],
            questions=[
                service.QuestionSpec("stars", "总体满意度"),
                service.QuestionSpec("single", "饭菜口味", ["偏咸", "适中", "偏淡"]),
                service.QuestionSpec("multi", "希望增加", ["面食", "粗粮", "水果"], required=False),
                service.QuestionSpec("text", "意见建议", required=False),
            ],
        ),
    )
    q = [x["id"] for x in queries.detail(ctx, sid, today)["questions"]]
    with ctx.db.read() as conn:
        b1 = Actor.load(conn, w.people["b1"], "Sb1", w.units["B"])
    service.answer(
        ctx, b1, sid, w.canteens["B"], {q[0]: 4, q[1]: 1, q[2]: [0], q[3]: "排队时间有点长"}
    )
    pay(ctx, w.terminals["A"], PaymentRequest("br-1", w.cards["a1"], amount_fen=650))
    pay(ctx, w.terminals["A"], PaymentRequest("br-2", w.cards["b1"], amount_fen=850))
    catch_up(ctx, grace_seconds=0)


@pytest.fixture
def seed() -> Seed:
    return _seed


def check(page: Any, where: str, width: int, problems: list[str], extra: frozenset[str]) -> None:
    page.wait_for_load_state("networkidle")
    text = page.evaluate(VISIBLE_TEXT_JS)
    if words := foreign_words(text, extra):
        problems.append(f"{where}@{width}: Latin words or codes {words}")
    problems.extend(f"{where}@{width}: {p}" for p in squeezed(page))
    if width == PHONE["width"]:
        problems.extend(f"{where}@{width}: {p}" for p in sticking_out(page))
    shot(page, f"surveys-{where}-{width}")


def test_surveys_and_per_capita_in_the_browser(
    ctx: Context, w: World, staff: Staff, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    problems: list[str] = []
    extra = frozenset({"Sbu", "Scm", "Sa1"})
    [s] = queries.listed(ctx, Actor.system("test"), ctx.clock.today())
    # The bureau (signed in once: an authenticator code is good once), both widths.
    page = watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
    sign_in(page, live.url, "Sbu", totp=True)
    for view in (PHONE, DESKTOP):
        width = view["width"]
        page.set_viewport_size(view)
        page.goto(f"{live.url}/surveys")
        assert "食堂满意度调查" in page.inner_text("#surveys")
        check(page, "list", width, problems, extra)
        page.goto(f"{live.url}/surveys/{s['id']}")
        page.wait_for_selector(".survey-chart[data-ready]")
        assert "排队时间有点长" in page.inner_text("main")
        assert page.locator(".survey-chart[data-ready='1'] canvas").count() >= 3
        check(page, "results", width, problems, extra)
        page.goto(f"{live.url}/bureau/dashboard")
        page.click("#per-capita-link")
        page.wait_for_selector("#chart-spend[data-ready]")
        assert "公务接待" in page.inner_text("#not-recorded")
        assert "7.50" in page.inner_text("#per-capita-canteens")
        check(page, "per-capita", width, problems, extra)
    page.context.close()
    # The canteen manager on the phone: their canteen's surveys and the form.
    page = watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
    sign_in(page, live.url, "Scm")
    page.goto(f"{live.url}/surveys")
    assert "财政局机关食堂" in page.inner_text("#publish")
    check(page, "manager", PHONE["width"], problems, extra)
    page.context.close()
    # The diner answers on the phone, once.
    page = watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
    sign_in(page, live.url, "Sa1")
    page.click("#surveys-link")
    check(page, "mine", PHONE["width"], problems, extra)
    page.click("#my-surveys a.button")
    page.wait_for_selector("#answer-form")
    check(page, "form", PHONE["width"], problems, extra)
    page.locator("#answer-form .stars label").nth(4).click()
    page.locator("#answer-form input[type=radio][value='1']").nth(1).check()
    page.locator("#answer-form textarea").fill("希望多一些素菜")
    page.click("#submit-answer")
    page.wait_for_load_state()
    assert "提交成功" in page.inner_text("main") and "已填写" in page.inner_text("#my-surveys")
    check(page, "answered", PHONE["width"], problems, extra)
    page.context.close()
    assert queries.results(ctx, s["id"])["responses"] == 2
    watch.check()
    assert not problems, "\n".join(problems)
