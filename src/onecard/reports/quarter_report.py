"""The director's one-page quarterly report (季度运行报告) as a PDF.

Contract: ``quarter_report(ctx, quarter, region_id)`` reads the roll-ups (the caller folds
first, ``reports.service.catch_up``) and returns a ``funding.statements.Doc``: the headline
figures against last quarter as its facts, the ten canteens with the largest takings as
its table, and the lines to sign. ``region_id``: of that region and those below it only
(issue 17 §1; the caller has checked the reader reaches it), named in the title and the
first fact; ``funding.statements.to_pdf`` prints it on one A4
page (the same library, font, footer and page numbers as the settlement statements).
"""

from __future__ import annotations

from sqlalchemy import select

from onecard.core.clock import local_text, previous_quarter
from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.core.money import yuan
from onecard.funding.statements import Doc, issuer
from onecard.org.fund_regions import subtree
from onecard.org.models import Region
from onecard.reports import figures

TOP_CANTEENS = 10
SIGNATURES = ("制表人", "审核人", "局领导")


def _value(f: figures.Figure, v: int) -> str:
    if f.percent:
        return f"{v / 100:.1f}%"
    if f.money:
        return f"{yuan(v, grouped=True)} 元"
    return f"{v:,}"


def _change(f: figures.Figure) -> str:
    c = f.change
    if f.percent:
        return f"{(f.now - f.before) / 100:+.1f} 个百分点" if f.before else "—"
    return "—" if c is None else f"{c * 100:+.1f}%"


def quarter_report(ctx: Context, quarter: str, region_id: int | None = None) -> Doc:
    within: frozenset[int] | None = None
    name = ""
    with ctx.reports_db.read() as conn:
        office = issuer(conn)
        if region_id is not None:
            name = str(
                conn.execute(select(Region.name).where(Region.id == region_id)).scalar() or ""
            )
            if not name:
                raise NotFound(what="区域")
            within = frozenset(subtree(conn, region_id))
    heads = figures.headline(ctx, quarter, within)
    revenue = figures.revenue(ctx, quarter, within)
    before = previous_quarter(quarter)
    doc = Doc(
        title=f"{name}{quarter[:4]}年第{quarter[5]}季度 食堂一卡通运行报告",
        issuer=office,
        made_at=local_text(ctx.clock.now()),
        signatures=SIGNATURES,
    )
    doc.facts = [("区域", f"{name}（含下级区域）")] if name else []
    doc.facts += [
        (f.label, f"{_value(f, f.now)}（上季度 {before}：{_value(f, f.before)}，{_change(f)}）")
        for f in heads
    ]
    doc.figures = {f.key: f.now for f in heads}
    doc.headers = ["营业额前十的食堂", "笔数", "金额（元）", "其中外单位及来宾（元）"]
    doc.money_cols = {2, 3}
    doc.rows = [r for r in revenue.rows if r[1]][:TOP_CANTEENS]
    return doc
