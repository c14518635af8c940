"""Statements (对账单/结算单): per canteen settlement, per unit quarter, per person purses.

Contract: ``canteen_statement``, ``unit_statement`` and ``person_statement`` read only
and return a ``Doc`` (title, key figures, one table) of integer fen; ``to_pdf`` renders
it as a Chinese PDF (reportlab's built-in CID font STSong-Light, nothing to ship) and
``to_xlsx`` as an Excel workbook. Yuan with two decimals appear only in the rendering.

A statement reads as a finance office expects: every code as a word (``core.words``:
付款状态：已付款, never ``paid``), the issuing office (the bureau's unit — the unit of the
first bureau administrator — under its own name), the date it was made (city time),
「第 1 页 共 2 页」 on every page, and lines to sign for 经办人, 审核人 and 单位盖章.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from onecard.core.clock import local_text, quarter_bounds, zone_label
from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.core.money import yuan
from onecard.core.words import word
from onecard.funding.errors import check_quarter
from onecard.funding.models import Settlement
from onecard.funding.notices import quarter_receipts
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.ledger.service import account_id
from onecard.org.models import Canteen, Person, RoleGrant, Unit
from onecard.pay.models import Payment

KIND_ZH = {
    "distribution": "经费拨付",
    "payment": "消费",
    "reversal": "冲正",
    "refund": "退款",
    "topup": "自费充值",
    "ecny_payment": "数字人民币消费",
    "ecny_refund": "数字人民币退款",
    "ecny_topup": "数字人民币充值",
    "leaver_return": "离职补贴退回",
    "leaver_refund": "离职现金退卡",
    "year_end": "年末清零",
    "payout_failed": "退卡失败退回",
    "unit_return": "退回单位",
    "test_fund": "入账",
}
OPERATION_ZH = {"self": "单位自营", "outsourced": "委托经营"}
# Who signs a statement, in the order the lines are printed at its foot.
SIGNATURES = ("经办人", "审核人", "单位盖章")
FALLBACK_ISSUER = "食堂一卡通结算中心"


@dataclass
class Doc:
    title: str
    issuer: str = FALLBACK_ISSUER  # the office that issues it (出具单位)
    made_at: str = ""  # when it was made, city time: '2026-11-30 05:24'
    facts: list[tuple[str, str]] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)  # the raw fen, for tests and API
    headers: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)  # ints in *_fen columns stay fen
    money_cols: set[int] = field(default_factory=set)
    signatures: tuple[str, ...] = SIGNATURES


def issuer(conn: Connection) -> str:
    """The issuing office: the bureau's own unit (the first bureau administrator's)."""
    name = conn.execute(
        select(Unit.name)
        .join(Person, Person.unit_id == Unit.id)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.role_code == "bureau_admin")
        .order_by(RoleGrant.id)
        .limit(1)
    ).scalar()
    return str(name) if name else FALLBACK_ISSUER


def _stamp(doc: Doc, ctx: Context, conn: Connection) -> Doc:
    doc.issuer = issuer(conn)
    doc.made_at = local_text(ctx.clock.now())
    return doc


# --- canteen ---------------------------------------------------------------------------
def canteen_statement(ctx: Context, canteen_id: int, quarter: str) -> Doc:
    check_quarter(quarter)
    with ctx.db.read() as conn:
        c = conn.execute(select(Canteen.__table__).where(Canteen.id == canteen_id)).one_or_none()
        if c is None:
            raise NotFound(what="食堂")
        st = conn.execute(
            select(Settlement.__table__).where(
                Settlement.canteen_id == canteen_id, Settlement.quarter == quarter
            )
        ).one_or_none()
        if st is None:
            raise NotFound(what=f"{quarter} 结算单")
        owner = conn.execute(select(Unit.name).where(Unit.id == c.unit_id)).scalar_one()
        office = issuer(conn)
        by_class = conn.execute(
            select(
                Payment.diner_class,
                func.count(),
                func.coalesce(func.sum(Payment.amount_fen - Payment.refunded_fen), 0),
            )
            .join(JournalEntry, JournalEntry.id == Payment.entry_id)
            .where(
                Payment.canteen_id == canteen_id,
                Payment.status == "approved",
                JournalEntry.period == quarter,
            )
            .group_by(Payment.diner_class)
            .order_by(Payment.diner_class)
        ).all()
    doc = Doc(title=f"食堂结算单 {quarter}", issuer=office, made_at=local_text(ctx.clock.now()))
    doc.facts = [
        ("食堂", c.name),
        ("所属单位", owner),
        ("经营方式", OPERATION_ZH.get(c.operation, c.operation)),
        ("经营者", c.operator_name or owner),
        ("消费总额（元）", yuan(st.gross_fen)),
        ("系统管理费 0.5%（元）", yuan(st.fee_fen)),
        ("考核分数", "—" if st.score is None else str(st.score)),
        ("支付比例", f"{st.share_bp / 100:.2f}%"),
        ("考核扣减（元）", yuan(st.withheld_fen)),
        ("实付金额（元）", yuan(st.net_fen)),
        ("付款状态", word(st.status, "settlement")),
    ]
    doc.figures = {
        "gross_fen": st.gross_fen,
        "fee_fen": st.fee_fen,
        "withheld_fen": st.withheld_fen,
        "net_fen": st.net_fen,
    }
    names = {"own": "本单位职工", "visitor": "外单位公务人员", "guest": "来宾"}
    doc.headers = ["就餐人员类别", "笔数", "金额（元）"]
    doc.rows = [[names.get(str(k), str(k)), int(n), int(s)] for k, n, s in by_class]
    doc.money_cols = {2}
    return doc


# --- unit ------------------------------------------------------------------------------
def _sum(conn: Connection, q: Any) -> int:
    return int(conn.execute(q).scalar_one() or 0)


def unit_figures(conn: Connection, unit_id: int, quarter: str) -> dict[str, int]:
    income = account_id(conn, "unit", unit_id, "unit_income")
    returned = account_id(conn, "unit", unit_id, "unit_returned")

    def on(acct: int, kind: str, key_like: str | None = None, period: bool = False) -> Any:
        q = (
            select(func.coalesce(func.sum(Posting.amount), 0))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id == acct, JournalEntry.kind == kind)
        )
        if key_like:
            q = q.where(JournalEntry.idempotency_key.like(key_like))
        if period:
            q = q.where(JournalEntry.period == quarter)
        return q

    consumed = (
        select(func.coalesce(func.sum(Payment.amount_fen - Payment.refunded_fen), 0))
        .join(JournalEntry, JournalEntry.id == Payment.entry_id)
        .join(Canteen, Canteen.id == Payment.canteen_id)
        .where(
            Payment.home_unit_id == unit_id,
            Payment.status == "approved",
            JournalEntry.period == quarter,
        )
    )
    people_subsidy = (
        select(Account.id)
        .join(Person, (Account.owner_kind == "person") & (Account.owner_id == Person.id))
        .where(Person.unit_id == unit_id, Account.kind == "subsidy")
    )
    year_end_q = (
        select(func.coalesce(func.sum(-Posting.amount), 0))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(
            Posting.account_id.in_(people_subsidy),
            JournalEntry.kind == "year_end",
            JournalEntry.idempotency_key.like(f"yearend:{quarter[:4]}:%"),
        )
    )
    return {
        "funds_in_fen": quarter_receipts(conn, unit_id, quarter),
        "transferred_fen": _sum(conn, on(income, "bureau_transfer", period=True)),
        "distributed_fen": -_sum(conn, on(income, "distribution", f"dist:{quarter}:%")),
        "consumed_home_fen": _sum(conn, consumed.where(Canteen.unit_id == unit_id)),
        "consumed_elsewhere_fen": _sum(conn, consumed.where(Canteen.unit_id != unit_id)),
        "leaver_returned_fen": _sum(conn, on(income, "leaver_return", period=True)),
        "withheld_returned_fen": _sum(conn, on(returned, "settlement", f"settle:{quarter}:%")),
        "year_end_cleared_fen": _sum(conn, year_end_q) if quarter.endswith("Q4") else 0,
        "paid_back_fen": -_sum(conn, on(returned, "unit_return", period=True)),
    }


FIGURE_ZH = {
    "funds_in_fen": "单位拨入",
    "transferred_fen": "转入系统收入户",
    "distributed_fen": "拨付到个人",
    "consumed_home_fen": "本单位职工在本单位食堂消费",
    "consumed_elsewhere_fen": "本单位职工在外单位食堂消费",
    "leaver_returned_fen": "离职人员补贴退回",
    "withheld_returned_fen": "食堂考核扣减退回",
    "year_end_cleared_fen": "年末清零退回",
    "paid_back_fen": "已退回单位银行账户",
}


def unit_statement(ctx: Context, unit_id: int, quarter: str) -> Doc:
    check_quarter(quarter)
    with ctx.db.read() as conn:
        u = conn.execute(select(Unit.__table__).where(Unit.id == unit_id)).one_or_none()
        if u is None:
            raise NotFound(what="单位")
        figs = unit_figures(conn, unit_id, quarter)
        doc = _stamp(Doc(title=f"单位季度对账单 {quarter}"), ctx, conn)
    start, end = quarter_bounds(quarter)
    doc.facts = [("单位", u.name), ("期间", f"{start} 至 {end}（不含）")]
    doc.figures = figs
    doc.headers = ["项目", "金额（元）"]
    doc.rows = [[FIGURE_ZH[k], v] for k, v in figs.items()]
    doc.money_cols = {1}
    return doc


# --- person ----------------------------------------------------------------------------
def person_statement(ctx: Context, person_id: int, year: int | None = None) -> Doc:
    with ctx.db.read() as conn:
        p = conn.execute(select(Person.__table__).where(Person.id == person_id)).one_or_none()
        if p is None:
            raise NotFound(what="人员")
        uname = conn.execute(select(Unit.name).where(Unit.id == p.unit_id)).scalar_one()
        sub = account_id(conn, "person", p.id, "subsidy")
        cash = account_id(conn, "person", p.id, "cash")
        rows = conn.execute(
            select(
                JournalEntry.id,
                JournalEntry.booked_at,
                JournalEntry.kind,
                JournalEntry.reference,
                JournalEntry.period,
                Posting.account_id,
                Posting.amount,
            )
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id.in_((sub, cash)))
            .order_by(JournalEntry.id, Posting.id)
        ).all()
        doc = _stamp(Doc(title="个人账户对账单" + (f" {year}" if year else "")), ctx, conn)
    bal = {sub: 0, cash: 0}
    doc.headers = ["时间", "期间", "业务", "摘要", "补贴变动", "现金变动", "补贴余额", "现金余额"]
    doc.money_cols = {4, 5, 6, 7}
    for _eid, at, kind, ref, period, acct, amount in rows:
        bal[acct] += int(amount)
        if year is not None and not str(period).startswith(str(year)):
            continue
        doc.rows.append(
            [
                local_text(at),
                period,
                KIND_ZH.get(kind, kind),
                ref,
                int(amount) if acct == sub else 0,
                int(amount) if acct == cash else 0,
                bal[sub],
                bal[cash],
            ]
        )
    doc.facts = [
        ("姓名", p.name),
        ("工号", p.staff_no),
        ("单位", uname),
        ("补贴余额（元）", yuan(bal[sub])),
        ("现金余额（元）", yuan(bal[cash])),
    ]
    doc.figures = {"subsidy_fen": bal[sub], "cash_fen": bal[cash]}
    return doc


# --- rendering -------------------------------------------------------------------------
def _cell(doc: Doc, i: int, v: Any) -> str:
    return yuan(v, grouped=True) if i in doc.money_cols and isinstance(v, int) else str(v)


def page_label(n: int, total: int) -> str:
    return f"第 {n} 页 共 {total} 页"


def to_pdf(doc: Doc) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))

    class NumberedCanvas(Canvas):
        """Holds every page until the end so each footer can say how many there are."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()  # type: ignore[attr-defined]

        def save(self) -> None:
            total = len(self._pages)
            for n, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(font, 8)
                width = A4[0]
                self.drawString(18 * mm, 10 * mm, f"{doc.issuer} · {doc.title}")
                self.drawRightString(width - 18 * mm, 10 * mm, page_label(n, total))
                super().showPage()
            super().save()

    buf = io.BytesIO()
    pdf = SimpleDocTemplate(
        buf, pagesize=A4, title=doc.title, author=doc.issuer, bottomMargin=20 * mm
    )
    title = ParagraphStyle("t", fontName=font, fontSize=16, leading=22, alignment=1)
    body = ParagraphStyle("b", fontName=font, fontSize=10, leading=14)
    small = ParagraphStyle("s", fontName=font, fontSize=9, leading=13)
    story: list[Any] = [
        Paragraph(doc.title, title),
        Spacer(1, 4),
        Paragraph(f"出具单位：{doc.issuer}　　制表日期：{doc.made_at}（{zone_label()}）", small),
        Spacer(1, 6),
    ]
    for k, v in doc.facts:
        story.append(Paragraph(f"{k}：{v}", body))
    story.append(Spacer(1, 10))
    if doc.headers:
        data = [doc.headers] + [[_cell(doc, i, v) for i, v in enumerate(r)] for r in doc.rows]
        t = Table(data, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), font, 9),
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                    *[("ALIGN", (c, 1), (c, -1), "RIGHT") for c in doc.money_cols],
                ]
            )
        )
        story.append(t)
    # The lines to sign, kept on one page: each name with a rule to write on, the seal
    # with room for the stamp.
    sign = Table(
        [[f"{who}：" for who in doc.signatures], ["" for _ in doc.signatures]],
        colWidths=[56 * mm] * len(doc.signatures),
        rowHeights=[8 * mm, 22 * mm],
    )
    sign.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, 10),
                ("LINEBELOW", (0, 1), (-1, 1), 0.6, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(KeepTogether([Spacer(1, 18), sign, Spacer(1, 4), Paragraph("日期：", small)]))
    pdf.build(story, canvasmaker=NumberedCanvas)
    return buf.getvalue()


def to_xlsx(doc: Doc) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from onecard.core.sheets import xlsx_append

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "对账单"
    # Every row through core.sheets: names and memos come from what units typed.
    xlsx_append(ws, [doc.title])
    ws["A1"].font = Font(bold=True, size=14)
    for k, v in doc.facts:
        xlsx_append(ws, [k, v])
    ws.append([])
    if doc.headers:
        xlsx_append(ws, doc.headers)
        for r in doc.rows:
            # Money as numbers of yuan with two decimals, built from integer fen exactly
            # (a Decimal, never a float computed from fen).
            xlsx_append(
                ws,
                [
                    Decimal(v).scaleb(-2) if i in doc.money_cols and isinstance(v, int) else v
                    for i, v in enumerate(r)
                ],
            )
            for i in doc.money_cols:
                ws.cell(ws.max_row, i + 1).number_format = "#,##0.00"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
