"""The files a new city brings to OneCard, shared by the journey tests (the browser's
``web/test_browser_city_from_zero.py`` and the API's ``test_city_from_zero_api.py``):
the city's information table (信息统计表) in the documented template's layout — the
units sheet and the 食堂 sheet — with 3 units and 2 canteens (C102 outsourced, with its
operator's settlement account), optionally broken in one way, and U101's roster."""

from __future__ import annotations

import io

from openpyxl import Workbook

from onecard.org.info_table import CANTEEN_COLUMNS, UNIT_INFO_TEMPLATE
from org.orgtools import bad_card_number, card_number

UNIT_BANK = card_number("621700001010100")
OPERATOR_BANK = card_number("621700002020200")


def info_table(
    *, duplicate: bool = False, unknown_owner: bool = False, bad_bank: bool = False
) -> bytes:
    """The city's 信息统计表 in the template's layout: the units sheet and the 食堂 sheet."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "信息统计表"
    ws.append(list(UNIT_INFO_TEMPLATE))
    units = [
        {"单位名称": "市教育局", "单位代码": "U101", "食堂数量": 1, "可同时就餐人数": 120,
         "午餐标准(元)": "12", "联系人": "周敏", "单位账户": UNIT_BANK},
        {"单位名称": "市财政局", "单位代码": "U102", "食堂数量": 1, "午餐标准(元)": "12"},
        {"单位名称": "市档案馆", "单位代码": "U102" if duplicate else "U103", "食堂数量": 0},
    ]  # fmt: skip
    for u in units:
        ws.append([u.get(c, "") for c in UNIT_INFO_TEMPLATE])
    cs = wb.create_sheet("食堂")
    cs.append(list(CANTEEN_COLUMNS))
    canteens = [
        {"食堂编码": "C101", "食堂名称": "教育局机关食堂", "所属单位": "U101",
         "经营方式": "自营", "窗口数": 1, "座位数": 80, "地点": "五岭大道 1 号",
         "开放时间": "11:30-13:00"},
        {"食堂编码": "C102", "食堂名称": "财政局职工食堂",
         "所属单位": "U999" if unknown_owner else "U102", "经营方式": "委托经营",
         "经营者": "郴州好味餐饮有限公司",
         "经营者结算账户": bad_card_number("621700002020200") if bad_bank else OPERATOR_BANK,
         "窗口数": 2},
    ]  # fmt: skip
    for c in canteens:
        cs.append([c.get(k, "") for k in CANTEEN_COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def roster() -> bytes:
    """U101's roster (org/imports.ROSTER_COLUMNS), its unit admin among its people."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "工号",
            "姓名",
            "单位",
            "人员类别",
            "手机号",
            "月就餐标准(元)",
            "季度就餐标准(元)",
            "银行卡号",
        ]
    )
    ws.append(["UA101", "钱进", "U101", "在编", "", "", "600", ""])
    ws.append(["P1001", "李娜", "U101", "在编", "13800000001", "", "600", ""])
    ws.append(["P1002", "王强", "U101", "合同", "13800000002", "", "600", ""])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
