"""The reconciliation page: a statement file uploaded (CSV or the bank's Excel) is read
once and reconciled; an unclaimed receipt is assigned to a unit's notice; with the file
exchange the batch file is downloaded and the bank's return file read back."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from onecard.channels.bank import DINING_FUND_ACCOUNT, gateway
from onecard.channels.files import FileExchangeBank
from onecard.channels.sandbox import SandboxBank
from onecard.core.context import Context
from onecard.funding import notices
from onecard.funding.models import BankOrder
from onecard.org.actors import Actor
from web.pages import Staff, TestClient, sign_in
from world import World

URL = "/bureau/reconciliation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BUREAU = Actor.system("bureau")


def _paid_in(ctx: Context) -> SandboxBank:
    """Notices issued; unit A pays its own, someone nobody knows pays too."""
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    bank = gateway(ctx)
    assert isinstance(bank, SandboxBank)
    bank.open_outside_account("43050100000000000101", "市财政局", 10_000_000)
    bank.open_outside_account("99990000", "某不明单位", 50_000)
    bank.credit_from_outside("43050100000000000101", DINING_FUND_ACCOUNT, 180000, "JF-U001-2026Q1")
    bank.credit_from_outside("99990000", DINING_FUND_ACCOUNT, 1234, "伙食费")
    return bank


def _upload(client: TestClient, token: str, name: str, data: bytes, path: str = "statement") -> Any:
    kind = XLSX if name.endswith(".xlsx") else "text/csv"
    return client.post(
        f"{URL}/{path}", data={"csrf_token": token}, files={"file": (name, data, kind)}
    )


def test_a_statement_is_uploaded_reconciled_and_a_receipt_assigned(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _paid_in(ctx)
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get(URL).text
    assert "上传并对账" in page and "沙箱银行" in page
    got = client.get(f"{URL}/sandbox-statement", params={"day": "2026-03-10", "fmt": "xlsx"})
    assert got.status_code == 200 and got.headers["content-type"] == XLSX
    assert "filename*=UTF-8''statement-2026-03-10.xlsx" in got.headers["content-disposition"]
    r = _upload(client, token, "明细.xlsx", got.content)
    assert r.status_code == 200, r.text
    assert "已读入" in r.text and "未认领来款 1" in r.text and "已匹配 1" in r.text
    serial = re.search(r'name="serial" value="([^"]+)"', r.text)
    notice = re.search(r'<option value="(\d+)">JF-U003-2026Q1 市档案馆', r.text)
    assert serial and notice
    r = client.post(
        f"{URL}/assign",
        data={"csrf_token": token, "serial": serial.group(1), "notice_id": notice.group(1)},
    )
    assert r.status_code == 200 and "已认领：市档案馆 JF-U003-2026Q1" in r.text
    assert "已匹配 2" in r.text and "未认领来款 0" in r.text
    status = {s["reference"]: s["paid_fen"] for s in notices.notice_status(ctx, "2026Q1")}
    assert status["JF-U003-2026Q1"] == 1234
    # The same statement again (as CSV this time): nothing changes.
    csv = client.get(f"{URL}/sandbox-statement", params={"day": "2026-03-10"}).content
    r = _upload(client, token, "明细.csv", csv)
    assert r.status_code == 200 and "此前已读入，本次无变化" in r.text
    assert "与上次对账结果相同" in r.text
    log = client.get("/bureau/audit").text
    assert "bank_statement" in log and "assign_receipt" in log


def test_a_bad_statement_is_refused_with_its_rows(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sbu")
    header = "交易日期,交易时间,流水号,借贷标志,金额(元),对方户名,对方账号,摘要/附言,余额,本方账号"
    bad = f"{header}\r\n2026-03-10,09:30:00,S1,贷,1.5,张三,1,memo,1.50,{DINING_FUND_ACCOUNT}\r\n"
    r = _upload(client, token, "bad.csv", bad.encode())
    assert r.status_code == 422 and "第 2 行「金额(元)」" in r.text
    r = _upload(client, token, "empty.csv", b"")
    assert r.status_code == 422 and "请选择银行对账单文件" in r.text


def test_finance_reads_but_does_not_upload(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    bank = _paid_in(ctx)
    token, _ = sign_in(client, ctx, "Sfi")
    page = client.get(URL).text
    assert 'id="statement-upload"' not in page and 'id="reconcile-day"' in page
    data = bank.statement_file(ctx.clock.today())
    assert _upload(client, token, "s.csv", data).status_code == 403
    r = client.post(URL, data={"csrf_token": token, "day": "2026-03-10"})
    assert r.status_code == 200 and "银行有、系统无 2" in r.text  # not booked yet


def test_the_file_exchange_on_the_page(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    online = _paid_in(ctx)
    ctx.bank = FileExchangeBank(ctx.db, ctx.clock)
    token, _ = sign_in(client, ctx, "Sbu")
    today = ctx.clock.today()
    assert _upload(client, token, "s.xlsx", online.statement_xlsx(today)).status_code == 200
    notices.transfer_to_income(ctx, BUREAU)  # unit A's receipt: one transfer waits
    page = client.get(URL).text
    assert "文件交换" in page and "待发送 <strong>1</strong>" in page
    r = client.post(f"{URL}/batch", data={"csrf_token": token, "kind": "transfers", "fmt": "xlsx"})
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    assert "attachment" in r.headers["content-disposition"]
    assert "待发送 <strong>0</strong>" in client.get(URL).text
    again = client.post(f"{URL}/batch", data={"csrf_token": token, "kind": "transfers"})
    assert "没有等待发送的指令" in again.text
    batch_data = r.content
    returns = online.process_batch_file(batch_data, "batch.xlsx", "csv")
    r = _upload(client, token, "结果.csv", returns, "returns")
    assert r.status_code == 200 and "成功" in r.text and "已读入" in r.text
    with ctx.db.read() as conn:
        assert conn.execute(select(BankOrder.status)).scalar_one() == "succeeded"
    files = client.get(URL).text
    listed = re.findall(rf'href="{URL}/files/(\d+)"', files)
    assert len(listed) == 3  # statement, batch, returns
    batch = client.get(f"{URL}/files/{listed[1]}")  # newest first: returns, batch, statement
    assert batch.status_code == 200 and batch.content == batch_data
    r = _upload(client, token, "结果.csv", returns, "returns")
    assert "此前已读入，本次无变化" in r.text
