"""The audit trail as the bureau reads it: filtered by person, unit, kind and date, newest
first, in Beijing time, on the page and in Excel.

Contract: ``AuditQuery`` holds the filters (``parse`` checks text from a form or the CLI
and raises ``InvalidInput``); ``search(ctx, query, limit)`` returns display rows (plain
dicts) newest first; ``as_table(rows)`` is the Excel table (``core.tables``, so every
cell is written as text or number, never as a formula). Dates are Beijing calendar days:
``since`` and ``until`` are both included. A person filter matches a staff number exactly
or a name in part, and finds events the person made or that concern them.

Regions (issue 17 §1): ``search(..., reader=actor)`` checks the reader again (a city
reader — bureau, finance, auditor — in whatever region, else ``Forbidden``) and, for one
whose roles are held for a region, keeps the events whose subject lies in its regions:
the unit the event concerns (``unit_id``: a unit's, canteen's or terminal's changes carry
the owning unit) or the person it concerns (``person_id``) belongs to one of them; a money run of a
fund region among them (no unit or person; its scope ends in " [code]" of that fund
region) is theirs too. Any other event with neither (a run of the top region, a city
setting) is the whole deployment's and only its readers see it. The subject's region is read when searching,
not stored on the event: the chain's hash covers every field of an event, and the unit
and person already name the subject (docs/web.md, "Audit trail by region").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, or_, select

from onecard.audit.models import AuditEvent
from onecard.audit.service import KINDS
from onecard.core.clock import from_local, local_text
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput
from onecard.core.money import yuan
from onecard.core.tables import Table
from onecard.core.words import WORDS, grouped, who
from onecard.org.actors import CITY_READERS, Actor
from onecard.org.models import Person, Region, Unit

PAGE_LIMIT = 500
EXPORT_LIMIT = 100_000

# What each audited action is called (one vocabulary: ``core.words``).
ACTION_ZH: dict[str, str] = WORDS["action"]


@dataclass(frozen=True)
class AuditQuery:
    person: str = ""
    unit: str = ""  # unit id, code or name
    kind: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(
        cls, person: str = "", unit: str = "", kind: str = "", since: str = "", until: str = ""
    ) -> AuditQuery:
        kind = kind.strip()
        if kind and kind not in KINDS:
            raise InvalidInput(f"未知类别：{kind}")
        q = cls(person.strip()[:40], unit.strip()[:100], kind, _day(since), _day(until))
        if q.since and q.until and q.since > q.until:
            raise InvalidInput("起始日期不能晚于结束日期")
        return q


def _day(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"日期格式应为 YYYY-MM-DD：{text}") from None


def _unit_id(conn: Any, text: str) -> int | None:
    q = select(Unit.id).where(or_(Unit.code == text, Unit.name == text))
    if text.isdigit():
        q = select(Unit.id).where(or_(Unit.id == int(text), Unit.code == text))
    found = conn.execute(q.limit(1)).scalar()
    return int(found) if found is not None else None


def in_regions(regions: frozenset[int]) -> ColumnElement[bool]:
    """The events whose unit or person belongs to one of ``regions`` (see the contract),
    and the money runs of the fund regions among them: a run names no unit or person,
    and its scope ends in its fund region's code (``funding.regions.FundRegion.scope``:
    "2026Q1 [431021]")."""
    ids = sorted(regions)
    run_of = (
        select(Region.id)
        .where(
            Region.id.in_(ids),
            Region.own_fund,
            AuditEvent.target.like(literal("% [") + Region.code + literal("]")),
        )
        .exists()
    )
    return or_(
        AuditEvent.unit_id.in_(select(Unit.id).where(Unit.region_id.in_(ids))),
        AuditEvent.person_id.in_(select(Person.id).where(Person.region_id.in_(ids))),
        and_(AuditEvent.unit_id.is_(None), AuditEvent.person_id.is_(None), run_of),
    )


def search(
    ctx: Context, query: AuditQuery, limit: int = PAGE_LIMIT, *, reader: Actor | None = None
) -> list[dict[str, Any]]:
    """``reader``: the person asking (its regions bound the rows); None: the system (CLI)."""
    ev = AuditEvent
    stmt = select(ev.__table__).order_by(ev.seq.desc()).limit(limit)
    if reader is not None:
        if not reader.holds(*CITY_READERS):
            raise Forbidden()
        if reader.region_ids is not None:
            stmt = stmt.where(in_regions(reader.region_ids))
    with ctx.db.read() as conn:
        if query.kind:
            stmt = stmt.where(ev.kind == query.kind)
        if query.since:
            stmt = stmt.where(
                ev.at >= from_local(datetime.combine(query.since, datetime.min.time()))
            )
        if query.until:
            end = query.until + timedelta(days=1)
            stmt = stmt.where(ev.at < from_local(datetime.combine(end, datetime.min.time())))
        if query.unit:
            uid = _unit_id(conn, query.unit)
            stmt = stmt.where(ev.unit_id == (uid if uid is not None else -1))
        if query.person:
            like = f"%{query.person}%"
            ids = list(
                conn.execute(
                    select(Person.id)
                    .where(or_(Person.staff_no == query.person, Person.name.like(like)))
                    .limit(200)
                ).scalars()
            )
            stmt = stmt.where(
                or_(ev.person_id.in_(ids), ev.actor_person_id.in_(ids), ev.actor.like(like))
            )
        rows = list(conn.execute(stmt).all())
        names = _names(conn, rows)
        regions = _fund_region_names(conn, rows)
    return [_display(r, names, regions) for r in rows]


# A money run of a fund region below the top keeps the region's code at the end of its
# scope (``2026Q4 [431021]``, ``funding.regions.FundRegion.scope``): the stored target is
# what ``in_regions`` matches; a person reads the region's name instead.
_SCOPED = re.compile(r"^(?P<scope>.*) \[(?P<code>[0-9A-Za-z_-]{1,32})\]$")


def _run_scope(r: Any) -> re.Match[str] | None:
    """A fund region's run: no unit or person, a scope ending in a code (as ``in_regions``)."""
    if r.unit_id is not None or r.person_id is not None:
        return None
    return _SCOPED.match(r.target or "")


def _fund_region_names(conn: Any, rows: list[Any]) -> dict[str, str]:
    codes = {m["code"] for r in rows if (m := _run_scope(r))}
    if not codes:
        return {}
    found = conn.execute(
        select(Region.code, Region.name).where(Region.code.in_(codes), Region.own_fund)
    )
    return {str(code): str(name) for code, name in found}


def _target_text(r: Any, names: dict[tuple[str, int], str], regions: dict[str, str]) -> str:
    m = _run_scope(r)
    if m and m["code"] in regions:
        return f"{m['scope']} · {regions[m['code']]}"
    return who(r.target, names)


def _names(conn: Any, rows: list[Any]) -> dict[tuple[str, int], str]:
    """Display names of the people and units the rows mention, in two queries."""
    pids = {r.person_id for r in rows} | {r.actor_person_id for r in rows}
    uids = {r.unit_id for r in rows}
    for r in rows:  # a target that names a record by id (``person:23``, ``unit:4``)
        kind, _, rest = (r.target or "").partition(":")
        ident = rest.split(":", 1)[0]
        if ident.isdigit() and kind in ("person", "unit"):
            (pids if kind == "person" else uids).add(int(ident))
    out: dict[tuple[str, int], str] = {}
    pids.discard(None)
    uids.discard(None)
    if pids:
        for pid, staff_no, name in conn.execute(
            select(Person.id, Person.staff_no, Person.name).where(Person.id.in_(pids))
        ):
            out[("person", int(pid))] = f"{name}（{staff_no}）"
    if uids:
        for uid, name in conn.execute(select(Unit.id, Unit.name).where(Unit.id.in_(uids))):
            out[("unit", int(uid))] = str(name)
    return out


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


# How the page and the export name the fields and codes events carry (the stored JSON
# keeps the machine names).
FIELD_ZH: dict[str, str] = {
    "retired_at": "撤销时间",
    "expires_at": "有效期至",
    "people": "人数",
    "units": "单位数",
    "canteens": "食堂数",
    "status": "状态",
    "new_card_no": "新卡号",
    "token": "付款码标识",
    "sessions_ended": "已退出登录",
    "serves_visitors": "对外单位开放",
    "serves_guests": "对来宾开放",
    "purse_order": "扣款顺序",
    "name": "名称",
    "starts": "开始",
    "ends": "结束",
    "per_person_limit": "每人次数上限",
    "prices": "餐价（元）",
    "canteen": "食堂",
    "rollout_status": "上线状态",
    "refunded_fen": "已退金额（元）",
    "amount_fen": "金额（元）",
    "reason": "原因",
    "staff_no": "工号",
    "category": "人员类别",
    "phone": "手机号",
    "standard_fen": "季度标准（元）",
    "bank_card_no": "银行卡号",
    "left_on": "离职日期",
    "subsidy_returned_fen": "补贴退回（元）",
    "bands": "考核分档",
    "score": "分数",
    "unit_id": "单位",
    "late": "逾期",
    "rows": "行数",
    "new": "新增",
    "changed": "变更",
    "leaving": "离职",
    "address": "来源地址",
    # What the money runs count and move (the same words as ``onecard funding``).
    "amount_due_fen": "应缴（元）",
    "already_fen": "此前已拨付（元）",
    "available_fen": "可分配余额（元）",
    "gross_fen": "消费总额（元）",
    "fee_fen": "系统管理费（元）",
    "withheld_fen": "考核扣减（元）",
    "net_fen": "实付（元）",
    "cash_fen": "现金余额（元）",
    "credit_fen": "贷方合计（元）",
    "debit_fen": "借方合计（元）",
    "new_notices": "新通知",
    "lines": "流水行数",
    "unmatched": "未匹配",
    "receipts": "来款笔数",
    "new_people": "本次拨付人数",
    "matched": "已匹配",
    "amount_mismatch": "金额不符",
    "state_mismatch": "状态不符",
    "unclaimed": "未认领来款",
    "bank_only": "银行有系统无",
    "ledger_only": "系统有银行无",
}
VALUE_ZH: dict[Any, str] = {
    "active": "正常",
    "lost": "已挂失",
    "cancelled": "已注销",
    "revoked": "已停用",
    "left": "离职",
    "planned": "计划",
    "installed": "已安装",
    "live": "已上线",
    "approved": "成功",
    "reversed": "已冲正",
    "subsidy_first": "先扣补贴",
    "cash_first": "先扣自费",
    "own": "本单位",
    "visitor": "外单位",
    "guest": "来宾",
    "staff": "在编",
    "contract": "合同",
    "retired": "退休",
}


def _value(key: str, v: Any, tr: Callable[[str], str] = str, comma: str = "，") -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return tr("是") if v else tr("否")
    if key.endswith("_fen") and isinstance(v, int):
        return yuan(v, grouped=True)
    if isinstance(v, dict):
        money = key == "prices"
        return comma.join(
            f"{tr(VALUE_ZH.get(k, str(k)))} {yuan(x) if money and isinstance(x, int) else x}"
            for k, x in v.items()
        )
    if isinstance(v, str) and (key.endswith("_at") or key == "at"):
        try:  # an instant kept as UTC ISO text (``retired_at``, ``expires_at``): city time
            return local_text(v)
        except ValueError:
            return v
    if isinstance(v, str):
        return tr(VALUE_ZH[v]) if v in VALUE_ZH else v
    if isinstance(v, int) and not (key.endswith("_id") or key in ("year", "seq")):
        return grouped(v)  # counts read with thousands separators: 1,234
    return json.dumps(v, ensure_ascii=False)


def describe(value: Any, tr: Callable[[str], str] = str, lang: str = "zh-CN") -> str:
    """A before/after/data value as one line: ``字段：值；…`` in Chinese (the export, the
    CLI); a page gives its ``tr`` and ``lang`` so the field names and the words follow
    the page's language (``Field: value; …`` in English)."""
    if value is None:
        return ""
    colon, semicolon, comma = (": ", "; ", ", ") if lang == "en" else ("：", "；", "，")
    if isinstance(value, dict):
        return semicolon.join(
            f"{tr(FIELD_ZH.get(k, str(k)))}{colon}{_value(k, v, tr, comma)}"
            for k, v in value.items()
        )
    return json.dumps(value, ensure_ascii=False)


def _display(
    r: Any, names: dict[tuple[str, int], str], regions: dict[str, str] | None = None
) -> dict[str, Any]:
    before, after, data = _json(r.before), _json(r.after), _json(r.data)
    actor_name = names.get(("person", r.actor_person_id)) if r.actor_person_id else None
    return {
        "seq": int(r.seq),
        "at_local": local_text(r.at, "%Y-%m-%d %H:%M:%S"),
        "actor": r.actor,
        "actor_name": actor_name or who(r.actor),
        "origin": r.origin or "—",
        "kind": r.kind,
        "kind_zh": KINDS.get(r.kind, r.kind),
        "action": r.action,
        "action_zh": ACTION_ZH.get(r.action, r.action),
        "target": _target_text(r, names, regions or {}),
        "unit": names.get(("unit", r.unit_id), "") if r.unit_id else "",
        "person": names.get(("person", r.person_id), "") if r.person_id else "",
        "before": before,
        "after": after,
        "data": data,
        "before_text": describe(before),
        "after_text": describe(after),
        "data_text": describe(data),
        "hash": r.hash,
    }


HEADERS = [
    "序号",
    "时间（北京时间）",
    "操作人",
    "来源地址",
    "类别",
    "操作",
    "对象",
    "单位",
    "人员",
    "变更前",
    "变更后",
    "数据",
    "哈希",
]


def as_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        key="audit",
        title="操作记录",
        headers=HEADERS,
        rows=[
            [
                r["seq"],
                r["at_local"],
                r["actor_name"],
                r["origin"],
                r["kind_zh"],
                r["action_zh"],
                r["target"],
                r["unit"],
                r["person"],
                r["before_text"],
                r["after_text"],
                r["data_text"],
                r["hash"],
            ]
            for r in rows
        ],
    )
