"""Importing what units fill in: the unit information table (信息统计表, R-U3) and the
staff roster (花名册, R-U2), from Excel (openpyxl) or CSV.

Contract:
- A file is read whole and every row validated before anything is written; every
  problem is reported with its row number (as the spreadsheet shows it, the header is
  row 1) and column name, in Chinese. If there is any problem, ``ImportRejected`` is
  raised carrying all of them (``exc.rows``) and nothing is written.
- ``dry_run`` validates and computes what would change (new / changed / leaving) and
  writes nothing; a real import applies exactly that, in one transaction, and writes an
  audit record. Importing the same file twice changes nothing the second time.
- Money columns are yuan with at most two decimals ("150.00", "150", or an Excel number)
  and become integer fen without touching ``float`` for text; an Excel number cell is
  converted through its shortest decimal text (`str(value)`) and must be a whole number of fen.
- Roster: the file lists every active staff member of each unit it names. People of
  those units missing from the file are *leaving* (their subsidy goes back to the unit
  at once; their cash stays theirs). A staff number already used by another unit, or by
  a person who has left, is an error (a mover leaves and is enrolled again under a new
  staff number). The dining standard is given per month or per quarter (one of the two;
  monthly × 3 = quarterly); empty means the unit's default.
- Unit table: one row per unit, matched by unit name; unknown names are errors.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from onecard.audit import service as audit
from onecard.audit.service import Event
from onecard.core.context import Context
from onecard.core.errors import ImportRejected
from onecard.core.money import fen_from_yuan
from onecard.core.sheets import csv_row, formula_like, unquote, xlsx_append
from onecard.org import builders
from onecard.org.actors import Actor
from onecard.org.models import PERSON_CATEGORIES, Person, Unit

# --- the two tables' columns -----------------------------------------------------------
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
UNIT_INFO_FIELDS = (
    "unit_name",
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
# What the preview says about a cell of ``ImportResult.cells``.
CELL_NOTES = {
    "changed": "变更",
    "formula": "以 = + - @ 或制表符、回车开头：按文本保存，导出时作为文本写出，不会被当作公式",
    "unquoted": "去掉了导出时为防公式而加的单引号",
}
INFO_COLUMN_OF = dict(zip(UNIT_INFO_FIELDS, UNIT_INFO_COLUMNS, strict=True))
ROSTER_COLUMNS: tuple[str, ...] = (
    "工号",
    "姓名",
    "单位",
    "人员类别",
    "手机号",
    "月就餐标准(元)",
    "季度就餐标准(元)",
    "银行卡号",
)
CATEGORY_OF = {
    "在编": "staff",
    "在职": "staff",
    "编外": "contract",
    "合同": "contract",
    "退休": "retired",
    "来宾": "guest",
    **{c: c for c in PERSON_CATEGORIES},
}
CATEGORY_ZH = {"staff": "在编", "contract": "合同", "retired": "退休", "guest": "来宾"}

_PHONE_RE = re.compile(r"[0-9+\-() ]{5,20}")
_STAFF_NO_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CARD_RE = re.compile(r"[0-9A-Za-z]{8,32}")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        return f"第 {self.row} 行「{self.column}」：{self.problem}"


@dataclass
class ImportResult:
    what: str  # roster | unit_info
    dry_run: bool
    rows: int = 0
    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    leaving: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    # Every cell the import changes in the system (``note`` "changed": old → new), or
    # reads otherwise than the file shows ("unquoted": a CSV cell's protective quote
    # removed), or that starts like a formula ("formula": kept as text, exported as
    # text) — row and column as the spreadsheet shows them.
    cells: list[dict[str, Any]] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return not self.dry_run and bool(self.new or self.changed or self.leaving)

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "new": self.new,
            "changed": self.changed,
            "leaving": self.leaving,
            "unchanged": self.unchanged,
            "cells": self.cells,
            "applied": self.applied,
        }

    def note_changes(self, row: int, diff: dict[str, list[Any]], columns: dict[str, str]) -> None:
        for name, (old, new) in diff.items():
            self.cells.append(
                {
                    "row": row,
                    "column": columns.get(name, name),
                    "field": name,
                    "old": old,
                    "new": new,
                    "note": "changed",
                }
            )


def rejected(errors: list[RowError]) -> ImportRejected:
    exc = ImportRejected("；".join(str(e) for e in errors[:20]), count=len(errors))
    exc.rows = errors  # type: ignore[attr-defined]
    return exc


# --- reading files ---------------------------------------------------------------------
def is_excel(data: bytes, filename: str = "") -> bool:
    return data[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm"))


def read_table(data: bytes, filename: str = "") -> list[list[Any]]:
    """Rows of the first sheet of an .xlsx, or of a CSV (UTF-8, BOM optional, or GBK)."""
    if is_excel(data, filename):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ImportRejected(f"无法读取 Excel 文件：{exc}", count=1) from None
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
        return rows
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ImportRejected("文件编码无法识别（请用 UTF-8 或 GBK）", count=1)
    try:
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""), strict=True)]
    except csv.Error as exc:
        raise ImportRejected(f"CSV 格式错误：{exc}", count=1) from None


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _body(
    rows: list[list[Any]],
    columns: tuple[str, ...],
    *,
    from_csv: bool = False,
    notes: list[dict[str, Any]] | None = None,
) -> list[tuple[int, dict[str, str]]]:
    """Check the header; return (row number, {column: text}) for each non-empty row.

    A CSV cell we exported with a protective quote (``core.sheets``) is read as the text
    it stands for; that, and every cell starting like a formula, is added to ``notes``.
    """
    if not rows:
        raise rejected([RowError(1, "表头", "文件为空")])
    header = [_text(h) for h in rows[0]]
    while header and not header[-1]:
        header.pop()
    missing = [c for c in columns if c not in header]
    if missing:
        raise rejected([RowError(1, c, "缺少该列") for c in missing])
    idx = {c: header.index(c) for c in columns}
    out = []
    for n, raw in enumerate(rows[1:], start=2):
        cells = {c: _text(raw[i]) if i < len(raw) else "" for c, i in idx.items()}
        if not any(cells.values()):
            continue
        for c, text in cells.items():
            read = unquote(text) if from_csv else text
            if notes is not None and read != text:
                notes.append(_note(n, c, text, read, "unquoted"))
            if notes is not None and formula_like(read):
                notes.append(_note(n, c, read, read, "formula"))
            cells[c] = read
        out.append((n, cells))
    return out


def _note(row: int, column: str, old: str, new: str, note: str) -> dict[str, Any]:
    return {"row": row, "column": column, "field": "", "old": old, "new": new, "note": note}


def _table_body(
    data: bytes, filename: str, columns: tuple[str, ...], res: ImportResult
) -> list[tuple[int, dict[str, str]]]:
    rows = read_table(data, filename)
    return _body(rows, columns, from_csv=not is_excel(data, filename), notes=res.cells)


def _int_cell(text: str, column: str, row: int, errors: list[RowError], hi: int) -> int:
    if text == "":
        return 0
    if not text.isdigit() or int(text) > hi:
        errors.append(RowError(row, column, f"应为 0–{hi} 的整数"))
        return 0
    return int(text)


def _money_cell(text: str, column: str, row: int, errors: list[RowError]) -> int:
    if text == "":
        return 0
    try:
        return fen_from_yuan(text)
    except ValueError as exc:
        errors.append(RowError(row, column, str(exc)))
        return 0


# --- unit information table ------------------------------------------------------------
def _unit_info_rows(conn: Connection, unit_ids: set[int] | None = None) -> list[list[Any]]:
    """Every unit's row, or only those of ``unit_ids`` (a unit admin's own units)."""
    from onecard.funding.models import UnitInfo

    infos = {r.unit_id: r for r in conn.execute(select(UnitInfo.__table__))}
    out: list[list[Any]] = []
    units = select(Unit.id, Unit.name).order_by(Unit.code)
    if unit_ids is not None:
        units = units.where(Unit.id.in_(sorted(unit_ids)))
    for u in conn.execute(units):
        i = infos.get(u.id)
        if i is None:
            out.append([u.name] + [""] * (len(UNIT_INFO_COLUMNS) - 1))
            continue
        out.append(
            [
                u.name,
                i.canteens,
                i.service_staff,
                i.capacity,
                i.dining_area_m2,
                _yuan(i.breakfast_fen),
                _yuan(i.lunch_fen),
                _yuan(i.dinner_fen),
                i.location,
                i.contact,
                i.phone,
                i.notes,
            ]
        )
    return out


def _yuan(fen: int) -> Decimal:
    """Money in a template: a number of yuan (exact, from integer fen), not text."""
    return Decimal(fen).scaleb(-2)


def _xlsx(title: str, columns: tuple[str, ...], rows: list[list[Any]], note: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    xlsx_append(ws, columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for r in rows:
        xlsx_append(ws, r)
    from openpyxl.utils import get_column_letter

    for i, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, len(c) * 2 + 2)
    help_ws = wb.create_sheet("填表说明")
    for line in note.splitlines():
        xlsx_append(help_ws, [line])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


UNIT_INFO_NOTE = """食堂一卡通 信息统计表 填表说明
每个单位一行，单位名称须与系统中的单位名称一致。
食堂数量、服务人员数、可同时就餐人数、就餐面积填整数；无食堂的单位填 0。
早餐/午餐/晚餐标准填每餐金额（元），最多两位小数。
导入时先检查全部行，有任何错误则不写入任何数据，并列出每个错误的行号和列名。"""

ROSTER_NOTE = """食堂一卡通 人员花名册 填表说明
每人一行。文件中出现的每个单位，须列出该单位全部在职就餐人员：未列出的人员视为离职。
工号：字母、数字、-、_，最多 32 位，全市唯一。
人员类别：在编、合同、退休、来宾。
就餐标准：月标准与季度标准填其一（季度 = 月 × 3）；都不填则用单位默认标准。金额单位为元。
银行卡号：绑定的本人储蓄卡（主账户），自费充值从此卡扣款，离职现金余额退回此卡。
导入时先检查全部行，有任何错误则不写入任何数据，并列出每个错误的行号和列名。"""


def unit_info_template(ctx: Context, unit_ids: set[int] | None = None) -> bytes:
    """The 信息统计表 as an Excel file, pre-filled with every unit (or those of
    ``unit_ids``) and what it reported."""
    with ctx.db.read() as conn:
        rows = _unit_info_rows(conn, unit_ids)
    return _xlsx("信息统计表", UNIT_INFO_COLUMNS, rows, UNIT_INFO_NOTE)


def unit_info_csv(ctx: Context, unit_ids: set[int] | None = None) -> bytes:
    with ctx.db.read() as conn:
        rows = _unit_info_rows(conn, unit_ids)
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(csv_row(UNIT_INFO_COLUMNS))
    w.writerows(csv_row(r) for r in rows)
    return out.getvalue().encode("utf-8-sig")


def import_unit_info(
    ctx: Context, actor: Actor, data: bytes, filename: str = "", *, dry_run: bool = False
) -> ImportResult:
    from onecard.funding.models import UnitInfo

    actor.require("bureau_admin", "clearing_operator", "unit_admin")
    res = ImportResult("unit_info", dry_run)
    body = _table_body(data, filename, UNIT_INFO_COLUMNS, res)
    res.rows = len(body)
    errors: list[RowError] = []
    with ctx.db.read() if dry_run else ctx.db.begin() as conn:
        units = {r.name: int(r.id) for r in conn.execute(select(Unit.id, Unit.name))}
        current = {r.unit_id: r for r in conn.execute(select(UnitInfo.__table__))}
        seen: dict[str, int] = {}
        parsed: list[tuple[int, int, dict[str, Any]]] = []
        for n, cells in body:
            name = cells["单位名称"]
            uid = units.get(name)
            if not name:
                errors.append(RowError(n, "单位名称", "不能为空"))
            elif uid is None:
                errors.append(RowError(n, "单位名称", f"系统中没有名为「{name}」的单位"))
            elif name in seen:
                errors.append(RowError(n, "单位名称", f"与第 {seen[name]} 行重复"))
            else:
                seen[name] = n
                if not actor.manages_unit(uid):
                    errors.append(RowError(n, "单位名称", "无权修改该单位的信息"))
            rec: dict[str, Any] = {
                "canteens": _int_cell(cells["食堂数量"], "食堂数量", n, errors, 999),
                "service_staff": _int_cell(cells["服务人员数"], "服务人员数", n, errors, 99999),
                "capacity": _int_cell(cells["可同时就餐人数"], "可同时就餐人数", n, errors, 99999),
                "dining_area_m2": _int_cell(
                    cells["就餐面积(平方米)"], "就餐面积(平方米)", n, errors, 999999
                ),
                "breakfast_fen": _money_cell(cells["早餐标准(元)"], "早餐标准(元)", n, errors),
                "lunch_fen": _money_cell(cells["午餐标准(元)"], "午餐标准(元)", n, errors),
                "dinner_fen": _money_cell(cells["晚餐标准(元)"], "晚餐标准(元)", n, errors),
                "location": cells["地点"][:200],
                "contact": cells["联系人"][:40],
                "phone": cells["联系电话"],
                "notes": cells["备注"],
            }
            if rec["phone"] and not _PHONE_RE.fullmatch(rec["phone"]):
                errors.append(RowError(n, "联系电话", "格式不正确"))
            if uid is not None:
                parsed.append((n, uid, {"unit_name": name, **rec}))
        if errors:
            raise rejected(errors)
        now = ctx.clock.now()
        events: list[Event] = []
        for n, uid, rec in parsed:
            values = {k: v for k, v in rec.items() if k != "unit_name"}
            old = current.get(uid)
            if old is None:
                res.new.append(rec)
                events.append(
                    Event("unit_info", "unit_info_added", rec["unit_name"], uid, None, None, values)
                )
                if not dry_run:
                    conn.execute(insert(UnitInfo).values(unit_id=uid, updated_at=now, **values))
                continue
            diff = {k: [getattr(old, k), v] for k, v in values.items() if getattr(old, k) != v}
            if not diff:
                res.unchanged += 1
                continue
            res.changed.append({"unit_name": rec["unit_name"], "changes": diff})
            res.note_changes(n, diff, INFO_COLUMN_OF)
            events.append(
                _change_event("unit_info", "unit_info_changed", rec["unit_name"], uid, None, diff)
            )
            if not dry_run:
                conn.execute(
                    update(UnitInfo).where(UnitInfo.unit_id == uid).values(updated_at=now, **values)
                )
        if not dry_run and res.applied:
            # Last write of the transaction (see audit.service): one event per unit
            # changed, then the file's totals.
            summary = {"rows": res.rows, "new": len(res.new), "changed": len(res.changed)}
            only = parsed[0][1] if len(parsed) == 1 else None
            events.append(
                Event("unit_info", "import_unit_info", filename or "信息统计表", only, data=summary)
            )
            audit.append(conn, ctx, actor, events)
    return res


def _change_event(
    kind: str,
    action: str,
    target: str,
    unit_id: int,
    person_id: int | None,
    diff: dict[str, list[Any]],
) -> Event:
    return Event(
        kind,
        action,
        target,
        unit_id,
        person_id,
        before={k: v[0] for k, v in diff.items()},
        after={k: v[1] for k, v in diff.items()},
    )


# --- roster ----------------------------------------------------------------------------
def roster_template(ctx: Context, unit_id: int | None = None) -> bytes:
    """The roster as Excel, pre-filled with the active staff (of one unit, or all)."""
    with ctx.db.read() as conn:
        q = (
            select(
                Person.staff_no,
                Person.name,
                Unit.code,
                Person.category,
                Person.phone,
                Person.standard_fen,
                Person.bank_card_no,
            )
            .join(Unit, Unit.id == Person.unit_id)
            .where(Person.status == "active")
            .order_by(Unit.code, Person.staff_no)
        )
        if unit_id is not None:
            q = q.where(Person.unit_id == unit_id)
        rows = [
            [
                r.staff_no,
                r.name,
                r.code,
                CATEGORY_ZH.get(r.category, r.category),
                r.phone or "",
                "",
                _yuan(r.standard_fen) if r.standard_fen else "",
                r.bank_card_no or "",
            ]
            for r in conn.execute(q)
        ]
    return _xlsx("人员花名册", ROSTER_COLUMNS, rows, ROSTER_NOTE)


@dataclass(frozen=True)
class _RosterRow:
    row: int
    staff_no: str
    name: str
    unit_id: int
    unit_name: str
    category: str
    phone: str | None
    standard_fen: int
    bank_card_no: str | None
    standard_column: str = "季度就餐标准(元)"


ROSTER_COLUMN_OF = {
    "name": "姓名",
    "category": "人员类别",
    "phone": "手机号",
    "bank_card_no": "银行卡号",
}


def import_roster(
    ctx: Context,
    actor: Actor,
    data: bytes,
    filename: str = "",
    *,
    dry_run: bool = False,
    effective: date | None = None,
) -> ImportResult:
    """Validate the whole roster, then (unless ``dry_run``) apply new/changed/leaving.
    Each person added, changed (the fields, before and after — a re-pointed bank card
    included) or leaving is one audit event, then one for the file's totals."""
    from onecard.funding.distribution import mark_left

    actor.require("bureau_admin", "clearing_operator", "unit_admin")
    res = ImportResult("roster", dry_run)
    body = _table_body(data, filename, ROSTER_COLUMNS, res)
    res.rows = len(body)
    day = effective or ctx.clock.today()
    errors: list[RowError] = []
    with ctx.db.read() if dry_run else ctx.db.begin() as conn:
        units = {}
        for u in conn.execute(select(Unit.id, Unit.code, Unit.name, Unit.region_id)):
            units[u.code] = u
            units[u.name] = u
        people = {p.staff_no: p for p in conn.execute(select(Person.__table__))}
        seen: dict[str, int] = {}
        rows: list[_RosterRow] = []
        for n, c in body:
            staff_no, name = c["工号"], c["姓名"]
            if not staff_no:
                errors.append(RowError(n, "工号", "不能为空"))
            elif not _STAFF_NO_RE.fullmatch(staff_no):
                errors.append(RowError(n, "工号", "只能包含字母、数字、- 和 _，最多 32 位"))
            elif staff_no in seen:
                errors.append(RowError(n, "工号", f"与第 {seen[staff_no]} 行重复"))
            else:
                seen[staff_no] = n
            if not name:
                errors.append(RowError(n, "姓名", "不能为空"))
            elif len(name) > 40:
                errors.append(RowError(n, "姓名", "不能超过 40 个字"))
            unit = units.get(c["单位"])
            if not c["单位"]:
                errors.append(RowError(n, "单位", "不能为空"))
            elif unit is None:
                errors.append(RowError(n, "单位", f"系统中没有「{c['单位']}」（填单位代码或名称）"))
            elif not actor.manages_unit(int(unit.id)):
                errors.append(RowError(n, "单位", "无权导入该单位的人员"))
            category = CATEGORY_OF.get(c["人员类别"] or "在编")
            if category is None:
                errors.append(RowError(n, "人员类别", "应为 在编、合同、退休 或 来宾"))
            phone = c["手机号"] or None
            if phone and not _PHONE_RE.fullmatch(phone):
                errors.append(RowError(n, "手机号", "格式不正确"))
            monthly, quarterly = c["月就餐标准(元)"], c["季度就餐标准(元)"]
            std = 0
            if monthly and quarterly:
                errors.append(RowError(n, "季度就餐标准(元)", "月标准与季度标准只能填一个"))
            elif monthly:
                std = _money_cell(monthly, "月就餐标准(元)", n, errors) * 3
            elif quarterly:
                std = _money_cell(quarterly, "季度就餐标准(元)", n, errors)
            card = c["银行卡号"].replace(" ", "") or None
            if card and not _CARD_RE.fullmatch(card):
                errors.append(RowError(n, "银行卡号", "应为 8–32 位数字或字母"))
            known = people.get(staff_no)
            if known is not None and unit is not None:
                if known.status == "left":
                    errors.append(RowError(n, "工号", "该工号人员已离职，重新入职请使用新工号"))
                elif int(known.unit_id) != int(unit.id):
                    errors.append(
                        RowError(n, "单位", "该工号已属于其他单位：调动须先在原单位办理离职")
                    )
            if unit is not None and category is not None:
                rows.append(
                    _RosterRow(
                        n,
                        staff_no,
                        name,
                        int(unit.id),
                        str(unit.name),
                        category,
                        phone,
                        std,
                        card,
                        "月就餐标准(元)" if monthly else "季度就餐标准(元)",
                    )
                )
        if errors:
            raise rejected(errors)

        listed_units = {r.unit_id for r in rows}
        events: list[Event] = []
        for r in rows:
            old = people.get(r.staff_no)
            rec = {
                "staff_no": r.staff_no,
                "name": r.name,
                "unit": r.unit_name,
                "category": r.category,
                "standard_fen": r.standard_fen,
            }
            if old is None:
                res.new.append(rec)
                if not dry_run:
                    region = int(units[r.unit_name].region_id)
                    new_id = builders.create_person(
                        conn,
                        region,
                        r.unit_id,
                        r.staff_no,
                        r.name,
                        category=r.category,
                        phone=r.phone,
                        standard_fen=r.standard_fen,
                        bank_card_no=r.bank_card_no,
                        joined_on=day,
                    )
                    added = {**rec, "phone": r.phone, "bank_card_no": r.bank_card_no}
                    added.pop("unit")
                    events.append(
                        Event("roster", "person_added", _who(r), r.unit_id, new_id, after=added)
                    )
                continue
            want = {
                "name": r.name,
                "category": r.category,
                "phone": r.phone,
                "standard_fen": r.standard_fen,
                "bank_card_no": r.bank_card_no,
            }
            diff = {k: [getattr(old, k), v] for k, v in want.items() if getattr(old, k) != v}
            if not diff:
                res.unchanged += 1
                continue
            res.changed.append({**rec, "changes": diff})
            res.note_changes(r.row, diff, {**ROSTER_COLUMN_OF, "standard_fen": r.standard_column})
            events.append(
                _change_event("roster", "person_changed", _who(r), r.unit_id, int(old.id), diff)
            )
            if not dry_run:
                conn.execute(update(Person).where(Person.id == old.id).values(**want))
        listed = {r.staff_no for r in rows}
        for p in sorted(people.values(), key=lambda p: p.staff_no):
            if p.unit_id in listed_units and p.status == "active" and p.staff_no not in listed:
                unit_name = next(r.unit_name for r in rows if r.unit_id == p.unit_id)
                item = {"staff_no": p.staff_no, "name": p.name, "unit": unit_name}
                if not dry_run:
                    item["subsidy_returned_fen"] = mark_left(conn, ctx, actor.label, p.id, day)
                    events.append(
                        Event(
                            "roster",
                            "person_left",
                            f"{p.staff_no} {p.name}",
                            int(p.unit_id),
                            int(p.id),
                            before={"status": p.status},
                            after={"status": "left", "left_on": day.isoformat()},
                            data={"subsidy_returned_fen": item["subsidy_returned_fen"]},
                        )
                    )
                res.leaving.append(item)
        if not dry_run and res.applied:
            # Last write of the transaction (see audit.service).
            totals = {
                "rows": res.rows,
                "new": len(res.new),
                "changed": len(res.changed),
                "leaving": len(res.leaving),
            }
            only = next(iter(listed_units)) if len(listed_units) == 1 else None
            events.append(Event("roster", "import_roster", filename or "花名册", only, data=totals))
            audit.append(conn, ctx, actor, events)
    return res


def _who(r: _RosterRow) -> str:
    return f"{r.staff_no} {r.name}"
