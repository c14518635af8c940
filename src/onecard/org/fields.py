"""The fields of regions, units and canteens as people type them: one parser per field.

Contract: ``clean(specs, raw)`` turns what a page, the API, the CLI or a spreadsheet
cell gave (text, numbers, dates, booleans) into column values, or raises ``BadValue``
naming the field's Chinese label and the problem; the services turn that into an
``InvalidInput`` (or ``InvalidBankAccount``) and the information-table import into a row
error, so every edge reports the same problem in the same words. An empty optional
field means "none" (``None``, or 0 for counts). Unknown field names are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from onecard.core.money import fen_from_yuan
from onecard.org import bank_accounts
from onecard.org.tables import cell_text

CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
REGION_CODE_RE = re.compile(r"[A-Za-z0-9]{1,12}")
PHONE_RE = re.compile(r"[0-9+\-() ]{5,20}")

LEVEL_ZH = {"city": "市直", "county": "县直", "township": "乡镇"}
REGION_LEVEL_ZH = {
    "province": "省",
    "city": "市",
    "county": "县（区）",
    "township": "乡镇（街道）",
}
OPERATION_ZH = {"self": "自营", "outsourced": "委托经营"}
# Whether and how someone without a one card may eat at a canteen (the public directory).
GUEST_ACCESS_ZH = {"none": "仅限持卡工作人员", "appointment": "来客须预约", "open": "欢迎来客就餐"}
LEVEL_OF = {
    **{k: k for k in LEVEL_ZH},
    **{v: k for k, v in LEVEL_ZH.items()},
    "市": "city",
    "市级": "city",
    "县": "county",
    "区": "county",
    "县级": "county",
    "县（区）": "county",
    "乡": "township",
    "镇": "township",
    "街道": "township",
    "乡镇（街道）": "township",
}
OPERATION_OF = {
    "self": "self",
    "outsourced": "outsourced",
    "自营": "self",
    "单位自营": "self",
    "委托": "outsourced",
    "委托经营": "outsourced",
    "外包": "outsourced",
}
GUEST_ACCESS_OF = {
    **{k: k for k in GUEST_ACCESS_ZH},
    **{v: k for k, v in GUEST_ACCESS_ZH.items()},
    "": "none",
    "不对外": "none",
    "仅限工作人员": "none",
    "预约": "appointment",
    "须预约": "appointment",
    "对外开放": "open",
    "开放": "open",
}
# Longitude and latitude as "113.014917,25.770612" (how Amap's coordinate picker gives them).
COORDINATES_RE = re.compile(r"(-?\d{1,3}(?:\.\d{1,8})?)\s*[,，]\s*(-?\d{1,2}(?:\.\d{1,8})?)")
_TRUE = {"true", "1", "yes", "on", "是", "有", "y"}
_FALSE = {"false", "0", "no", "off", "否", "无", "n", ""}


# English names of the fields, for messages in English (the API's Accept-Language: en).
FIELD_EN = {
    "区域代码": "Region code",
    "区域名称": "Region name",
    "区域级别": "Region level",
    "上级区域": "Parent region",
    "单位代码": "Unit code",
    "单位名称": "Unit name",
    "所属区域": "Region",
    "单位级别": "Unit level",
    "单位账户": "Unit bank account",
    "联系人": "Contact",
    "联系电话": "Phone",
    "有无食堂": "Has a canteen",
    "默认每季度就餐经费标准": "Default quarterly dining standard",
    "食堂编码": "Canteen code",
    "食堂名称": "Canteen name",
    "所属单位": "Owner unit",
    "地点": "Address",
    "开放时间": "Opening hours",
    "座位数": "Seats",
    "窗口数": "Windows",
    "服务人员数": "Service staff",
    "就餐面积": "Dining area",
    "经营方式": "Operation",
    "经营者": "Operator",
    "经营者结算账户": "Operator's settlement account",
    "合同开始日期": "Contract start",
    "合同结束日期": "Contract end",
    "所在区县": "District",
    "来客就餐": "Visitors without a card",
    "来客须知": "What visitors should know",
    "经纬度": "Coordinates",
    "备注": "Notes",
    "单位": "Unit",
    "食堂": "Canteen",
    "所在单位": "Person's unit",
}


# How a preview names a changed field (by its column name).
FIELD_NAMES_ZH = {
    "default_standard_fen": "默认每季度就餐经费标准（分）",
    "retired_at": "撤销时间",
    "grants_revoked": "取消的授权",
    "code": "代码",
    "name": "名称",
    "region_id": "所属区域",
    "level": "级别",
    "bank_account": "单位账户",
    "has_canteen": "有无食堂",
    "unit_id": "所属单位",
    "operation": "经营方式",
    "operator_name": "经营者",
    "operator_bank_account": "经营者结算账户",
    "location": "地点",
    "opening_hours": "开放时间",
    "capacity": "座位数",
    "windows": "窗口数",
    "service_staff": "服务人员数",
    "dining_area_m2": "就餐面积",
    "contract_starts": "合同开始日期",
    "contract_ends": "合同结束日期",
    "contact": "联系人",
    "phone": "联系电话",
    "notes": "备注",
    "district": "所在区县",
    "guest_access": "来客就餐",
    "guest_note": "来客须知",
    "coordinates": "经纬度",
    "canteens": "食堂数量",
    "breakfast_fen": "早餐标准",
    "lunch_fen": "午餐标准",
    "dinner_fen": "晚餐标准",
}


class BadValue(ValueError):
    """``field`` (the Chinese label) cannot take the value; ``problem`` says why.

    ``kind`` says which error it becomes at the edge: ``invalid`` (InvalidInput),
    ``bank`` (InvalidBankAccount), ``unknown`` (UnknownReference), ``duplicate``
    (DuplicateCode); ``value`` is what was given, for the last two.
    """

    def __init__(
        self, field: str, problem: str, *, kind: str = "invalid", value: Any = None, en: str = ""
    ) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.field_en = FIELD_EN.get(field, field)
        self.problem = problem
        self.kind = kind
        self.value = value
        self.en = en or problem

    @classmethod
    def unknown(cls, field: str, value: Any) -> BadValue:
        return cls(field, f"不存在：{value}", kind="unknown", value=value)

    @classmethod
    def duplicate(cls, field: str, value: Any) -> BadValue:
        return cls(field, f"「{value}」已被使用", kind="duplicate", value=value)


_text = cell_text  # an Excel number cell 1001.0 reads as "1001"


Parser = Callable[[str, Any], Any]


def text(max_len: int, *, required: bool = False) -> Parser:
    def parse(label: str, v: Any) -> str | None:
        s = _text(v)
        if not s:
            if required:
                raise BadValue(label, "不能为空")
            return None
        if len(s) > max_len:
            raise BadValue(label, f"不能超过 {max_len} 个字")
        return s

    return parse


def plain(max_len: int) -> Parser:
    """Text stored as '' rather than NULL when empty (address, hours, notes)."""
    inner = text(max_len)

    def parse(label: str, v: Any) -> str:
        return inner(label, v) or ""

    return parse


def code(pattern: re.Pattern[str], hint: str) -> Parser:
    def parse(label: str, v: Any) -> str:
        s = _text(v)
        if not s:
            raise BadValue(label, "不能为空")
        if not pattern.fullmatch(s):
            raise BadValue(label, hint)
        return s

    return parse


def count(hi: int) -> Parser:
    def parse(label: str, v: Any) -> int:
        if isinstance(v, bool):
            raise BadValue(label, f"应为 0–{hi} 的整数")
        s = _text(v)
        if s == "":
            return 0
        if not s.isdigit() or int(s) > hi:
            raise BadValue(label, f"应为 0–{hi} 的整数")
        return int(s)

    return parse


def ref(label: str, v: Any) -> int | None:
    """An id (the service checks that it exists)."""
    s = _text(v)
    if s == "":
        return None
    if not s.isdigit():
        raise BadValue(label, "应为编号（整数）")
    return int(s)


def day(label: str, v: Any) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    s = _text(v)
    if not s:
        return None
    try:
        return date.fromisoformat(s.replace("/", "-"))
    except ValueError:
        raise BadValue(label, "日期格式应为 2026-01-31") from None


def flag(label: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = _text(v).lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise BadValue(label, "应为 是 或 否")


def choice(mapping: Mapping[str, str], hint: str) -> Parser:
    def parse(label: str, v: Any) -> str:
        s = _text(v)
        if s not in mapping:
            raise BadValue(label, hint)
        return mapping[s]

    return parse


def phone(label: str, v: Any) -> str | None:
    s = _text(v)
    if not s:
        return None
    if not PHONE_RE.fullmatch(s):
        raise BadValue(label, "格式不正确（5–20 位数字，可含 + - ( ) 和空格）")
    return s


def coordinates(label: str, v: Any) -> str | None:
    """ "lng,lat" in degrees (longitude −180–180, latitude −90–90), kept to 6 decimals."""
    s = _text(v)
    if not s:
        return None
    m = COORDINATES_RE.fullmatch(s)
    if m is None:
        raise BadValue(
            label,
            "格式应为 经度,纬度（如 113.014917,25.770612）",
            en="should be longitude,latitude (e.g. 113.014917,25.770612)",
        )
    lng, lat = Decimal(m.group(1)), Decimal(m.group(2))
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise BadValue(
            label,
            "经度应在 −180 到 180 之间，纬度在 −90 到 90 之间",
            en="longitude must be within −180 to 180, latitude within −90 to 90",
        )
    return f"{lng:.6f},{lat:.6f}"


def bank_account(label: str, v: Any) -> str | None:
    s = _text(v)
    if not s:
        return None
    try:
        return bank_accounts.check(s)
    except bank_accounts.BadAccount as exc:
        raise BadValue(label, exc.zh, kind="bank", en=exc.en) from None


def fen(label: str, v: Any) -> int:
    """A money amount: integer fen from the API, yuan text ("600.00") from people."""
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            raise BadValue(label, "不能为负数")
        return v
    s = _text(v)
    if not s:
        return 0
    try:
        amount = fen_from_yuan(s)
    except ValueError as exc:
        raise BadValue(label, str(exc)) from None
    if amount < 0:
        raise BadValue(label, "不能为负数")
    return amount


@dataclass(frozen=True)
class Spec:
    label: str
    parse: Parser
    # Only the bureau may change it: bank accounts (who gets paid), and what identifies
    # the row or places it in the city.
    bureau_only: bool = False


REGION_FIELDS: dict[str, Spec] = {
    "code": Spec("区域代码", code(REGION_CODE_RE, "只能包含字母和数字，最多 12 位"), True),
    "name": Spec("区域名称", text(60, required=True), True),
    "level": Spec(
        "区域级别", choice(LEVEL_OF, "应为 县（区）或 乡镇（街道）（county / township）"), True
    ),
    "parent_id": Spec("上级区域", ref, True),
}

UNIT_FIELDS: dict[str, Spec] = {
    "code": Spec("单位代码", code(CODE_RE, "只能包含字母、数字、- 和 _，最多 20 位"), True),
    "name": Spec("单位名称", text(100, required=True), True),
    "region_id": Spec("所属区域", ref, True),
    "level": Spec("单位级别", choice(LEVEL_OF, "应为 市直、县直 或 乡镇"), True),
    "bank_account": Spec("单位账户", bank_account, True),
    "contact": Spec("联系人", text(40)),
    "phone": Spec("联系电话", phone),
    "has_canteen": Spec("有无食堂", flag),
    "default_standard_fen": Spec("默认每季度就餐经费标准", fen),
}

CANTEEN_FIELDS: dict[str, Spec] = {
    "code": Spec("食堂编码", code(CODE_RE, "只能包含字母、数字、- 和 _，最多 20 位"), True),
    "name": Spec("食堂名称", text(100, required=True)),
    "unit_id": Spec("所属单位", ref, True),
    "location": Spec("地点", plain(200)),
    "opening_hours": Spec("开放时间", plain(100)),
    "capacity": Spec("座位数", count(99999)),
    "windows": Spec("窗口数", count(999)),
    "service_staff": Spec("服务人员数", count(99999)),
    "dining_area_m2": Spec("就餐面积", count(999999)),
    "operation": Spec("经营方式", choice(OPERATION_OF, "应为 自营 或 委托经营")),
    "operator_name": Spec("经营者", text(100)),
    "operator_bank_account": Spec("经营者结算账户", bank_account, True),
    "contract_starts": Spec("合同开始日期", day),
    "contract_ends": Spec("合同结束日期", day),
    "contact": Spec("联系人", text(40)),
    "phone": Spec("联系电话", phone),
    "notes": Spec("备注", plain(2000)),
    "district": Spec("所在区县", plain(40)),
    "guest_access": Spec(
        "来客就餐", choice(GUEST_ACCESS_OF, "应为 仅限持卡工作人员、来客须预约 或 欢迎来客就餐")
    ),
    "guest_note": Spec("来客须知", plain(500)),
    "coordinates": Spec("经纬度", coordinates),
}


def clean(specs: Mapping[str, Spec], raw: Mapping[str, Any], current: Any = None) -> dict[str, Any]:
    """Every given field parsed; the first problem raises ``BadValue``.

    A bank account given exactly as the ``current`` row holds it is kept unchecked:
    numbers stored before the check existed stay editable around, and are checked the
    moment anyone changes them."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is None:
            raise BadValue(name, "不是可以修改的字段")
        if spec.parse is bank_account and current is not None:
            stored = getattr(current, name)
            if stored and bank_accounts.normalise(_text(value)) == stored:
                out[name] = stored
                continue
        out[name] = spec.parse(spec.label, value)
    return out


def json_value(v: Any) -> Any:
    """A column value as the audit trail and the API show it (dates as ISO text)."""
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v
