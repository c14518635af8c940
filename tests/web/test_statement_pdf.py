"""The PDF statements read as a finance office expects (issue 14 §3): words not codes
(付款状态：付款失败, never ``payout_failed``), the issuing office, the date made (city time),
「第 n 页 共 m 页」 on every page, and the lines for 经办人, 审核人 and 单位盖章."""

from __future__ import annotations

import base64
import re
import zlib

from sqlalchemy import select

from onecard.core.context import Context
from onecard.funding.statements import SIGNATURES, Doc, canteen_statement, to_pdf
from onecard.org.models import Unit
from web.pages import Staff, TestClient, sign_in
from web.test_org_pages import settled_with_a_failed_payout
from world import World

_LITERAL = re.compile(rb"\((?:\\.|[^\\)])*\) Tj", re.S)


def _unescape(lit: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(lit):
        c = lit[i]
        if c == 0x5C:  # backslash: an octal code or an escaped character
            octal = re.match(rb"[0-7]{1,3}", lit[i + 1 : i + 4])
            if octal:
                out.append(int(octal.group(), 8))
                i += 1 + len(octal.group())
                continue
            nxt = lit[i + 1 : i + 2]
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(nxt, nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page's content stream (reportlab: ASCII85 + Flate, the CID font's
    strings in UCS-2)."""
    pages = []
    for m in re.finditer(rb"/ASCII85Decode /FlateDecode \].*?stream\r?\n(.*?)endstream", pdf, re.S):
        raw = m.group(1).strip().removesuffix(b"~>")
        content = zlib.decompress(base64.a85decode(raw))
        texts = [_unescape(t.group()[1:-4]) for t in _LITERAL.finditer(content)]
        pages.append(
            "\n".join(
                t.decode("utf-16-be", "replace") if len(t) % 2 == 0 else t.decode("latin-1")
                for t in texts
            )
        )
    return pages


def test_every_page_is_numbered_and_the_last_has_the_signatures() -> None:
    rows = [[f"第{i}行", i * 100 + 49] for i in range(149)] + [["合计", 123_456_789]]
    doc = Doc(
        title="单位季度对账单 2026Q4",
        issuer="郴州市机关事务管理局",
        made_at="2026-11-30 05:24",
        headers=["项目", "金额（元）"],
        rows=rows,
        money_cols={1},
    )
    pages = pdf_pages(to_pdf(doc))
    n = len(pages)
    assert n >= 3
    for i, text in enumerate(pages, start=1):
        assert f"第 {i} 页 共 {n} 页" in text
        assert "郴州市机关事务管理局" in text
    assert "出具单位：郴州市机关事务管理局" in pages[0] and "2026-11-30 05:24" in pages[0]
    assert SIGNATURES == ("经办人", "审核人", "单位盖章")
    for label in SIGNATURES:
        assert f"{label}：" in pages[-1]
    assert "1.49" in pages[0] and "1,234,567.89" in pages[-1]  # yuan, grouped


def test_the_canteen_statement_has_words_office_and_date(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    settled_with_a_failed_payout(ctx, w)
    doc = canteen_statement(ctx, w.canteens["B"], "2026Q1")
    facts = dict(doc.facts)
    assert facts["付款状态"] == "付款失败"
    with ctx.db.read() as conn:
        bureau = conn.execute(select(Unit.name).where(Unit.id == w.units["C"])).scalar_one()
    assert doc.issuer == bureau
    assert doc.made_at == "2026-04-01 09:00"  # the clock: 09:00 Beijing time on 1 April
    sign_in(client, ctx, staff["fi"])
    pdf = client.get(f"/bureau/settlements/{w.canteens['B']}.pdf?quarter=2026Q1")
    assert pdf.status_code == 200
    [page] = pdf_pages(pdf.content)
    assert "付款状态：付款失败" in page and "payout_failed" not in page
    assert f"出具单位：{bureau}" in page and "制表日期：2026-04-01 09:00" in page
    assert "第 1 页 共 1 页" in page
    assert all(f"{label}：" in page for label in SIGNATURES)
    assert re.search(r"[a-z]+_[a-z]+", page) is None  # no snake_case code anywhere
