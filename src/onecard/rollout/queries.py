"""Read models of the rollout (R-R1, R-R3) for the pages, the API, the CLI and the exports.

Contract: reads only, one read transaction each; retired units and canteens are left out.
- ``plan(ctx)``: per canteen its windows, diners, planned terminals (``service.
  planned_terminals``), terminals by state, rollout state, last inspection.
- ``plan_page(ctx, q, page, size)``: one page of ``plan`` — the canteens whose code, name
  or unit's name contains ``q`` — with the matching count; filter, count and page are SQL,
  terminals and inspections are read for the page's canteens only (a city's 1,205).
- ``plan_totals(ctx)``: the city's planned terminals (``planned_terminals`` in SQL), live
  terminals, live canteens and canteens, each one aggregate query.
- ``card_progress(ctx)``: per unit, people (active) and people with an active card, and the
  city total; the share is ``with_card / people`` (0 people: shown as 100 %, nothing to do).
- ``supervision(ctx)``: per unit how far behind the plan — terminals planned vs live,
  cards issued %, canteens not live — ``behind`` when any is short; most behind first.
- ``supervision_xlsx(ctx)``: that list and every notice as an Excel workbook
  (``org.tables.xlsx``: formula-safe cells, money-free).
- ``go_live_blockers(ctx, plan)``: what stops the canteen going live
  (``service.go_live_blockers``), none once it is live.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.org.models import Canteen, Person, Terminal, Unit
from onecard.org.queries import active_people_by_unit, open_units
from onecard.org.tables import xlsx
from onecard.pay.models import Card
from onecard.rollout import service
from onecard.rollout import states as st
from onecard.rollout.models import Inspection, RolloutNotice, RolloutTransition
from onecard.rollout.service import NOTICE_ZH, planned_terminals


@dataclass
class CanteenPlan:
    id: int
    code: str
    name: str
    unit_id: int
    unit_name: str
    windows: int
    diners: int
    planned: int
    terminals: dict[str, int]
    rollout_status: str
    last_inspection: date | None = None
    last_passed: bool | None = None

    @property
    def live(self) -> int:
        return self.terminals.get(st.LIVE, 0)

    @property
    def short(self) -> int:
        return max(0, self.planned - self.live)


def _terminal_counts(conn: Connection, ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    q = select(Terminal.canteen_id, Terminal.status, func.count()).group_by(
        Terminal.canteen_id, Terminal.status
    )
    if ids is not None:
        q = q.where(Terminal.canteen_id.in_(ids))
    for cid, status, n in conn.execute(q):
        out.setdefault(int(cid), {})[str(status)] = int(n)
    return out


def _last_inspections(
    conn: Connection, ids: list[int] | None = None
) -> dict[int, tuple[date, bool]]:
    out: dict[int, tuple[date, bool]] = {}
    q = select(Inspection.canteen_id, Inspection.inspected_on, Inspection.passed).order_by(
        Inspection.inspected_on, Inspection.id
    )
    if ids is not None:
        q = q.where(Inspection.canteen_id.in_(ids))
    for cid, on, passed in conn.execute(q):
        out[int(cid)] = (on, bool(passed))
    return out


def _plan_query(search: str = "") -> Any:
    q = (
        select(
            Canteen.id,
            Canteen.code,
            Canteen.name,
            Canteen.unit_id,
            Unit.name.label("unit_name"),
            Canteen.windows,
            Canteen.capacity,
            Canteen.rollout_status,
        )
        .join(Unit, Unit.id == Canteen.unit_id)
        .where(Canteen.retired_at.is_(None))
    )
    search = search.strip()
    if search:
        q = q.where(
            or_(
                Canteen.code.contains(search, autoescape=True),
                Canteen.name.contains(search, autoescape=True),
                Unit.name.contains(search, autoescape=True),
            )
        )
    return q


def plan(ctx: Context, canteen_id: int | None = None) -> list[CanteenPlan]:
    q = _plan_query().order_by(Canteen.code)
    if canteen_id is not None:
        q = q.where(Canteen.id == canteen_id)
    with ctx.db.read() as conn:
        rows = conn.execute(q).all()
        ids = [int(r.id) for r in rows] if canteen_id is not None else None
        counts = _terminal_counts(conn, ids)
        last = _last_inspections(conn, ids)
    return _plans(rows, counts, last)


@dataclass
class PlanPage:
    rows: list[CanteenPlan]
    total: int  # canteens matching the search
    page: int
    pages: int


def plan_page(ctx: Context, search: str = "", page: int = 1, size: int = 50) -> PlanPage:
    q = _plan_query(search)
    with ctx.db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(q.subquery())).scalar_one())
        pages = max(1, -(-total // size))
        page = min(max(1, page), pages)
        rows = conn.execute(q.order_by(Canteen.code).limit(size).offset((page - 1) * size)).all()
        ids = [int(r.id) for r in rows]
        counts = _terminal_counts(conn, ids)
        last = _last_inspections(conn, ids)
    return PlanPage(_plans(rows, counts, last), total, page, pages)


def _planned_sql() -> ColumnElement[int]:
    """``service.planned_terminals`` as SQL: max(1, windows, ceil(diners / per terminal))."""
    per = service.DINERS_PER_TERMINAL
    diners = case((Canteen.capacity > 0, Canteen.capacity), else_=0)
    need = (diners + (per - 1)) // per
    windows = case((Canteen.windows > 1, Canteen.windows), else_=1)
    return case((need > windows, need), else_=windows)


@dataclass
class PlanTotals:
    planned: int
    live_terminals: int
    live_canteens: int
    canteens: int


def plan_totals(ctx: Context) -> PlanTotals:
    open_canteen = Canteen.retired_at.is_(None)
    with ctx.db.read() as conn:
        planned, live_canteens, canteens = conn.execute(
            select(
                func.coalesce(func.sum(_planned_sql()), 0),
                func.count().filter(Canteen.rollout_status == st.LIVE),
                func.count(),
            ).where(open_canteen)
        ).one()
        live = conn.execute(
            select(func.count())
            .select_from(Terminal)
            .join(Canteen, Canteen.id == Terminal.canteen_id)
            .where(open_canteen, Terminal.status == st.LIVE)
        ).scalar_one()
    return PlanTotals(int(planned), int(live), int(live_canteens), int(canteens))


def _plans(
    rows: Any, counts: dict[int, dict[str, int]], last: dict[int, tuple[date, bool]]
) -> list[CanteenPlan]:
    out = []
    for r in rows:
        seen = last.get(int(r.id))
        out.append(
            CanteenPlan(
                int(r.id),
                r.code,
                r.name,
                int(r.unit_id),
                r.unit_name,
                int(r.windows),
                int(r.capacity),
                planned_terminals(r.windows, r.capacity),
                counts.get(int(r.id), {}),
                r.rollout_status,
                seen[0] if seen else None,
                seen[1] if seen else None,
            )
        )
    return out


def canteen_plan(ctx: Context, canteen_id: int) -> CanteenPlan:
    found = plan(ctx, canteen_id)
    if not found:
        raise NotFound(what="食堂")
    return found[0]


def terminals(ctx: Context, canteen_id: int | None = None) -> list[dict[str, Any]]:
    q = (
        select(
            Terminal.id,
            Terminal.code,
            Terminal.name,
            Terminal.status,
            Terminal.installed_at,
            Terminal.canteen_id,
            Canteen.name.label("canteen"),
        )
        .join(Canteen, Canteen.id == Terminal.canteen_id)
        .order_by(Terminal.code)
    )
    if canteen_id is not None:
        q = q.where(Terminal.canteen_id == canteen_id)
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def transitions(ctx: Context, canteen_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The canteen's moves and its terminals', newest first."""
    with ctx.db.read() as conn:
        codes = dict(
            conn.execute(
                select(Terminal.id, Terminal.code).where(Terminal.canteen_id == canteen_id)
            ).all()
        )
        rows = conn.execute(
            select(RolloutTransition.__table__)
            .where(RolloutTransition.canteen_id == canteen_id)
            .order_by(RolloutTransition.id.desc())
            .limit(limit)
        ).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        d["what"] = codes.get(r.subject_id, "") if r.subject == "terminal" else "食堂"
        d["who"] = who(r.actor)
        out.append(d)
    return out


def who(label: str) -> str:
    """A person's name from an actor label ("person:<id>:<name>"); other labels as they are."""
    return (
        label.split(":", 2)[2] if label.startswith("person:") and label.count(":") >= 2 else label
    )


def inspections(ctx: Context, canteen_id: int) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Inspection.__table__)
            .where(Inspection.canteen_id == canteen_id)
            .order_by(Inspection.inspected_on.desc(), Inspection.id.desc())
        ).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        d["items"] = json.loads(r.items)
        d["who"] = who(r.inspector)
        out.append(d)
    return out


# --- cards ------------------------------------------------------------------------------------------
@dataclass
class UnitCards:
    unit_id: int
    code: str
    name: str
    people: int
    with_card: int

    @property
    def pct(self) -> float:
        return 100.0 if self.people == 0 else round(100.0 * self.with_card / self.people, 1)


def card_progress(ctx: Context) -> tuple[list[UnitCards], UnitCards]:
    """Per unit and for the city: active people, and those of them with an active card."""
    with ctx.db.read() as conn:
        units = open_units(conn)
        people = active_people_by_unit(conn)
        # EXISTS, not a join on the distinct card holders: half the time at a city's
        # 83,600 people (a semi-join on ix_cards_person_id, no sort of every card).
        carded = (
            select(Card.id).where(Card.person_id == Person.id, Card.status == "active").exists()
        )
        with_card = dict(
            conn.execute(
                select(Person.unit_id, func.count())
                .where(Person.status == "active", carded)
                .group_by(Person.unit_id)
            ).all()
        )
    rows = [
        UnitCards(int(u.id), u.code, u.name, int(people.get(u.id, 0)), int(with_card.get(u.id, 0)))
        for u in units
    ]
    total = UnitCards(0, "", "全市", sum(r.people for r in rows), sum(r.with_card for r in rows))
    return rows, total


# --- supervision ----------------------------------------------------------------------------------
@dataclass
class UnitProgress:
    unit_id: int
    code: str
    name: str
    terminals_planned: int = 0
    terminals_live: int = 0
    people: int = 0
    with_card: int = 0
    canteens: int = 0
    canteens_not_live: list[str] = field(default_factory=list)

    @property
    def terminals_short(self) -> int:
        return max(0, self.terminals_planned - self.terminals_live)

    @property
    def cards_pct(self) -> float:
        return 100.0 if self.people == 0 else round(100.0 * self.with_card / self.people, 1)

    @property
    def cards_short(self) -> int:
        return self.people - self.with_card

    @property
    def behind(self) -> bool:
        return bool(self.terminals_short or self.cards_short or self.canteens_not_live)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "terminals_short": self.terminals_short,
            "cards_pct": self.cards_pct,
            "cards_short": self.cards_short,
            "behind": self.behind,
        }


def supervision(
    ctx: Context, behind_only: bool = False, cards: list[UnitCards] | None = None
) -> list[UnitProgress]:
    """``cards``: ``card_progress(ctx)[0]`` when the caller has read it already."""
    if cards is None:
        cards, _ = card_progress(ctx)
    out = {
        c.unit_id: UnitProgress(c.unit_id, c.code, c.name, people=c.people, with_card=c.with_card)
        for c in cards
    }
    for c in plan(ctx):
        u = out.get(c.unit_id)
        if u is None:
            continue
        u.canteens += 1
        u.terminals_planned += c.planned
        u.terminals_live += min(c.live, c.planned) if c.planned else c.live
        if c.rollout_status != st.LIVE:
            u.canteens_not_live.append(c.name)
    rows = list(out.values())
    if behind_only:
        rows = [r for r in rows if r.behind]
    # Most behind first: canteens not live, then terminals short, then the card share.
    rows.sort(key=lambda r: (-len(r.canteens_not_live), -r.terminals_short, r.cards_pct, r.code))
    return rows


def notices(ctx: Context, unit_id: int | None = None) -> list[dict[str, Any]]:
    q = (
        select(RolloutNotice.__table__, Unit.name.label("unit_name"), Unit.code.label("unit_code"))
        .join(Unit, Unit.id == RolloutNotice.unit_id)
        .order_by(RolloutNotice.id.desc())
    )
    if unit_id is not None:
        q = q.where(RolloutNotice.unit_id == unit_id)
    with ctx.db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q.limit(500))]
    for n in rows:  # the names people read (the labels stay in the row, as recorded)
        n["issued_who"] = who(n["issued_by"])
        n["acknowledged_who"] = who(n["acknowledged_by"]) if n["acknowledged_by"] else ""
    return rows


SUPERVISION_COLUMNS = (
    "单位代码",
    "单位名称",
    "食堂数",
    "未上线食堂",
    "计划消费机",
    "已启用消费机",
    "消费机缺口",
    "在册人数",
    "已发卡人数",
    "发卡率(%)",
    "是否滞后",
)
NOTICE_COLUMNS = (
    "编号",
    "单位代码",
    "单位名称",
    "类型",
    "内容",
    "下发人",
    "下发时间",
    "确认人",
    "确认时间",
)
SUPERVISION_NOTE = """食堂一卡通 上线督办清单
「督办清单」每个单位一行：计划消费机按「每个窗口一台、就餐高峰每 150 人至少一台、至少一台」计算；
已启用消费机只计入「已启用」状态（可收款）的消费机；发卡率 = 持有正常状态卡的在册人数 ÷ 在册人数。
有未上线食堂、消费机缺口或未发卡人员的单位为「滞后」。
「督办与表扬通知」列出机关事务局下发的每一条通知及单位确认情况（时间为北京时间）。"""


def _when(v: datetime | None) -> str:
    return to_local(v).strftime("%Y-%m-%d %H:%M") if v else ""


def supervision_xlsx(ctx: Context) -> bytes:
    rows = [
        [
            u.code,
            u.name,
            u.canteens,
            "、".join(u.canteens_not_live),
            u.terminals_planned,
            u.terminals_live,
            u.terminals_short,
            u.people,
            u.with_card,
            u.cards_pct,
            "滞后" if u.behind else "正常",
        ]
        for u in supervision(ctx)
    ]
    note_rows = [
        [
            n["id"],
            n["unit_code"],
            n["unit_name"],
            NOTICE_ZH[n["kind"]],
            n["text"],
            n["issued_who"],
            _when(n["issued_at"]),
            n["acknowledged_who"],
            _when(n["acknowledged_at"]),
        ]
        for n in notices(ctx)
    ]
    return xlsx(
        [("督办清单", SUPERVISION_COLUMNS, rows), ("督办与表扬通知", NOTICE_COLUMNS, note_rows)],
        SUPERVISION_NOTE,
    )


def go_live_blockers(ctx: Context, plan: CanteenPlan) -> list[str]:
    if plan.rollout_status == st.LIVE:
        return []
    with ctx.db.read() as conn:
        return service.go_live_blockers(conn, plan)
