"""A city from zero to its first lunch, in a real browser (Debian's chromium), using only
pages — the executable walkthrough of docs/operations.md ("a new city").

``onecard init`` runs on an empty database (``start_city`` and the enrolment code, the
same functions the command calls); then, through pages only: the bureau administrator
signs in with the one-time password, is made to change it, binds an authenticator,
imports the city's information table (3 units, 2 canteens, one outsourced with its
operator's settlement account), appoints unit admins and issues their activation
codes; a unit admin activates, imports the roster, prints its people's codes and issues
a card; a diner activates; the bureau plans the canteen's terminal, marks it installed,
accepted, records a passed inspection, makes the terminal and the canteen live; the
quarter's funding notice, the unit's payment read from a bank statement file uploaded
on the reconciliation page, the distribution; the diner pays at the till; the public
directory lists the canteen, which it did not before. Every bad input on the way (a
duplicate unit code, an unknown owner unit, a bank account failing its check digit, a
till before its terminal is live, a terminal paying before it is live, retiring a unit
with money) shows a clear reason and changes nothing.

The server keeps the test's FixedClock (Tuesday 10 March 2026, 12:00 Beijing): the
quarter is 2026Q1, authenticator codes are computed at that clock, the till charges by
amount. Screenshots of each step at 1366 px (key steps also at 390 px) go to the test's
tmp dir; with ``ONECARD_DOCS_SCREENSHOTS=1`` also to docs/screenshots/city-from-zero/ (to
refresh the documented walkthrough — an ordinary run leaves the work tree as it was).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cityfiles import OPERATOR_BANK, UNIT_BANK, info_table, roster
from onecard.channels.bank import DINING_FUND_ACCOUNT, gateway
from onecard.channels.sandbox import SandboxBank
from onecard.core.context import Context
from onecard.funding.models import FundingNotice
from onecard.ledger.models import JournalEntry
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, Unit
from onecard.org.start import start_city
from onecard.web.accounts import issue_enrolment_code
from org.orgtools import everything
from web.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer, Watch
from web.pages import totp_now

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "city-from-zero"
DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NEW_PASSWORD = "Chenzhou2026"


# --- the harness -----------------------------------------------------------------------


def small(src: Path, dst: Path) -> None:
    """The docs' copy in 128 colours (a third of the size; text stays sharp), or as taken
    when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        shutil.copy(src, dst)
        return
    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=128).save(dst, optimize=True)


class Shots:
    """Each step's page at 1366 px (and, for the key steps, 390 px): into the test's tmp
    dir (and docs/screenshots/city-from-zero/ when asked), numbered in journey order."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp / "screenshots"
        self.tmp.mkdir()
        self.to_docs = os.environ.get("ONECARD_DOCS_SCREENSHOTS") == "1"
        if self.to_docs:
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.taken: list[str] = []

    def __call__(self, page: Any, name: str, phone: bool = False) -> None:
        self.n += 1
        widths = [("1366", DESK)] + ([("390", PHONE)] if phone else [])
        for label, size in widths:
            page.set_viewport_size(size)
            height = int(page.evaluate("document.documentElement.scrollHeight"))
            file = f"{self.n:02d}-{name}-{label}.png"
            clip = {"x": 0, "y": 0, "width": size["width"], "height": min(height, 1500)}
            page.screenshot(path=str(self.tmp / file), full_page=True, clip=clip)
            if self.to_docs:
                small(self.tmp / file, DOCS_SHOTS / file)
            self.taken.append(file)
        page.set_viewport_size(DESK)


@pytest.fixture
def city(ctx: Context) -> tuple[str, str]:
    """``onecard init`` on the fresh database: the one-time password and enrolment code."""
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite (the API journey runs on both)")
    s = ctx.settings
    system = Actor.system("cli:test")
    started = start_city(
        ctx,
        system,
        city="郴州市",
        code=s.region_code,
        network_no=s.region_no,
        bureau_name="郴州市机关事务管理局",
        bureau_code="BUREAU",
        admin_staff_no="A0001",
        admin_name="张建国",
    )
    return started.password, issue_enrolment_code(ctx, system, started.admin_id)


@pytest.fixture
def server(ctx: Context, city: tuple[str, str]) -> Iterator[LiveServer]:
    live = LiveServer(ctx).start()
    yield live
    live.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def ids(ctx: Context) -> dict[str, int]:
    """Unit, canteen and person ids by code (read only: the test acts through pages)."""
    with ctx.db.read() as conn:
        got = {r.code: int(r.id) for r in conn.execute(select(Unit.code, Unit.id))}
        got |= {r.code: int(r.id) for r in conn.execute(select(Canteen.code, Canteen.id))}
        got |= {r.staff_no: int(r.id) for r in conn.execute(select(Person.staff_no, Person.id))}
    return got


def entries(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one())


def upload(page: Any, selector: str, name: str, data: bytes, mime: str = XLSX) -> None:
    page.set_input_files(selector, {"name": name, "mimeType": mime, "buffer": data})


def activate(page: Any, base: str, login: str, code: str, password: str) -> None:
    page.goto(f"{base}/activate")
    page.fill("#activate-form input[name=login]", login)
    page.fill("#activate-form input[name=code]", code)
    page.fill("#activate-form input[name=new]", password)
    page.fill("#activate-form input[name=confirm]", password)
    page.click("#activate-form button[type=submit]")
    page.wait_for_load_state()


def run_previewed(page: Any, form: str) -> None:
    """A money run: the preview first (nothing written), then the confirmation."""
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(".run-result[data-dry-run='1']")
    page.click("#confirm-run button[type=submit]")
    page.wait_for_selector(".run-result[data-dry-run='0']")


# --- the journey -----------------------------------------------------------------------


def test_a_city_from_zero_to_its_first_lunch(
    ctx: Context,
    city: tuple[str, str],
    server: LiveServer,
    chromium: Any,
    tmp_path: Path,
) -> None:
    one_time, enrolment = city
    base = server.url
    shot = Shots(tmp_path)
    watch = Watch(expect_statuses={401, 403, 404, 409, 422})

    # 1. The bureau administrator: one-time password, forced change, authenticator.
    bureau_ctx = chromium.new_context(viewport=DESK, locale="zh-CN")
    page = watch.attach(bureau_ctx.new_page())
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{base}/canteens")
    assert "教育局机关食堂" not in page.inner_text("main")
    shot(page, "directory-empty")
    page.goto(f"{base}/login")
    page.fill("input[name=staff_no]", "A0001")
    page.fill("input[name=password]", one_time)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/login/password$"))
    assert page.goto(f"{base}/bureau") is not None
    assert page.url.endswith("/login/password"), "every page waits on the password change"
    shot(page, "forced-password-change", phone=True)
    page.fill("input[name=current]", one_time)
    page.fill("input[name=new]", NEW_PASSWORD)
    page.fill("input[name=confirm]", NEW_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/login/totp$"))
    secret = page.inner_text("#totp-secret").strip()
    shot(page, "enrol-authenticator", phone=True)
    page.fill("input[name=enrolment_code]", enrolment)
    page.fill("input[name=code]", totp_now(ctx, secret))
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/bureau$"))
    shot(page, "bureau-first-page")

    # 2. The city's information table: three refusals that write nothing, then the file.
    page.goto(f"{base}/bureau/org/import")
    before = everything(ctx)
    for bad, reason in (
        (info_table(duplicate=True), "重复"),
        (info_table(unknown_owner=True), "U999"),
        (info_table(bad_bank=True), "校验位"),
    ):
        upload(page, "#upload-form input[type=file]", "信息统计表.xlsx", bad)
        page.click("#upload-form button[type=submit]")
        errors = page.wait_for_selector("#import-errors").inner_text()
        assert reason in errors, errors
        assert everything(ctx) == before
    shot(page, "info-table-refused", phone=True)
    upload(page, "#upload-form input[type=file]", "信息统计表.xlsx", info_table())
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#import-result[data-dry-run='1']")
    preview = page.inner_text("#import-result")
    assert "市档案馆" in preview and "财政局职工食堂" in preview
    assert everything(ctx) == before  # the preview writes nothing
    shot(page, "info-table-preview")
    page.click("#confirm-import button[type=submit]")
    page.wait_for_selector("#import-done")
    shot(page, "info-table-imported", phone=True)
    the = ids(ctx)
    assert {"U101", "U102", "U103", "C101", "C102"} <= set(the)

    # A unit code already taken: refused on the new-unit form, nothing written.
    page.goto(f"{base}/bureau/org")
    before = everything(ctx)
    page.click("#new-unit summary")
    page.fill("#new-unit input[name=code]", "U101")
    page.fill("#new-unit input[name=name]", "市教育局（重复）")
    page.click("#new-unit button[type=submit]")
    assert "U101" in page.wait_for_selector("#org-error").inner_text()
    assert everything(ctx) == before
    shot(page, "duplicate-unit-code-refused")
    page.goto(f"{base}/bureau/org/canteens/{the['C102']}")
    assert page.input_value("#canteen-form input[name=operator_bank_account]") == OPERATOR_BANK
    shot(page, "outsourced-canteen")

    # 3. Unit admins, and an activation code for the first.
    page.goto(f"{base}/bureau/org/admins")
    for staff_no, unit, name in (
        ("UA101", "U101 市教育局", "钱进"),
        ("UA102", "U102 市财政局", "孙丽"),
    ):
        page.fill("#appoint-form input[name=staff_no]", staff_no)
        page.select_option("#appoint-form select[name=role]", "unit_admin")
        page.select_option("#appoint-form select[name=unit_id]", label=unit)
        page.fill("#appoint-form input[name=name]", name)
        page.click("#appoint-form button[type=submit]")
        page.wait_for_selector("#org-saved")
    assert "钱进" in page.inner_text("#org-admins") and "孙丽" in page.inner_text("#org-admins")
    shot(page, "unit-admins-appointed")
    page.click("button[data-admin-code='UA101']")
    admin_code = page.wait_for_selector("#activation-code").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", admin_code)
    shot(page, "unit-admin-code-slip", phone=True)

    # 4. The unit admin activates, imports the roster, prints the codes, issues a card.
    unit_ctx = chromium.new_context(viewport=DESK, locale="zh-CN")
    ua = watch.attach(unit_ctx.new_page())
    ua.on("dialog", lambda d: d.accept())
    activate(ua, base, "UA101", admin_code, "Qianjin2026")
    u101 = the["U101"]
    ua.goto(f"{base}/unit/{u101}/import")
    upload(ua, "input[type=file]", "花名册.xlsx", roster())
    ua.click("#upload-form button[type=submit]")
    ua.wait_for_selector("#import-result[data-dry-run='1']")
    assert "李娜" in ua.inner_text("#import-result")
    ua.click("#confirm-import button[type=submit]")
    ua.wait_for_selector("#import-done")
    shot(ua, "roster-imported", phone=True)
    ua.click(f"#print-codes-{u101} button")
    ua.wait_for_selector("#activation-sheet")
    slips = {
        s.get_attribute("data-staff-no"): s.query_selector(".code-digits").inner_text().strip()
        for s in ua.query_selector_all("#activation-sheet .slip")
    }
    assert set(slips) == {"P1001", "P1002"}, slips  # the admin has a password already
    shot(ua, "activation-code-sheet", phone=True)
    the = ids(ctx)
    ua.goto(f"{base}/unit/{u101}/people/{the['P1001']}")
    ua.click("form[action$='/cards'] button:has-text('发新卡')")
    card_no = ua.wait_for_selector("#person-cards code").inner_text().strip()
    shot(ua, "card-issued")

    # 5. A diner activates.
    diner_ctx = chromium.new_context(viewport=PHONE, locale="zh-CN")
    diner = watch.attach(diner_ctx.new_page())
    activate(diner, base, "P1001", slips["P1001"], "Lina2026ok")
    diner.wait_for_url(re.compile(r"/me$"))
    shot(diner, "diner-activated", phone=True)

    # 6. Rollout: plan, installed (key once), the till and the terminal refused before
    #    live, accepted, inspection passed, terminal live, canteen live.
    c101 = the["C101"]
    page.goto(f"{base}/bureau/rollout/canteens/{c101}")
    page.click("#terminals form[action$='/plan'] button")
    page.wait_for_selector("#terminal-list td:has-text('C101-T01')")
    shot(page, "terminals-planned")
    page.click("#terminal-list button[data-move='installed'] >> nth=0")
    key = page.wait_for_selector("#new-key code").inner_text().strip()
    assert len(key) >= 32
    shot(page, "terminal-installed-key-once", phone=True)
    spent = entries(ctx)
    refused = page.request.post(
        f"{base}/api/v1/terminal/payments",
        headers={"Authorization": f"Terminal C101-T01:{key}"},
        data={"txn_id": "early-1", "credential": card_no, "amount_fen": 1200},
    )
    assert refused.status == 403 and refused.json()["error"]["code"] == "terminal_not_live"
    page.goto(f"{base}/till?canteen_id={c101}")
    assert "没有在用的消费机" in page.inner_text("main")
    assert entries(ctx) == spent
    shot(page, "till-before-live")
    page.goto(f"{base}/bureau/rollout/canteens/{c101}")
    page.click("#terminal-list button[data-move='accepted']")
    page.wait_for_selector("#terminal-list button[data-move='live']")
    # Before a passed inspection the go-live button is off, says why, and the server
    # refuses the post anyway.
    assert page.is_disabled("#go-live button[type=submit]")
    assert "尚无通过的验收检查" in page.inner_text("#go-live")
    token = page.get_attribute("input[name=csrf_token] >> nth=0", "value")
    early = page.request.post(
        f"{base}/bureau/rollout/canteens/{c101}/live", form={"csrf_token": token or ""}
    )
    assert early.status == 409 and "尚无通过的验收检查" in early.text()
    for box in page.query_selector_all("#inspection-form input[type=checkbox]"):
        box.check()
    page.fill("#inspection-form textarea[name=note]", "现场试刷，价目与就餐时段已设置")
    page.click("#inspection-form button[type=submit]")
    page.wait_for_selector("#inspection-list .badge.live")
    shot(page, "inspection-passed")
    page.click("#terminal-list button[data-move='live']")
    page.wait_for_selector("#go-live button[type=submit]:not([disabled])")
    page.click("#go-live button[type=submit]")
    page.wait_for_selector("#canteen-state.live")
    shot(page, "canteen-live", phone=True)

    # 7. Money: the quarter's notices, the unit pays at its bank, the statement file
    #    uploaded on the reconciliation page, the transfer to income, the distribution.
    page.goto(f"{base}/bureau/notices?quarter=2026Q1")
    page.click("form[action='/bureau/runs/notices'] button[type=submit]")
    page.wait_for_selector(".run-result[data-dry-run='1']")
    page.click("#confirm-run button[type=submit]")
    page.wait_for_selector(".run-result[data-dry-run='0']")
    shot(page, "funding-notices")
    with ctx.db.read() as conn:
        due = conn.execute(
            select(FundingNotice.amount_due_fen, FundingNotice.reference).where(
                FundingNotice.unit_id == u101
            )
        ).one()
    assert due.amount_due_fen > 0
    bank = gateway(ctx)
    assert isinstance(bank, SandboxBank)
    bank.open_outside_account(UNIT_BANK, "市教育局", 10_000_000)  # the unit, at its own bank
    bank.credit_from_outside(UNIT_BANK, DINING_FUND_ACCOUNT, due.amount_due_fen, due.reference)
    page.goto(f"{base}/bureau/reconciliation")
    with page.expect_download() as got:
        page.click("#sandbox-statement button[value=xlsx]")
    statement = Path(got.value.path()).read_bytes()
    upload(page, "#statement-upload input[name=file]", "对账单.xlsx", statement)
    page.click("#statement-upload button[type=submit]")
    page.wait_for_selector(".recon-day")
    assert "已读入" in page.inner_text("main") and "已匹配 1" in page.inner_text(".recon-day")
    shot(page, "statement-uploaded", phone=True)
    page.goto(f"{base}/bureau/runs?quarter=2026Q1")
    run_previewed(page, "form[action='/bureau/runs/transfer']")
    page.goto(f"{base}/bureau/runs?quarter=2026Q1")
    page.select_option("#distribute-form select[name=unit_id]", str(u101))
    run_previewed(page, "#distribute-form")
    shot(page, "distribution-done")

    # Retiring a unit that holds money: the page says why; a forced post is refused.
    page.goto(f"{base}/bureau/org/units/{u101}")
    blockers = page.inner_text("#retire-blockers")
    assert "本单位人员账户尚有" in blockers and "元" in blockers, blockers
    before = everything(ctx)
    token = page.get_attribute("input[name=csrf_token] >> nth=0", "value")
    forced = page.request.post(
        f"{base}/bureau/org/units/{u101}/retire", form={"csrf_token": token or ""}
    )
    assert forced.status == 409 and "本单位人员账户尚有" in forced.text()
    assert everything(ctx) == before
    shot(page, "retire-with-money-refused")

    # 8. The first lunch: the diner's card at the till, and the diner sees it.
    page.goto(f"{base}/till?canteen_id={c101}")
    page.fill("#amount", "12.00")
    page.fill("#credential", card_no)
    page.press("#credential", "Enter")
    verdict = page.wait_for_selector("#till-verdict")
    assert verdict.get_attribute("data-result") == "approved", verdict.inner_text()
    assert "李娜" in verdict.inner_text()
    shot(page, "first-lunch-at-the-till", phone=True)
    diner.goto(f"{base}/me")
    assert "12.00" in diner.inner_text("main")
    shot(diner, "diner-sees-the-payment", phone=True)

    # 9. The public directory lists the live canteen (and not the one still planned).
    diner.goto(f"{base}/canteens")
    listed = diner.inner_text("main")
    assert "教育局机关食堂" in listed and "财政局职工食堂" not in listed
    shot(diner, "directory-lists-the-canteen", phone=True)

    watch.check()
    for c in (bureau_ctx, unit_ctx, diner_ctx):
        c.close()
