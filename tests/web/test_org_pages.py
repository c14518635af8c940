"""The organisation pages: the bureau creates, edits and retires units and canteens,
appoints administrators and imports the city's information table; a unit admin keeps
their own unit's record; a refused change shows its reason and changes nothing; a
corrected operator account re-sends the failed payout from the page."""

from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import Workbook
from sqlalchemy import select

from onecard.channels.bank import INCOME_ACCOUNT, gateway
from onecard.channels.sandbox import SandboxBank
from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.funding import notifications, settlement
from onecard.funding.models import Settlement
from onecard.org.actors import Actor
from onecard.org.info_table import CANTEEN_COLUMNS, UNIT_INFO_TEMPLATE
from onecard.org.models import Canteen, Unit
from onecard.pay.service import PaymentRequest, pay
from org.orgtools import audits, card_number, everything
from web.pages import Staff, TestClient, sign_in
from world import World


def alert(html: str) -> str:
    m = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return m.group(1) if m else ""


def test_the_bureau_creates_a_unit_and_a_canteen_from_the_pages(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    home = client.get("/bureau/org")
    assert home.status_code == 200 and "市财政局" in home.text and 'href="/bureau/org"' in home.text
    r = client.post(
        "/bureau/org/units",
        data={
            "csrf_token": token,
            "code": "U100",
            "name": "市教育局",
            "region_id": str(w.region),
            "level": "",
            "bank_account": "",
            "contact": "周敏",
            "phone": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, alert(r.text)
    page = client.get(r.headers["location"])
    assert "市教育局" in page.text and 'id="org-saved"' in page.text
    uid = int(r.headers["location"].split("/")[-1].split("?")[0])
    r = client.post(
        f"/bureau/org/units/{uid}/canteens",
        data={
            "csrf_token": token,
            "code": "C100",
            "name": "教育局食堂",
            "operation": "outsourced",
            "operator_name": "郴州好味餐饮",
            "operator_bank_account": card_number("621700001111000"),
            "capacity": "120",
            "windows": "4",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, alert(r.text)
    canteen = client.get(r.headers["location"]).text
    assert "教育局食堂" in canteen and "计划" in canteen
    assert [a["action"] for a in audits(ctx, "org_canteen_create")] == ["org_canteen_create"]


def test_a_bad_bank_account_on_the_page_says_why_keeps_the_input_and_changes_nothing(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    before = everything(ctx)
    typed = "6217 0000 1111 0009"
    r = client.post(
        f"/bureau/org/canteens/{w.canteens['B']}",
        data={"csrf_token": token, "operator_bank_account": typed, "windows": "6"},
    )
    assert r.status_code == 422
    assert alert(r.text) == "经营者结算账户不正确：银联卡号校验位不符，请核对是否有输错或颠倒的数字"
    assert f'value="{typed}"' in r.text  # what was typed is still in the form
    assert everything(ctx) == before
    r = client.post(
        "/bureau/org/units",
        data={"csrf_token": token, "code": "U001", "name": "新", "region_id": str(w.region)},
    )
    assert r.status_code == 409 and "单位代码「U001」已被使用" in alert(r.text)
    assert everything(ctx) == before


def test_a_unit_admin_keeps_their_own_units_record(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sua")
    a, b = w.units["A"], w.units["B"]
    page = client.get(f"/unit/{a}/org")
    assert page.status_code == 200 and f'href="/unit/{a}/org"' in page.text
    assert re.search(r'name="bank_account"[^>]*disabled', page.text)
    r = client.post(
        f"/unit/{a}/org", data={"csrf_token": token, "contact": "李明"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/unit/{a}/org?saved=saved&retried=0"
    before = everything(ctx)
    r = client.post(f"/unit/{a}/org", data={"csrf_token": token, "bank_account": "123456789012"})
    assert r.status_code == 403 and "单位账户只能由机关事务局修改" in alert(r.text)
    for url in (f"/unit/{b}/org", "/bureau/org", "/bureau/org/admins", "/bureau/org/import"):
        assert client.get(url).status_code == 403, url
    assert client.get(f"/unit/{a}/org/canteens/{w.canteens['B']}").status_code == 404
    for url, data in (
        (f"/unit/{b}/org", {"contact": "x"}),
        ("/bureau/org/units", {"code": "U9", "name": "x", "region_id": str(w.region)}),
        (f"/bureau/org/units/{a}/retire", {}),
        (f"/unit/{a}/org/canteens/{w.canteens['B']}", {"windows": "1"}),
    ):
        assert client.post(url, data={**data, "csrf_token": token}).status_code in (403, 404), url
    assert everything(ctx) == before


def test_retiring_a_unit_with_people_shows_every_reason(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get(f"/bureau/org/units/{w.units['A']}").text
    assert 'id="retire-blockers"' in page and "名在职人员" in page
    before = everything(ctx)
    r = client.post(f"/bureau/org/units/{w.units['A']}/retire", data={"csrf_token": token})
    assert r.status_code == 409 and "不能撤销单位「市财政局」" in alert(r.text)
    assert everything(ctx) == before


def test_the_bureau_appoints_and_revokes_from_the_admins_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    r = client.post(
        "/bureau/org/admins",
        data={
            "csrf_token": token,
            "staff_no": "UA3",
            "name": "钱进",
            "role": "unit_admin",
            "unit_id": str(w.units["C"]),
            "canteen_id": str(w.canteens["A"]),  # ignored for a unit admin
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, alert(r.text)
    page = client.get("/bureau/org/admins").text
    assert "钱进" in page and "单位管理员" in page
    with ctx.db.read() as conn:
        from onecard.org.models import Person, RoleGrant

        grant = conn.execute(
            select(RoleGrant.id)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(Person.staff_no == "Sbu")
        ).scalar_one()
    before = everything(ctx)
    r = client.post(f"/bureau/org/grants/{grant}/revoke", data={"csrf_token": token})
    assert r.status_code == 409 and "至少要保留一名" in alert(r.text)
    assert everything(ctx) == before


def info_file() -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "信息统计表"
    ws.append(list(UNIT_INFO_TEMPLATE))
    row = {c: "" for c in UNIT_INFO_TEMPLATE} | {
        "单位名称": "市教育局",
        "单位代码": "U101",
        "食堂数量": 1,
    }
    ws.append([row[c] for c in UNIT_INFO_TEMPLATE])
    cs = wb.create_sheet("食堂")
    cs.append(list(CANTEEN_COLUMNS))
    crow = {c: "" for c in CANTEEN_COLUMNS} | {
        "食堂编码": "C101",
        "食堂名称": "教育局食堂",
        "所属单位": "U101",
        "经营方式": "自营",
    }
    cs.append([crow[c] for c in CANTEEN_COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_the_city_import_page_previews_then_confirms(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    bad = client.post(
        "/bureau/org/import",
        data={"csrf_token": token},
        files={"file": ("坏.csv", "单位名称\r\n".encode(), "text/csv")},
    )
    assert bad.status_code == 422 and 'id="import-errors"' in bad.text and "缺少该列" in bad.text
    before = everything(ctx)
    preview = client.post(
        "/bureau/org/import",
        data={"csrf_token": token},
        files={"file": ("全市.xlsx", info_file(), "application/octet-stream")},
    )
    assert preview.status_code == 200 and 'data-dry-run="1"' in preview.text
    assert "教育局食堂" in preview.text and everything(ctx) == before
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload
    done = client.post(
        "/bureau/org/import",
        data={
            "csrf_token": token,
            "payload": payload.group(1),
            "filename": "全市.xlsx",
            "confirm": "yes",
        },
    )
    assert done.status_code == 200 and 'id="import-done"' in done.text
    with ctx.db.read() as conn:
        assert conn.execute(select(Unit.id).where(Unit.code == "U101")).first() is not None
        assert conn.execute(select(Canteen.id).where(Canteen.code == "C101")).first() is not None
    xlsx = client.get("/bureau/org/info-table.xlsx")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")


def settled_with_a_failed_payout(ctx: Context, w: World) -> SandboxBank:
    """Canteen B took 10 yuan in Q1 and is settled; its operator's account is unknown
    at the bank, so the payout comes back failed."""
    bank = gateway(ctx)
    assert isinstance(bank, SandboxBank)
    # The money the world's purses were funded with, at the bank too.
    bank.open_outside_account("43050100000000009999", "市财政局", 100_000)
    bank.credit_from_outside("43050100000000009999", INCOME_ACCOUNT, 100_000, "test funds")
    pay(ctx, w.terminals["B"], PaymentRequest("t1", w.cards["b1"], amount_fen=1000))
    ctx.clock.set(from_local(datetime(2026, 4, 1, 9)))  # type: ignore[attr-defined]
    settlement.settle_quarter(ctx, Actor.system("bureau"), "2026Q1")
    deliver(ctx, bank)
    return bank


def deliver(ctx: Context, bank: SandboxBank) -> None:
    bank.deliver(lambda body, sig: notifications.handle_bank_notification(ctx, body, sig))


def test_a_failed_payout_is_resent_when_the_operator_account_is_corrected_on_the_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    bank = settled_with_a_failed_payout(ctx, w)
    token, _ = sign_in(client, ctx, "Sbu")
    listing = client.get("/bureau/settlements?quarter=2026Q1").text
    assert "付款失败" in listing and "payout_failed<" not in listing and "账户不存在" in listing
    assert f'action="/bureau/org/canteens/{w.canteens["B"]}"' not in listing
    page = client.get(f"/bureau/org/canteens/{w.canteens['B']}").text
    assert 'id="failed-payouts"' in page and "2026Q1" in page
    right = card_number("621700007777000")
    bank.open_outside_account(right, "郴州湘味餐饮管理有限公司", 0)
    r = client.post(
        f"/bureau/org/canteens/{w.canteens['B']}",
        data={"csrf_token": token, "operator_bank_account": right},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "retried=1" in r.headers["location"]
    deliver(ctx, bank)
    with ctx.db.read() as conn:
        status = conn.execute(
            select(Settlement.status).where(Settlement.canteen_id == w.canteens["B"])
        ).scalar_one()
    assert status == "paid" and bank.outside_balance(right) == 995


def test_the_settlement_page_resends_a_failed_payout(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    bank = settled_with_a_failed_payout(ctx, w)
    with ctx.db.read() as conn:
        sid = conn.execute(
            select(Settlement.id).where(Settlement.status == "payout_failed")
        ).scalar_one()
    # The bank's records were fixed: the same account now exists.
    bank.open_outside_account("6217000000000000001", "郴州湘味餐饮管理有限公司", 0)
    token, _ = sign_in(client, ctx, "Sbu")
    r = client.post(
        f"/bureau/settlements/{sid}/retry",
        data={"csrf_token": token, "quarter": "2026Q1", "region": "431000"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith(
        "?quarter=2026Q1&region=431000&msg=retried"
    )  # back to the same quarter and fund region
    assert "已重新发送结算付款" in client.get(r.headers["location"]).text
    deliver(ctx, bank)
    assert len(audits(ctx, "settlement_retry")) == 1
    assert bank.outside_balance("6217000000000000001") == 995
    assert (
        client.post("/bureau/settlements/999/retry", data={"csrf_token": token}).status_code == 404
    )


def test_the_pages_read_in_english(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, "Sbu")
    page = client.get(f"/bureau/org/units/{w.units['A']}?lang=en").text
    assert "Organisation" in page and "Unit bank account" in page and "Retire the unit" in page


def test_a_unit_admin_reports_their_canteen_through_the_information_table(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from openpyxl import load_workbook

    token, _ = sign_in(client, ctx, "Sua")
    a = w.units["A"]
    wb = load_workbook(io.BytesIO(client.get(f"/unit/{a}/info.xlsx").content))
    sheet = wb["食堂"]
    assert sheet.max_row == 2  # this unit's canteen only
    column = [c.value for c in sheet[1]].index("窗口数") + 1
    sheet.cell(2, column, 6)
    buf = io.BytesIO()
    wb.save(buf)
    preview = client.post(
        f"/unit/{a}/import?what=info",
        data={"csrf_token": token},
        files={"file": ("info.xlsx", buf.getvalue(), "application/octet-stream")},
    )
    assert preview.status_code == 200 and "食堂资料变更 1" in preview.text
    assert "窗口数：0 → 6" in preview.text
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload
    done = client.post(
        f"/unit/{a}/import?what=info",
        data={"csrf_token": token, "payload": payload.group(1), "confirm": "yes"},
    )
    assert 'id="import-done"' in done.text
    with ctx.db.read() as conn:
        windows = conn.execute(
            select(Canteen.windows).where(Canteen.id == w.canteens["A"])
        ).scalar_one()
    assert windows == 6
