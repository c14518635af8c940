"""The unit information table (信息统计表, R-U3): the whole city from one file.

The first sheet is the seed's table, one row per unit — name, canteens, service staff,
seats, dining area, meal standards, location, contact, phone, notes — with the
bureau's optional columns 单位代码 / 所属区域 / 单位级别 / 单位账户. A second sheet
named 食堂 (Excel only) lists the canteens, one row each (code, name, owner unit,
operation, operator and their settlement account, address, hours, seats, windows,
contract dates…). A CSV file is the first sheet alone.

Contract:
- Every row of both sheets is checked before anything is written, with the same field
  rules as the administration pages (``org.fields``, ``org.admin``); every problem is
  reported with its sheet, row and column, and on any problem nothing is written.
- A unit row is matched by 单位代码 when given, else by name among units not retired.
  A row that matches nothing creates the unit (its code is then required; its region
  defaults to the city); a canteen row is matched by 食堂编码 and creates the canteen
  when new (owner: a unit of the system or of this file, by code or name). Rows that
  match update what differs: the reported figures always, the unit's and canteen's own
  fields only where the cell is filled in (an empty cell leaves the record as it is).
- ``dry_run`` computes exactly what would change and writes nothing. A real import is
  one transaction: units and canteens through ``org.admin`` (ledger accounts, one audit
  record per change with before/after), each reported row's change audited too, and a
  summary record. The same file twice changes nothing the second time.
- The bureau may do everything; a unit admin only their own unit's rows and canteens,
  and not what only the bureau may change (new units and canteens, bank accounts, codes,
  names, regions) — each such cell is a row error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.funding.models import UnitInfo
from onecard.org import admin, rules
from onecard.org.actors import BUREAU_ROLES, Actor
from onecard.org.errors import unique_races
from onecard.org.fields import (
    CANTEEN_FIELDS,
    CODE_RE,
    GUEST_ACCESS_ZH,
    LEVEL_ZH,
    OPERATION_ZH,
    PHONE_RE,
    UNIT_FIELDS,
    BadValue,
    clean,
    json_value,
)
from onecard.org.models import Canteen, Region, Unit
from onecard.org.tables import (
    ImportResult,
    RowError,
    body,
    cell_text,
    csv_bytes,
    int_cell,
    money_cell,
    read_sheets,
    rejected,
    xlsx,
    yuan_number,
)

UNIT_INFO_COLUMNS: tuple[str, ...] = (
    "单位名称",
    "食堂数量",
    "服务人员数",
    "可同时就餐人数",
    "就餐面积(平方米)",
    "早餐标准(元)",
    "午餐标准(元)",
    "晚餐标准(元)",
    "地点",
    "联系人",
    "联系电话",
    "备注",
)
# The bureau's columns (optional: a unit's own table without them still imports).
UNIT_INFO_EXTRA: tuple[str, ...] = ("单位代码", "所属区域", "单位级别", "单位账户")
UNIT_INFO_TEMPLATE = UNIT_INFO_COLUMNS + UNIT_INFO_EXTRA
UNIT_EXTRA_FIELD = {"单位代码": "code", "单位级别": "level", "单位账户": "bank_account"}

CANTEEN_SHEET = "食堂"
CANTEEN_REQUIRED: tuple[str, ...] = ("食堂编码", "食堂名称", "所属单位")
CANTEEN_COLUMN_FIELD: dict[str, str] = {
    "食堂编码": "code",
    "食堂名称": "name",
    "经营方式": "operation",
    "经营者": "operator_name",
    "经营者结算账户": "operator_bank_account",
    "地点": "location",
    "开放时间": "opening_hours",
    "座位数": "capacity",
    "窗口数": "windows",
    "服务人员数": "service_staff",
    "就餐面积(平方米)": "dining_area_m2",
    "合同开始日期": "contract_starts",
    "合同结束日期": "contract_ends",
    "联系人": "contact",
    "联系电话": "phone",
    "备注": "notes",
    "所在区县": "district",
    "来客就餐": "guest_access",
    "来客须知": "guest_note",
    "经纬度": "coordinates",
}
CANTEEN_COLUMNS: tuple[str, ...] = (
    "食堂编码",
    "食堂名称",
    "所属单位",
    *(c for c in CANTEEN_COLUMN_FIELD if c not in ("食堂编码", "食堂名称")),
)
CANTEEN_OPTIONAL = tuple(c for c in CANTEEN_COLUMNS if c not in CANTEEN_REQUIRED)
# A field problem is reported at the column the field came from.
COLUMN_OF_LABEL = {
    **{CANTEEN_FIELDS[f].label: c for c, f in CANTEEN_COLUMN_FIELD.items()},
    "所属单位": "所属单位",
}
INFO_FIELDS = (
    "canteens",
    "service_staff",
    "capacity",
    "dining_area_m2",
    "breakfast_fen",
    "lunch_fen",
    "dinner_fen",
    "location",
    "contact",
    "phone",
    "notes",
)

UNIT_INFO_NOTE = """食堂一卡通 信息统计表 填表说明
第一张表「信息统计表」每个单位一行。已有单位按单位代码（未填则按单位名称）对应；新单位须填写单位代码，所属区域不填则为本市。
食堂数量、服务人员数、可同时就餐人数、就餐面积填整数；无食堂的单位填 0。
早餐/午餐/晚餐标准填每餐金额（元），最多两位小数。
单位级别：市直、县直 或 乡镇；所属区域填区域代码或名称。单位账户为单位的银行账户（退款打入此账户）。
第二张表「食堂」每个食堂一行，按食堂编码对应，新编码即新建食堂；所属单位填单位代码或名称（可以是本表新增的单位）。
经营方式：自营 或 委托经营（委托经营须填写经营者及其结算账户）。日期填 2026-01-31 这样的格式。
银行账户只填数字（空格和短横线会被忽略），10–30 位；银联卡号（62 开头 16–19 位）须通过校验位检查。
已有单位或食堂的单位代码、名称、区域、账户等栏留空表示不修改；银行账户、代码、名称和区域只能由机关事务局修改。
导入时先检查全部行，有任何错误则不写入任何数据，并列出每个错误所在的表、行号和列名。"""


# --- the template ---------------------------------------------------------------------------
def _unit_rows(conn: Connection, unit_ids: Iterable[int] | None) -> list[list[Any]]:
    infos = {r.unit_id: r for r in conn.execute(select(UnitInfo.__table__))}
    regions = {r.id: r.code for r in conn.execute(select(Region.id, Region.code))}
    counts: dict[int, int] = {}
    for (uid,) in conn.execute(select(Canteen.unit_id).where(Canteen.retired_at.is_(None))):
        counts[int(uid)] = counts.get(int(uid), 0) + 1
    q = select(Unit.__table__).where(Unit.retired_at.is_(None)).order_by(Unit.code)
    if unit_ids is not None:
        q = q.where(Unit.id.in_(sorted(unit_ids)))
    out: list[list[Any]] = []
    for u in conn.execute(q):
        i = infos.get(u.id)
        reported: list[Any] = (
            [counts.get(int(u.id), 0)] + [""] * 10
            if i is None
            else [
                i.canteens,
                i.service_staff,
                i.capacity,
                i.dining_area_m2,
                yuan_number(i.breakfast_fen),
                yuan_number(i.lunch_fen),
                yuan_number(i.dinner_fen),
                i.location,
                i.contact,
                i.phone,
                i.notes,
            ]
        )
        out.append(
            [
                u.name,
                *reported,
                u.code,
                regions[u.region_id],
                LEVEL_ZH[u.level],
                u.bank_account or "",
            ]
        )
    return out


def _canteen_rows(conn: Connection, unit_ids: Iterable[int] | None) -> list[list[Any]]:
    q = (
        select(Canteen.__table__, Unit.code.label("unit_code"))
        .join(Unit, Unit.id == Canteen.unit_id)
        .where(Canteen.retired_at.is_(None))
        .order_by(Canteen.code)
    )
    if unit_ids is not None:
        q = q.where(Canteen.unit_id.in_(sorted(unit_ids)))
    out = []
    for c in conn.execute(q):
        by_field = {f: getattr(c, f) for f in CANTEEN_COLUMN_FIELD.values()}
        by_field["operation"] = OPERATION_ZH[c.operation]
        by_field["guest_access"] = GUEST_ACCESS_ZH[c.guest_access]
        row = [c.code, c.name, c.unit_code]
        for col in CANTEEN_COLUMNS[3:]:
            v = json_value(by_field[CANTEEN_COLUMN_FIELD[col]])
            row.append("" if v is None else v)
        out.append(row)
    return out


def unit_info_template(ctx: Context, units_of: int | Iterable[int] | None = None) -> bytes:
    """The 信息统计表 as Excel, pre-filled with every unit (or one, or those of
    ``units_of``: a unit admin's own) and its canteens."""
    unit_ids = [units_of] if isinstance(units_of, int) else units_of
    with ctx.db.read() as conn:
        units = _unit_rows(conn, unit_ids)
        canteens = _canteen_rows(conn, unit_ids)
    return xlsx(
        [
            ("信息统计表", UNIT_INFO_TEMPLATE, units),
            (CANTEEN_SHEET, CANTEEN_COLUMNS, canteens),
        ],
        UNIT_INFO_NOTE,
    )


def unit_info_csv(ctx: Context, unit_ids: Iterable[int] | None = None) -> bytes:
    """The first sheet (units; all, or those of ``unit_ids``) as CSV; canteens need the
    Excel file's second sheet."""
    with ctx.db.read() as conn:
        return csv_bytes(UNIT_INFO_TEMPLATE, _unit_rows(conn, unit_ids))


OUT_OF_REGION = "不在本区域（及下级区域）管辖范围内"


# --- what the database holds, for matching -------------------------------------------------
@dataclass
class _Known:
    """What the database holds, read once per import; it answers ``rules.Lookup``'s
    questions exactly as the database would inside this transaction."""

    units_by_id: dict[int, Any]
    units_by_code: dict[str, Any]
    units_by_name: dict[str, Any]  # not retired
    units_by_account: dict[str, Any]  # not retired
    regions: dict[str, int]  # code or name → id (not retired)
    region_levels: dict[int, str]
    city: int | None
    canteens: dict[str, Any]  # by code
    infos: dict[int, Any]
    canteen_names: dict[int, list[str]]  # unit id → its canteens not retired

    @classmethod
    def load(cls, conn: Connection) -> _Known:
        units = conn.execute(select(Unit.__table__).order_by(Unit.id)).all()
        regions = conn.execute(select(Region.__table__).where(Region.retired_at.is_(None))).all()
        canteens = conn.execute(select(Canteen.__table__).order_by(Canteen.code)).all()
        names: dict[int, list[str]] = {}
        for c in canteens:
            if c.retired_at is None:
                names.setdefault(int(c.unit_id), []).append(c.name)
        open_units = [u for u in units if u.retired_at is None]
        return cls(
            units_by_id={int(u.id): u for u in units},
            units_by_code={u.code: u for u in units},
            units_by_name={u.name: u for u in open_units},
            units_by_account={u.bank_account: u for u in open_units if u.bank_account},
            regions={
                **{r.name: int(r.id) for r in regions},
                **{r.code: int(r.id) for r in regions},
            },
            region_levels={int(r.id): r.level for r in regions},
            city=next((int(r.id) for r in regions if r.parent_id is None), None),
            canteens={c.code: c for c in canteens},
            infos={r.unit_id: r for r in conn.execute(select(UnitInfo.__table__))},
            canteen_names=names,
        )

    # --- rules.Lookup -------------------------------------------------------------------
    def unit_taken(self, column: str, value: Any, except_id: int | None) -> bool:
        by = {
            "code": self.units_by_code,
            "name": self.units_by_name,
            "bank_account": self.units_by_account,
        }[column]
        u = by.get(value)
        return u is not None and int(u.id) != except_id

    def region_open(self, region_id: int) -> bool:
        return region_id in self.regions.values()

    def unit_open(self, unit_id: int) -> bool:
        u = self.units_by_id.get(unit_id)
        return u is not None and u.retired_at is None

    def canteen_code_taken(self, code: str, except_id: int | None) -> bool:
        c = self.canteens.get(code)
        return c is not None and int(c.id) != except_id

    def open_canteen_names(self, unit_id: int) -> list[str]:
        return self.canteen_names.get(unit_id, [])


@dataclass
class _UnitPlan:
    row: int
    name: str
    code: str
    unit: Any  # the existing row, or None for a new unit
    values: dict[str, Any]  # the unit's own fields that the file sets
    info: dict[str, Any]  # the reported figures
    uid: int | None = None

    @property
    def label(self) -> str:
        return f"{self.code or ''} {self.name}".strip()


@dataclass
class _CanteenPlan:
    row: int
    canteen: Any  # the existing row, or None
    unit: _UnitPlan | Any  # owner: a plan (new unit of this file) or a unit row
    values: dict[str, Any]


@dataclass
class _Check:
    """Collects row errors while the file is read."""

    errors: list[RowError] = field(default_factory=list)

    def add(self, row: int, column: str, problem: str, sheet: str = "") -> None:
        self.errors.append(RowError(row, column, problem, sheet))

    def bad(self, row: int, bad: BadValue, column: str | None = None, sheet: str = "") -> None:
        self.add(row, column or bad.field, bad.problem, sheet)


# --- reading the unit sheet -----------------------------------------------------------------
def _info(cells: dict[str, str], n: int, errors: list[RowError]) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "canteens": int_cell(cells["食堂数量"], "食堂数量", n, errors, 999),
        "service_staff": int_cell(cells["服务人员数"], "服务人员数", n, errors, 99999),
        "capacity": int_cell(cells["可同时就餐人数"], "可同时就餐人数", n, errors, 99999),
        "dining_area_m2": int_cell(
            cells["就餐面积(平方米)"], "就餐面积(平方米)", n, errors, 999999
        ),
        "breakfast_fen": money_cell(cells["早餐标准(元)"], "早餐标准(元)", n, errors),
        "lunch_fen": money_cell(cells["午餐标准(元)"], "午餐标准(元)", n, errors),
        "dinner_fen": money_cell(cells["晚餐标准(元)"], "晚餐标准(元)", n, errors),
        "location": cells["地点"][:200],
        "contact": cells["联系人"][:40],
        "phone": cells["联系电话"],
        "notes": cells["备注"],
    }
    if rec["phone"] and not PHONE_RE.fullmatch(rec["phone"]):
        errors.append(RowError(n, "联系电话", "格式不正确"))
    return rec


def _unit_values(
    cells: dict[str, str], n: int, known: _Known, unit: Any, check: _Check
) -> dict[str, Any]:
    """The unit's own fields the row fills in (empty cells: left as they are)."""
    values: dict[str, Any] = {}
    for column, name in UNIT_EXTRA_FIELD.items():
        text = cells.get(column, "")
        if not text:
            continue
        try:
            values.update(clean(UNIT_FIELDS, {name: text}, unit))
        except BadValue as bad:
            check.bad(n, bad, column)
    region = cells.get("所属区域", "")
    if region:
        if region in known.regions:
            values["region_id"] = known.regions[region]
        else:
            check.add(n, "所属区域", f"系统中没有区域「{region}」（填区域代码或名称）")
    if cells["单位名称"]:
        values["name"] = cells["单位名称"]
        if len(values["name"]) > 100:
            check.add(n, "单位名称", "不能超过 100 个字")
    if unit is None:
        values.setdefault("region_id", known.city)
        if values["region_id"] is not None:
            # A unit of the province itself (省直) is counted with the city-level units.
            values.setdefault("level", rules.unit_level(known.region_levels[values["region_id"]]))
        values["contact"] = cells["联系人"][:40] or None
        values["phone"] = cells["联系电话"] or None
    return values


def _plan_units(
    actor: Actor,
    rows: list[tuple[int, dict[str, str]]],
    known: _Known,
    check: _Check,
) -> list[_UnitPlan]:
    plans: list[_UnitPlan] = []
    names: dict[str, int] = {}
    codes: dict[str, int] = {}
    accounts: dict[str, int] = {}
    for n, cells in rows:
        name, code = cells["单位名称"], cells.get("单位代码", "")
        unit = known.units_by_code.get(code) if code else known.units_by_name.get(name)
        if not name:
            check.add(n, "单位名称", "不能为空")
        elif name in names:
            check.add(n, "单位名称", f"与第 {names[name]} 行重复")
        names.setdefault(name, n)
        if code and code in codes:
            check.add(n, "单位代码", f"与第 {codes[code]} 行重复")
        codes.setdefault(code, n)
        if unit is not None and unit.retired_at is not None:
            check.add(n, "单位代码", f"单位「{unit.name}」已撤销")
            continue
        if unit is None and name and not code:
            check.add(n, "单位名称", f"系统中没有名为「{name}」的单位（新单位须填写单位代码）")
            continue
        if unit is None and not actor.holds(*BUREAU_ROLES):
            check.add(n, "单位名称", "无权新增单位（新单位由机关事务局新增）")
        elif unit is not None and not actor.manages_unit(int(unit.id)):
            check.add(n, "单位名称", "无权修改该单位的信息")
            continue
        errors: list[RowError] = []
        info = _info(cells, n, errors)
        check.errors.extend(errors)
        values = _unit_values(cells, n, known, unit, check)
        acct = values.get("bank_account")
        if acct:
            if acct in accounts:
                check.add(n, "单位账户", f"与第 {accounts[acct]} 行的单位账户相同")
            accounts.setdefault(acct, n)
        plan = _UnitPlan(
            n, name, code or (unit.code if unit is not None else ""), unit, values, info
        )
        _check_unit_plan(known, actor, plan, check)
        plans.append(plan)
    return plans


def _check_unit_plan(known: _Known, actor: Actor, plan: _UnitPlan, check: _Check) -> None:
    """The same rules as an edit on the unit's page (``rules.unit_problems``)."""
    if plan.unit is None:
        final = {**admin.UNIT_DEFAULTS, **plan.values}
        changed = final
        if final.get("region_id") is None:
            check.add(plan.row, "所属区域", "系统中还没有全市区域（先运行 onecard init）")
            return
    else:
        _before, changed = admin.diff(plan.unit, plan.values)
        plan.values = {k: plan.values[k] for k in changed}
        final = {**admin.snapshot(plan.unit, UNIT_FIELDS), **plan.values}
    if "region_id" in changed and not actor.covers_region(final["region_id"]):
        # A region's bureau: its region and those below it (a new unit names its region).
        check.add(plan.row, "所属区域", OUT_OF_REGION)
    if plan.unit is not None and not actor.holds(*BUREAU_ROLES):
        for k in changed:
            if UNIT_FIELDS[k].bureau_only:
                check.add(plan.row, UNIT_COLUMN[UNIT_FIELDS[k].label], "只能由机关事务局修改")
    uid = int(plan.unit.id) if plan.unit is not None else None
    for bad in rules.unit_problems(known, final, changed, uid):
        check.bad(plan.row, bad, UNIT_COLUMN.get(bad.field, bad.field))


# A unit field's problem is reported at the column it came from.
UNIT_COLUMN = {
    "单位代码": "单位代码",
    "单位名称": "单位名称",
    "所属区域": "所属区域",
    "单位级别": "单位级别",
    "单位账户": "单位账户",
    "有无食堂": "食堂数量",
    "联系人": "联系人",
    "联系电话": "联系电话",
}


# --- reading the canteen sheet --------------------------------------------------------------
def _owner(text: str, known: _Known, plans: list[_UnitPlan]) -> _UnitPlan | Any | None:
    for p in plans:
        if text and text in (p.code, p.name):
            return p
    unit = known.units_by_code.get(text) or known.units_by_name.get(text)
    return unit if unit is not None and unit.retired_at is None else None


def _owner_id(owner: _UnitPlan | Any) -> int | None:
    if isinstance(owner, _UnitPlan):
        return owner.unit.id if owner.unit is not None else owner.uid
    return int(owner.id)


def _plan_canteens(
    actor: Actor,
    rows: list[tuple[int, dict[str, Any]]],
    known: _Known,
    units: list[_UnitPlan],
    check: _Check,
) -> list[_CanteenPlan]:
    plans: list[_CanteenPlan] = []
    codes: dict[str, int] = {}
    sheet = CANTEEN_SHEET
    for n, cells in rows:
        code = cell_text(cells["食堂编码"])
        if not code or not CODE_RE.fullmatch(code):
            check.add(n, "食堂编码", "只能包含字母、数字、- 和 _，最多 20 位", sheet)
            continue
        if code in codes:
            check.add(n, "食堂编码", f"与第 {codes[code]} 行重复", sheet)
            continue
        codes[code] = n
        canteen = known.canteens.get(code)
        if canteen is not None and canteen.retired_at is not None:
            check.add(n, "食堂编码", f"食堂「{canteen.name}」已撤销", sheet)
            continue
        owner_text = cell_text(cells["所属单位"])
        owner = _owner(owner_text, known, units)
        if owner is None and (owner_text or canteen is None):
            check.add(n, "所属单位", f"系统和本表中都没有单位「{owner_text}」", sheet)
            continue
        if owner is None and canteen is not None:  # its owner left as it is
            owner = known.units_by_id[int(canteen.unit_id)]
        values: dict[str, Any] = {}
        for column, name in CANTEEN_COLUMN_FIELD.items():
            raw = cells.get(column, "")
            if cell_text(raw) == "":
                continue
            try:
                values.update(clean(CANTEEN_FIELDS, {name: raw}, canteen))
            except BadValue as bad:
                check.bad(n, bad, column, sheet)
        if canteen is None and not actor.holds(*BUREAU_ROLES):
            check.add(n, "食堂编码", "无权新增食堂（新食堂由机关事务局新增）", sheet)
            continue
        owner_id = _owner_id(owner)
        if (
            actor.region_ids is not None
            and owner_id is not None
            and not actor.manages_unit(owner_id)
        ):
            check.add(n, "所属单位", OUT_OF_REGION, sheet)
            continue
        if canteen is not None and not actor.manages_unit(int(canteen.unit_id)):
            check.add(n, "食堂编码", "无权修改该食堂的信息", sheet)
            continue
        plan = _CanteenPlan(n, canteen, owner, values)
        _check_canteen_plan(known, actor, plan, check)
        plans.append(plan)
    return plans


def _check_canteen_plan(known: _Known, actor: Actor, plan: _CanteenPlan, check: _Check) -> None:
    owner_id = _owner_id(plan.unit)
    if plan.canteen is None:
        final = {**admin.CANTEEN_DEFAULTS, **plan.values}
        changed: dict[str, Any] = final
    else:
        if owner_id != plan.canteen.unit_id:
            # (None: a unit new in this file, whose id the import will give it.)
            plan.values["unit_id"] = owner_id
        _before, changed = admin.diff(plan.canteen, plan.values)
        plan.values = {k: plan.values[k] for k in changed}
        final = {**admin.snapshot(plan.canteen, CANTEEN_FIELDS), **plan.values}
        if not actor.holds(*BUREAU_ROLES):
            for k in changed:
                if CANTEEN_FIELDS[k].bureau_only:
                    column = (
                        "所属单位" if k == "unit_id" else COLUMN_OF_LABEL[CANTEEN_FIELDS[k].label]
                    )
                    check.add(plan.row, column, "只能由机关事务局修改", CANTEEN_SHEET)
    cid = int(plan.canteen.id) if plan.canteen is not None else None
    for bad in rules.canteen_problems(known, final, changed, cid, check_unit=False):
        check.bad(plan.row, bad, COLUMN_OF_LABEL.get(bad.field, bad.field), CANTEEN_SHEET)


# --- the import -------------------------------------------------------------------------------
def _sheets(
    data: bytes, filename: str, notes: list[dict[str, Any]]
) -> tuple[list[tuple[int, dict[str, str]]], list[Any]]:
    sheets = read_sheets(data, filename)
    names = list(sheets)
    first = sheets[names[0]] if names else []
    # A CSV's protective quotes (our own export) are taken off; they and formula-like
    # cells are listed in the preview.
    from_csv = not (data[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm")))
    units = body(first, UNIT_INFO_COLUMNS, UNIT_INFO_EXTRA, from_csv=from_csv, notes=notes)
    canteen_rows = sheets.get(CANTEEN_SHEET) if names and names[0] != CANTEEN_SHEET else None
    canteens: list[Any] = []
    if canteen_rows:
        canteens = body(
            canteen_rows,
            CANTEEN_REQUIRED,
            CANTEEN_OPTIONAL,
            sheet=CANTEEN_SHEET,
            raw=True,
            notes=notes,
        )
    return units, canteens


def import_unit_info(
    ctx: Context, actor: Actor, data: bytes, filename: str = "", *, dry_run: bool = False
) -> ImportResult:
    """Check the whole file, then (unless ``dry_run``) create and update what it says.
    A region's bureau: the rows of its region and those below it (others are row errors)."""
    if not actor.holds(*BUREAU_ROLES):
        actor.require("unit_admin")
    notes: list[dict[str, Any]] = []
    unit_rows, canteen_rows = _sheets(data, filename, notes)
    res = ImportResult("unit_info", dry_run, rows=len(unit_rows) + len(canteen_rows))
    res.cells.extend(notes)
    check = _Check()
    with unique_races(), ctx.db.read() if dry_run else ctx.db.begin() as conn:
        known = _Known.load(conn)
        units = _plan_units(actor, unit_rows, known, check)
        canteens = _plan_canteens(actor, canteen_rows, known, units, check)
        _canteen_flags(units, canteens, known)
        if check.errors:
            raise rejected(check.errors)
        _preview(res, units, canteens, known)
        if not dry_run:
            _apply(conn, ctx, actor, units, canteens, known)
            if res.applied:
                audit.record(
                    conn,
                    ctx,
                    actor,
                    "import_unit_info",
                    filename or "信息统计表",
                    {
                        "rows": res.rows,
                        "new": len(res.new),
                        "changed": len(res.changed),
                        "units_new": len(res.units_new),
                        "units_changed": len(res.units_changed),
                        "canteens_new": len(res.canteens_new),
                        "canteens_changed": len(res.canteens_changed),
                    },
                )
    return res


def _canteen_flags(units: list[_UnitPlan], canteens: list[_CanteenPlan], known: _Known) -> None:
    """A unit has a canteen when it reports one, or one is registered or listed for it."""
    listed = {id(c.unit) for c in canteens}
    listed_ids = {_owner_id(c.unit) for c in canteens}
    for p in units:
        uid = int(p.unit.id) if p.unit is not None else None
        has = (
            p.info["canteens"] > 0
            or id(p) in listed
            or (uid is not None and (bool(known.open_canteen_names(uid)) or uid in listed_ids))
        )
        if p.unit is None or bool(p.unit.has_canteen) != has:
            p.values["has_canteen"] = has


def _preview(
    res: ImportResult, units: list[_UnitPlan], canteens: list[_CanteenPlan], known: _Known
) -> None:
    for p in units:
        if p.unit is None:
            res.units_new.append({"code": p.code, "name": p.name})
        elif p.values:
            before, after = admin.diff(p.unit, p.values)
            res.units_changed.append(
                {"code": p.code, "name": p.unit.name, "changes": _pairs(before, after)}
            )
        old = known.infos.get(p.unit.id) if p.unit is not None else None
        if old is None:
            res.new.append({"unit_name": p.name, **p.info})
            continue
        diff = {k: [getattr(old, k), v] for k, v in p.info.items() if getattr(old, k) != v}
        if diff:
            res.changed.append({"unit_name": p.name, "changes": diff})
        elif p.unit is not None and not p.values:
            res.unchanged += 1
    for c in canteens:
        if c.canteen is None:
            res.canteens_new.append(
                {"code": c.values.get("code"), "name": c.values.get("name"), "unit": c.unit.name}
            )
        elif c.values:
            before, after = admin.diff(c.canteen, c.values)
            res.canteens_changed.append(
                {"code": c.canteen.code, "name": c.canteen.name, "changes": _pairs(before, after)}
            )


def _pairs(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before[k], after[k]] for k in after}


def _apply(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    units: list[_UnitPlan],
    canteens: list[_CanteenPlan],
    known: _Known,
) -> None:
    now = ctx.clock.now()
    for p in units:
        if p.unit is None:
            values = {**p.values, "code": p.code}
            p.uid, _change = admin.insert_unit(conn, ctx, actor, values, checked=True)
        else:
            p.uid = int(p.unit.id)
            if p.values:
                admin.apply_unit(conn, ctx, actor, p.unit, p.values)
        old = known.infos.get(p.uid)
        if old is None:
            conn.execute(insert(UnitInfo).values(unit_id=p.uid, updated_at=now, **p.info))
            totals: dict[str, Any] = {"before": None, "after": p.info}
        else:
            before = {k: getattr(old, k) for k in INFO_FIELDS if getattr(old, k) != p.info[k]}
            if not before:
                continue
            conn.execute(
                update(UnitInfo).where(UnitInfo.unit_id == p.uid).values(updated_at=now, **p.info)
            )
            totals = {"before": before, "after": {k: p.info[k] for k in before}}
        # What the unit reported, before and after (its first report: before is None).
        scope = admin.scope_of("unit", p.code, p.name)
        audit.record(conn, ctx, actor, "org_unit_info_update", scope, totals)
    for c in canteens:
        if c.canteen is None:
            values = {**c.values, "unit_id": _owner_id(c.unit)}
            admin.insert_canteen(conn, ctx, actor, values, checked=True)
        elif c.values:
            if "unit_id" in c.values and isinstance(c.unit, _UnitPlan):
                c.values["unit_id"] = c.unit.uid
            admin.apply_canteen(conn, ctx, actor, c.canteen, c.values)
