"""Codes are shown as words in the page's language, numbers with thousands separators,
quarters chosen from a list (issue 14 §3)."""

from __future__ import annotations

import re
from datetime import date

from onecard.audit.records import record
from onecard.core.clock import quarter_choices
from onecard.core.context import Context
from onecard.core.words import SYSTEM_ZH, TARGET_ZH, WORDS, grouped, who, word
from onecard.org.actors import Actor
from onecard.web.i18n import translate
from onecard.web.templating import env
from web.pages import Staff, TestClient, sign_in
from world import World


def test_every_word_has_its_english() -> None:
    words = {w for table in WORDS.values() for w in table.values()}
    words |= set(SYSTEM_ZH.values()) | set(TARGET_ZH.values())
    missing = sorted(w for w in words if translate(w, "en") == w)
    assert missing == []


def test_codes_read_as_words_in_their_domain() -> None:
    assert word("active", "card") == "正常" and word("active", "person") == "在职"
    assert word("live", "canteen") == "已上线" and word("self", "operation") == "自营"
    assert word("outsourced", "operation") == "委托经营"
    assert word("distribute", "action") == "拨付"
    assert word("import_roster", "action") == "导入花名册"
    assert word("paid", "settlement") == "已付款"
    assert word("brand_new", "card") == "brand_new"  # an unknown code shows, not vanishes
    assert who("person:23:张伟") == "张伟"
    assert who("person:23") == "人员 #23"
    assert who("person:23", {("person", 23): "李四（S23）"}) == "李四（S23）"
    assert who("notice:5") == "缴款通知 #5"
    assert who("cli") == "命令行" and who("cli:ops") == "命令行（ops）"
    assert who("2026Q4") == "2026Q4"


def test_the_filters_speak_the_page_language() -> None:
    tpl = env.from_string('{{ s|word("operation") }} {{ n|num }} {{ money(f) }} {{ a|who }}')
    zh = tpl.render(_=lambda t: translate(t, "zh-CN"), s="outsourced", n=1679, f=123456789, a="cli")
    assert zh == "委托经营 1,679 1,234,567.89 命令行"
    en = tpl.render(_=lambda t: translate(t, "en"), s="self", n=7, f=-5, a="person:9")
    assert en == f"Self-operated 7 -0.05 {translate('人员', 'en')} #9"
    assert grouped(2_100_000) == "2,100,000"


def test_quarters_are_the_last_eight_and_the_next() -> None:
    qs = quarter_choices(date(2026, 11, 30))
    assert qs[0] == "2027Q1" and qs[1] == "2026Q4" and qs[-1] == "2025Q1" and len(qs) == 9


def test_the_run_and_report_pages_choose_quarters_from_a_list(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with ctx.db.begin() as conn:
        record(
            conn,
            ctx,
            Actor.system("cli"),
            "import_roster",
            "roster",
            {"rows": 1234},
            unit_id=w.units["A"],
        )
    sign_in(client, ctx, staff["bu"])
    runs = client.get("/bureau/runs").text
    picker = re.search(r'<select name="quarter" id="quarter-select">(.*?)</select>', runs, re.S)
    assert picker is not None
    options = re.findall(r'<option value="(\d{4}Q\d)"', picker.group(1))
    today = ctx.clock.today()
    assert options == quarter_choices(today)
    assert '<input name="quarter"' not in runs and '<input name="year"' not in runs
    reports = client.get(f"/unit/{w.units['A']}/reports").text
    assert 'id="quarter-select"' in reports and '<input name="quarter"' not in reports
    audit = client.get("/bureau/audit?kind=roster").text
    row = audit.split('data-action="import_roster"')[1].split("</tr>")[0]
    assert "导入花名册" in row and "命令行" in row and "import_roster<" not in row
    assert "1,234" in row
    en = client.get("/bureau/audit?kind=roster&lang=en").text
    row = en.split('data-action="import_roster"')[1].split("</tr>")[0]
    assert "Roster import" in row and "导入花名册" not in row


def test_the_audit_pages_changes_follow_the_page_language(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """Before/after/data read in the page's language (issue 14: they were Chinese only);
    the Excel keeps the Chinese."""
    from onecard.audit.queries import describe

    data = {"rows": 1234, "amount_fen": 240000, "serves_guests": True, "status": "live"}
    with ctx.db.begin() as conn:
        record(conn, ctx, Actor.system("cli"), "import_roster", "花名册", data)
    sign_in(client, ctx, staff["bu"])
    zh = client.get("/bureau/audit?kind=roster").text
    row = zh.split('data-action="import_roster"')[1].split("</tr>")[0]
    assert "金额（元）：2,400.00；行数：1,234；对来宾开放：是；状态：已上线" in row  # keys sorted
    en = client.get("/bureau/audit?kind=roster&lang=en").text
    row = en.split('data-action="import_roster"')[1].split("</tr>")[0]
    assert "Amount (yuan): 2,400.00; Rows: 1,234; Open to guests: Yes; Status: " in row
    assert "行数" not in row and "是" not in row and "花名册" not in row
    assert describe(data) == "行数：1,234；金额（元）：2,400.00；对来宾开放：是；状态：已上线"


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S))


def test_no_run_preview_or_bureau_page_shows_a_code(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """Every money run's preview, in both languages, and the bureau's pages: no
    ``snake_case`` code a person would have to decode."""
    from datetime import datetime

    from onecard.core.clock import from_local
    from onecard.pay.service import PaymentRequest, pay
    from world import fund

    fund(ctx, w, "b1", subsidy=5000)
    pay(ctx, w.terminals["B"], PaymentRequest("p-1", w.cards["b1"], meal="lunch"))
    ctx.clock.set(from_local(datetime(2026, 4, 1, 9)))  # type: ignore[attr-defined]
    token, _ = sign_in(client, ctx, staff["bu"])
    data = {"csrf_token": token, "quarter": "2026Q1", "year": "2026", "day": "2026-03-10"}
    code = re.compile(r"\b[a-z]+_[a-z_]+\b")
    for kind in ("notices", "receipts", "transfer", "distribute", "settle", "year_end"):
        for lang in ("zh-CN", "en"):
            page = client.post(f"/bureau/runs/{kind}?lang={lang}", data=data)
            assert page.status_code < 500
            assert code.findall(_visible(page.text)) == [], (kind, lang)
    for path in ("/bureau/settlements?quarter=2026Q1", "/bureau/notices?quarter=2026Q1", "/bureau"):
        assert code.findall(_visible(client.get(path).text)) == [], path
