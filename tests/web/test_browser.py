"""The main journeys in a real browser (Debian's chromium through Playwright).

A diner signs in and shows a payment code; the canteen till scans it (the scanner types
the code and presses Enter); the diner's phone shows the payment and the diner rates the
meal. A unit admin imports a roster with an error, then a good one. The bureau previews
and runs a distribution and looks at the dashboard. A unit admin cannot open another
unit's pages (403). Any console error or 5xx fails the test; screenshots of the key
pages go to tests/screenshots/.

The server runs on the real clock: the phone makes its codes from the browser's clock,
and the server must accept them. The till charges by amount, which works at any hour.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pyotp
import pytest

from onecard.core.clock import quarter_of
from onecard.core.context import Context
from web.browser import CHROMIUM, PHONE, LiveServer, Watch, shot, sign_in
from web.pages import PASSWORD
from world import World, purse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


def test_a_diner_pays_with_a_code_at_the_till_and_rates_the_meal(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    phone_ctx = browser.new_context(viewport=PHONE, locale="zh-CN")
    phone = watch.attach(phone_ctx.new_page())
    sign_in(phone, live.url, "Sb1")
    assert phone.url.endswith("/me")
    shot(phone, "diner-home")
    phone.click("a[href='/me/code']")
    phone.wait_for_selector("#paycode[data-ready='1']")
    code = phone.get_attribute("#paycode", "data-code")
    assert code and re.fullmatch(r"8[0-9]{17}", code)
    assert phone.locator("#paycode-qr svg").count() == 1
    shot(phone, "diner-paycode")

    till_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    till = watch.attach(till_ctx.new_page())
    sign_in(till, live.url, "Scm")
    assert till.url.endswith("/till")
    before = purse(ctx, w, "b1")
    till.fill("#amount", "8.50")
    till.fill("#credential", code)  # the scanner types the code…
    till.press("#credential", "Enter")  # …and presses Enter
    verdict = till.wait_for_selector("#till-verdict")
    assert verdict.get_attribute("data-result") == "approved", verdict.inner_text()
    assert "李娜" in verdict.inner_text()
    assert till.input_value("#credential") == ""  # ready for the next diner
    assert till.inner_text("#day-count") == "1"
    shot(till, "till-approved")
    assert sum(purse(ctx, w, "b1")) == sum(before) - 850

    paid = phone.wait_for_selector("#paycode-paid.ok", timeout=15000)
    assert "8.50" in paid.inner_text()
    shot(phone, "diner-paid")

    # The same code again is refused: a code is single use.
    till.fill("#credential", code)
    till.press("#credential", "Enter")
    till.wait_for_selector("#till-verdict[data-result='refused']")
    shot(till, "till-refused")

    phone.goto(f"{live.url}/me")
    phone.click("a[href^='/me/rate/']")
    # The stars start unchosen: every aspect is chosen by hand.
    assert phone.locator("input[type=radio]:checked").count() == 0
    for aspect, stars in (("taste", 4), ("hygiene", 5), ("service", 4), ("value", 3)):
        phone.check(f"input[name={aspect}][value='{stars}']")
    phone.fill("textarea[name=comment]", "米饭软硬适中")
    phone.click("button[type=submit].primary")
    phone.wait_for_selector("#rated")
    shot(phone, "diner-rated")

    # Offline: the code page keeps making codes from the secret kept on the phone.
    phone.goto(f"{live.url}/me/code")
    phone.wait_for_selector("#paycode[data-ready='1']")
    phone_ctx.set_offline(True)
    phone.wait_for_selector("#paycode-net", state="visible")
    assert re.fullmatch(r"8[0-9]{17}", phone.get_attribute("#paycode", "data-code") or "")
    phone_ctx.set_offline(False)
    # Signing out forgets the code secret kept on the phone.
    phone.click("#logout button")
    phone.wait_for_url(re.compile(r"/login$"))
    kept = phone.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('onecard.paycode.')).length"
    )
    assert kept == 0
    watch.check()
    phone_ctx.close()
    till_ctx.close()


def _roster(extra: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    from web.test_admin_pages import ROSTER_HEAD

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(ROSTER_HEAD)
    for r in [
        ["Sa1", "张伟", "U001", "在编", "", "", "600", ""],
        ["Sa2", "王芳", "U001", "在编", "", "", "600", ""],
        ["Sua", "职员ua", "U001", "在编", "", "", "600", ""],
        ["Scm", "职员cm", "U001", "在编", "", "", "600", ""],
        *extra,
    ]:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_unit_admin_imports_a_roster_with_an_error_then_a_good_one(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch(expect_statuses={422})
    bctx = browser.new_context(locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.on("dialog", lambda d: d.accept())
    sign_in(page, live.url, "Sua")
    unit = w.units["A"]
    assert page.url.endswith(f"/unit/{unit}")
    shot(page, "unit-roster")
    page.goto(f"{live.url}/unit/{unit}/import")
    bad = _roster([["Sa9", "", "U001", "在编", "", "", "600", ""]])  # no name
    page.set_input_files(
        "input[type=file]", {"name": "花名册.xlsx", "mimeType": XLSX, "buffer": bad}
    )
    page.click("#upload-form button[type=submit]")
    errors = page.wait_for_selector("#import-errors")
    assert "姓名" in errors.inner_text() and "不能为空" in errors.inner_text()
    shot(page, "unit-import-errors")

    good = _roster([["Sa9", "赵敏", "U001", "合同", "13900000000", "200", "", ""]])
    page.set_input_files(
        "input[type=file]", {"name": "花名册.xlsx", "mimeType": XLSX, "buffer": good}
    )
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#import-result[data-dry-run='1']")
    assert "赵敏" in page.inner_text("#import-result")
    shot(page, "unit-import-preview")
    page.click("#confirm-import button[type=submit]")
    page.wait_for_selector("#import-done")
    shot(page, "unit-import-done")
    page.goto(f"{live.url}/unit/{unit}")
    assert "赵敏" in page.inner_text("#roster")
    watch.check()
    bctx.close()


def test_a_unit_admin_cannot_open_another_units_pages(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch(expect_statuses={403})
    bctx = browser.new_context(locale="zh-CN")
    page = watch.attach(bctx.new_page())
    sign_in(page, live.url, "Sua")
    for path in (f"/unit/{w.units['B']}", f"/unit/{w.units['B']}/reports", "/bureau"):
        resp = page.goto(live.url + path)
        assert resp is not None and resp.status == 403, path
        assert "无权访问" in page.inner_text("main")
    shot(page, "unit-403")
    watch.check()
    bctx.close()


def test_the_bureau_previews_and_runs_a_distribution_and_reads_the_dashboard(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    from onecard.funding.notices import issue_notices
    from onecard.org.actors import Actor
    from onecard.pay.service import PaymentRequest, pay
    from web.test_admin_pages import _fund_unit

    _fund_unit(ctx, w, "A", 4 * 60000)
    # Distribution waits for the quarter's notices (funding.calendar).
    issue_notices(ctx, Actor.system("bureau"), quarter_of(ctx.clock.today()))
    for n, (who, fen) in enumerate((("a1", 600), ("b1", 850), ("a1", 450))):
        req = PaymentRequest(txn_id=f"seed-{n}", credential=w.cards[who], amount_fen=fen)
        assert pay(ctx, w.terminals["A"], req).approved
    watch = Watch()
    bctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.on("dialog", lambda d: d.accept())
    sign_in(page, live.url, "Sbu", totp=True)
    assert page.url.endswith("/bureau")
    shot(page, "bureau-overview")
    before = purse(ctx, w, "a2")
    page.goto(f"{live.url}/bureau/runs")
    page.select_option("#distribute-form select[name=unit_id]", str(w.units["A"]))
    page.click("#distribute-form button[type=submit]")
    page.wait_for_selector(".run-result[data-dry-run='1']")
    assert purse(ctx, w, "a2") == before  # a preview writes nothing
    shot(page, "bureau-distribution-preview")
    page.click("#confirm-run button[type=submit]")
    page.wait_for_selector(".run-result[data-dry-run='0']")
    shot(page, "bureau-distribution-done")
    assert purse(ctx, w, "a2")[0] == before[0] + 60000

    page.goto(f"{live.url}/bureau/dashboard?quarter={quarter_of(ctx.clock.today())}")
    for key in ("daily", "rush", "matrix", "revenue", "ratings"):
        page.wait_for_selector(f"#chart-{key}[data-ready]")  # '1', or 'empty': 暂无数据
    assert page.locator("#chart-daily canvas").count() >= 1
    shot(page, "bureau-dashboard")
    with page.expect_download() as dl:
        page.click("a[href^='/bureau/dashboard/revenue.xlsx']")
    from openpyxl import load_workbook

    assert dl.value.suggested_filename.endswith(".xlsx")
    with open(dl.value.path(), "rb") as f:
        sheet = load_workbook(io.BytesIO(f.read())).worksheets[0]
    assert sheet["A1"].value == "食堂"
    watch.check()
    bctx.close()


def test_the_public_directory_and_english(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    bctx = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.goto(f"{live.url}/canteens")
    assert "财政局机关食堂" in page.inner_text("main")
    shot(page, "public-directory")
    page.click("text=English")
    assert "Canteens open to all city staff" in page.inner_text("main")
    shot(page, "public-directory-en")
    watch.check()
    bctx.close()


@pytest.mark.parametrize("width", [390, 1366])
def test_signing_in_enrolling_and_signing_out_everywhere(
    ctx: Context, w: World, live: LiveServer, browser: Any, width: int
) -> None:
    """The sign-in pages at a phone's and a desktop's width: a wrong password, binding a
    first authenticator with the bureau's enrolment code, /me and its security page, and
    "sign out everywhere" (its confirmation comes from static/js, the CSP allowing no
    inline script)."""
    from sqlalchemy import update

    from onecard.org.actors import Actor
    from onecard.org.models import Person
    from onecard.web.accounts import issue_enrolment_code

    with ctx.db.begin() as conn:
        conn.execute(update(Person).where(Person.id == w.people["fi"]).values(totp_secret=None))
    enrolment = issue_enrolment_code(ctx, Actor.system("test"), w.people["fi"])
    watch = Watch(expect_statuses={401})
    size = {"width": width, "height": 844 if width < 800 else 900}
    bctx = browser.new_context(viewport=size, locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{live.url}/login")
    shot(page, f"signin-{width}")
    page.fill("input[name=staff_no]", "Sfi")
    page.fill("input[name=password]", "wrong-password1")
    page.click("button[type=submit].primary")
    assert "工号或密码错误" in page.inner_text("main")
    shot(page, f"signin-error-{width}")

    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/login/totp$"))
    assert "绑定码" in page.inner_text("main")
    shot(page, f"totp-enrol-{width}")
    secret = page.inner_text("#totp-secret").strip()
    page.fill("input[name=enrolment_code]", enrolment)
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/bureau$"))

    page.goto(f"{live.url}/me")
    assert page.locator("#sign-out-everywhere").count() == 1
    shot(page, f"me-{width}")
    page.goto(f"{live.url}/me/security")
    assert "本机" in page.inner_text("#my-sessions")
    shot(page, f"me-security-{width}")
    page.click("#sign-out-everywhere")
    page.wait_for_url(re.compile(r"/login\?ended=1$"))
    assert "已退出所有设备上的登录" in page.inner_text("main")
    assert page.goto(f"{live.url}/me") is not None and page.url.startswith(f"{live.url}/login")

    page.goto(f"{live.url}/login")
    page.fill("input[name=staff_no]", "Sfi")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/login/totp$"))
    assert page.locator("input[name=enrolment_code]").count() == 0
    shot(page, f"totp-{width}")
    watch.check()
    bctx.close()
