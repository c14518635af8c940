"""Per-capita figures per canteen and meal for a quarter (R-S4, 人均消费), read from the
dashboard's roll-ups, never from the payments: a city quarter is a few thousand rows.

Contract: ``per_capita(ctx, quarter)`` reads through ``ctx.reports_db.read()`` after the
caller folded (``reports.service.catch_up``), and returns a ``PerCapita``: one ``Row``
per canteen × meal code (``report_meals``), each canteen's total over its meals, each
meal's total over the city, and the city's. Per row:
- ``diners`` — meals paid (approved payments net of reversals: 就餐人次);
- ``revenue_fen`` — their takings net of refunds (an offline record's debt part too, as
  the dashboard counts it);
- ``per_diner_fen`` — revenue ÷ diners, rounded half up to the fen (None: no diner);
- ``visitors`` — diners not of the canteen's unit (other units' staff and guests), and
  ``visitor_share_bp`` their share of the diners in basis points, rounded half up;
- ``waste_grams`` / ``waste_diners`` — the leftovers the canteen recorded
  (``waste_weights``) and the diners of the same days and meal (``report_meal_days``),
  counting only meals with both, and ``waste_per_diner_g`` = grams ÷ diners rounded
  down (as ``waste.queries`` does; None when no such meal).
- ``cost_fen`` / ``cost_per_diner_fen`` — ingredient cost (食材成本) when the caller passes
  ``costs`` ((canteen id, meal) → fen: the batches its meals used, ``sourcing.queries.
  ingredient_cost``; reports cannot read purchasing itself, which stands above it), per
  diner rounded half up; None where that meal recorded no use.
Meal code ``''`` is what was paid outside a meal period (shop goods). Not here: reception
meals (公务接待: the one card records none) — the page and the Excel say so rather than
show a figure.
``to_xlsx(pc)`` is the workbook (every canteen; the page shows the largest).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from onecard.core.clock import quarter_bounds
from onecard.core.context import Context
from onecard.core.sheets import formula_like, safe_cell
from onecard.org.models import Canteen
from onecard.reports.figures import canteens_in
from onecard.reports.models import ReportMeal, ReportMealDay
from onecard.waste.models import WasteWeight

MEAL_ORDER = {"breakfast": 0, "lunch": 1, "dinner": 2}
MEAL_ZH = {"breakfast": "早餐", "lunch": "午餐", "dinner": "晚餐", "": "餐次外（超市等）"}
NOT_RECORDED = (
    "公务接待（由接待单位付费的用餐）不在一卡通中记录：一卡通只记录个人就餐，本表不含公务接待。",
)
COST_NOTE = (
    "食材成本 = 食堂登记的各批次食材用量 × 批次单价（采购与溯源）；未登记用量的餐次显示“—”。"
)
NO_COST_NOTE = (
    "人均食材成本不在本接口中：见 GET /api/v1/sourcing/cost（按食堂、餐次），"
    "或人均统计页与其 Excel。"
)


def half_up(num: int, den: int) -> int:
    """``num / den`` rounded half up (both ≥ 0, ``den`` > 0)."""
    return (2 * num + den) // (2 * den)


@dataclass
class Row:
    canteen_id: int  # 0: the whole city
    canteen: str
    meal: str  # '*': every meal of the canteen
    diners: int = 0
    revenue_fen: int = 0
    visitors: int = 0
    waste_grams: int = 0
    waste_diners: int = 0
    cost_fen: int = 0
    cost_known: bool = False  # some meal of this row recorded its ingredients' use

    @property
    def per_diner_fen(self) -> int | None:
        return half_up(self.revenue_fen, self.diners) if self.diners > 0 else None

    @property
    def visitor_share_bp(self) -> int | None:
        return half_up(self.visitors * 10000, self.diners) if self.diners > 0 else None

    @property
    def waste_per_diner_g(self) -> int | None:
        return self.waste_grams // self.waste_diners if self.waste_diners > 0 else None

    @property
    def cost_per_diner_fen(self) -> int | None:
        if not self.cost_known or self.diners <= 0:
            return None
        return half_up(self.cost_fen, self.diners)

    def add(self, other: Row) -> None:
        self.diners += other.diners
        self.revenue_fen += other.revenue_fen
        self.visitors += other.visitors
        self.waste_grams += other.waste_grams
        self.waste_diners += other.waste_diners
        self.cost_fen += other.cost_fen
        self.cost_known = self.cost_known or other.cost_known

    def as_dict(self) -> dict[str, Any]:
        return {
            "canteen_id": self.canteen_id,
            "canteen": self.canteen,
            "meal": self.meal,
            "diners": self.diners,
            "revenue_fen": self.revenue_fen,
            "per_diner_fen": self.per_diner_fen,
            "visitors": self.visitors,
            "visitor_share_bp": self.visitor_share_bp,
            "waste_grams": self.waste_grams,
            "waste_diners": self.waste_diners,
            "waste_per_diner_g": self.waste_per_diner_g,
        }


@dataclass
class PerCapita:
    quarter: str
    rows: list[Row] = field(default_factory=list)  # canteen × meal
    canteens: list[Row] = field(default_factory=list)  # per canteen, most diners first
    meals: list[Row] = field(default_factory=list)  # per meal, the city
    city: Row = field(default_factory=lambda: Row(0, "全市", "*"))


def _meal_key(meal: str) -> tuple[int, str]:
    return (MEAL_ORDER.get(meal, 3 if meal else 4), meal)


def per_capita(
    ctx: Context,
    quarter: str,
    costs: Mapping[tuple[int, str], int] | None = None,
    within: frozenset[int] | None = None,
) -> PerCapita:
    """``within``: the canteens of those regions only (a region and those below it,
    issue 17 §1); the "city" totals are then theirs."""
    start, end = quarter_bounds(quarter)
    with ctx.reports_db.read() as conn:
        here_money: tuple[Any, ...] = ()
        here_waste: tuple[Any, ...] = ()
        if within is not None:
            mine = set(conn.execute(canteens_in(within)).scalars())
            here_money = (ReportMeal.canteen_id.in_(sorted(mine)),)
            here_waste = (WasteWeight.canteen_id.in_(sorted(mine)),)
            costs = {k: v for k, v in (costs or {}).items() if k[0] in mine}
        money = conn.execute(
            select(
                ReportMeal.canteen_id,
                ReportMeal.meal,
                ReportMeal.diner_class,
                ReportMeal.payments,
                ReportMeal.amount_fen,
            ).where(ReportMeal.quarter == quarter, *here_money)
        ).all()
        # Leftovers of the quarter's days, with the diners of the same canteen, day and
        # meal (a meal with a weight but nobody paying says nothing per diner).
        waste = conn.execute(
            select(
                WasteWeight.canteen_id,
                WasteWeight.meal,
                func.sum(WasteWeight.leftover_grams),
                func.sum(ReportMealDay.payments),
            )
            .join(
                ReportMealDay,
                (ReportMealDay.canteen_id == WasteWeight.canteen_id)
                & (ReportMealDay.business_date == WasteWeight.day)
                & (ReportMealDay.meal == WasteWeight.meal),
            )
            .where(
                WasteWeight.day >= start,
                WasteWeight.day < end,
                ReportMealDay.payments > 0,
                *here_waste,
            )
            .group_by(WasteWeight.canteen_id, WasteWeight.meal)
        ).all()
        names = {int(i): str(n) for i, n in conn.execute(select(Canteen.id, Canteen.name))}
    cells: dict[tuple[int, str], Row] = {}

    def cell(cid: int, meal: str) -> Row:
        key = (cid, meal)
        if key not in cells:
            cells[key] = Row(cid, names.get(cid, str(cid)), meal)
        return cells[key]

    for cid, meal, klass, n, fen in money:
        r = cell(int(cid), str(meal))
        r.diners += int(n)
        r.revenue_fen += int(fen)
        if klass != "own":
            r.visitors += int(n)
    for cid, meal, grams, n in waste:
        r = cell(int(cid), str(meal))
        r.waste_grams += int(grams)
        r.waste_diners += int(n)
    for (cid, meal), fen in (costs or {}).items():
        r = cell(cid, meal)
        r.cost_fen += fen
        r.cost_known = True
    pc = PerCapita(quarter)
    pc.rows = [
        r
        for r in sorted(cells.values(), key=lambda r: (r.canteen, r.canteen_id, _meal_key(r.meal)))
        if r.diners or r.revenue_fen or r.waste_diners or r.cost_known
    ]
    per_canteen: dict[int, Row] = {}
    per_meal: dict[str, Row] = {}
    for r in pc.rows:
        per_canteen.setdefault(r.canteen_id, Row(r.canteen_id, r.canteen, "*")).add(r)
        per_meal.setdefault(r.meal, Row(0, "全市", r.meal)).add(r)
        pc.city.add(r)
    pc.canteens = sorted(per_canteen.values(), key=lambda r: (-r.diners, r.canteen))
    pc.meals = [per_meal[m] for m in sorted(per_meal, key=_meal_key)]
    return pc


COLUMNS = (
    "食堂",
    "餐次",
    "就餐人次",
    "营业额（元）",
    "人均消费（元）",
    "外单位及来宾人次",
    "外单位及来宾占比（%）",
    "剩余重量（克）",
    "计入人次",
    "人均剩余（克）",
    "食材成本（元）",
    "人均食材成本（元）",
)


def _line(r: Row, canteen: str, meal: str) -> list[Any]:
    return [
        canteen,
        meal,
        r.diners,
        r.revenue_fen / 100,
        None if r.per_diner_fen is None else r.per_diner_fen / 100,
        r.visitors,
        None if r.visitor_share_bp is None else r.visitor_share_bp / 100,
        r.waste_grams,
        r.waste_diners,
        r.waste_per_diner_g,
        r.cost_fen / 100 if r.cost_known else None,
        None if r.cost_per_diner_fen is None else r.cost_per_diner_fen / 100,
    ]


def to_xlsx(pc: PerCapita) -> bytes:
    """The workbook, written in openpyxl's write-only mode (a city's 1,205 canteens × their
    meals: three times faster than cell by cell); every cell through ``core.sheets``."""
    meals = [_line(r, "全市", MEAL_ZH.get(r.meal, r.meal)) for r in pc.meals]
    meals.append(_line(pc.city, "全市", "全部餐次"))
    canteens = [_line(r, r.canteen, "全部餐次") for r in pc.canteens]
    rows = [_line(r, r.canteen, MEAL_ZH.get(r.meal, r.meal)) for r in pc.rows]
    note = (
        f"{pc.quarter} 人均统计（来自数据看板汇总表）。\n"
        "就餐人次 = 成功消费笔数（冲正不计）；营业额已扣除退款；"
        "人均消费 = 营业额 ÷ 就餐人次，四舍五入到分。\n"
        "人均剩余 = 食堂登记的剩余重量 ÷ 同日同餐的就餐人次，只计两者都有的餐次。\n"
        + "\n".join((*NOT_RECORDED, COST_NOTE))
    )
    wb = Workbook(write_only=True)
    for title, lines in (("各餐次", meals), ("各食堂", canteens), ("食堂×餐次", rows)):
        ws = wb.create_sheet(title)
        for i, c in enumerate(COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(12, len(c) * 2 + 2)
        ws.append([_cell(ws, c, bold=True) for c in COLUMNS])
        for line in lines:
            ws.append(
                [
                    _cell(ws, v, money=True)
                    if i in MONEY_COLS or (isinstance(v, str) and formula_like(v))
                    else v
                    for i, v in enumerate(line)
                ]
            )
    notes = wb.create_sheet("说明")
    for text in note.splitlines():
        notes.append([_cell(notes, text)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


MONEY_COLS = {3, 4, 10, 11}


def _cell(ws: Any, value: Any, bold: bool = False, money: bool = False) -> Any:
    cell = WriteOnlyCell(ws, value=safe_cell(value))
    if isinstance(cell.value, str) and formula_like(str(value)):
        cell.value = str(value)  # kept as typed, shown as text (Excel's quote prefix)
        cell.data_type = "s"
        cell.quotePrefix = True
    if bold:
        cell.font = Font(bold=True)
    if money and value is not None:
        cell.number_format = "0.00"
    return cell
