"""Importing what units fill in: the staff roster (花名册, R-U2) and the unit
information table (信息统计表, R-U3, in ``org.info_table``; its names are re-exported
here), from Excel (openpyxl) or CSV. The spreadsheet plumbing is ``org.tables``.

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
- Unit table: see ``org.info_table`` (the whole city from one file: new units and
  canteens created, the rest updated). A retired unit takes no roster rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update

from onecard.audit import service as audit
from onecard.audit.service import Event
from onecard.core.context import Context
from onecard.org import builders
from onecard.org.actors import Actor
from onecard.org.info_table import (
    UNIT_INFO_COLUMNS,
    UNIT_INFO_TEMPLATE,
    import_unit_info,
    unit_info_csv,
    unit_info_template,
)
from onecard.org.leavers import mark_left
from onecard.org.models import PERSON_CATEGORIES, Person, Unit
from onecard.org.tables import (
    CELL_NOTES,
    ImportResult,
    RowError,
    read_table,
    rejected,
    xlsx,
    yuan_number,
)
from onecard.org.tables import money_cell as _money_cell
from onecard.org.tables import table_body as _table_body

__all__ = [
    "CATEGORY_OF",
    "CELL_NOTES",
    "ROSTER_COLUMNS",
    "UNIT_INFO_COLUMNS",
    "UNIT_INFO_TEMPLATE",
    "ImportResult",
    "RowError",
    "import_roster",
    "import_unit_info",
    "read_table",
    "roster_template",
    "unit_info_csv",
    "unit_info_template",
]

# --- the roster's columns ------------------------------------------------------------
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

ROSTER_NOTE = """食堂一卡通 人员花名册 填表说明
每人一行。文件中出现的每个单位，须列出该单位全部在职就餐人员：未列出的人员视为离职。
工号：字母、数字、-、_，最多 32 位，全市唯一。
人员类别：在编、合同、退休、来宾。
就餐标准：月标准与季度标准填其一（季度 = 月 × 3）；都不填则用单位默认标准。金额单位为元。
银行卡号：绑定的本人储蓄卡（主账户），自费充值从此卡扣款，离职现金余额退回此卡。
导入时先检查全部行，有任何错误则不写入任何数据，并列出每个错误的行号和列名。"""


# What the two standard columns take, on their header cells (the template says which).
ROSTER_HEADER_NOTES = {
    "月就餐标准(元)": "标准类型：月。填每人每月标准（元），系统按 月 × 3 折算为季度标准"
    "（精确到分）。与「季度就餐标准」二选一。",
    "季度就餐标准(元)": "标准类型：季度。填每人每季度标准（元）。与「月就餐标准」二选一；"
    "都不填则用单位默认标准。",
}


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
                yuan_number(r.standard_fen) if r.standard_fen else "",
                r.bank_card_no or "",
            ]
            for r in conn.execute(q)
        ]
    return xlsx([("人员花名册", ROSTER_COLUMNS, rows)], ROSTER_NOTE, ROSTER_HEADER_NOTES)


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
    actor.require_bureau("unit_admin")
    res = ImportResult("roster", dry_run)
    body = _table_body(data, filename, ROSTER_COLUMNS, res)
    res.rows = len(body)
    day = effective or ctx.clock.today()
    errors: list[RowError] = []
    with ctx.db.read() if dry_run else ctx.db.begin() as conn:
        units = {}
        for u in conn.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.region_id).where(Unit.retired_at.is_(None))
        ):
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
