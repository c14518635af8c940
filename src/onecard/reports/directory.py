"""Read models shared by the public directory, the unit pages and the bureau console.

Contract: plain reads (``ctx.db.read()``), no writes.

- ``canteens(ctx, unit_id, live_only)`` — every canteen (of a unit), with its meals,
  prices per diner class and average rating: the unit pages' list.
- ``search(ctx, DirectoryQuery)`` — R-R2's public directory, one page of it: the live
  canteens matching a search (every word in the name, address, district or owner unit),
  a district, "open now" (a meal period running at this minute of Beijing time: the
  city's zone, ``core.clock``) and "takes visitors without a card" (the canteen serves
  guests and its ``guest_access`` is not ``none``), ``PAGE_SIZE`` at a time in
  (district, code) order, with the total, the districts to choose from, and per canteen
  its meals and prices (other units' staff: ``visitor``; someone without a card:
  ``guest``), rating, the waste notices (浪费通报) of the last 90 days, whether it is
  open now, a ``tel:`` number and a map link. One
  read transaction; filters, the count and the page are SQL (a city's 1,205 canteens
  are never read whole); meals, prices and ratings are read for the page's canteens only.
- ``map_url(name, location, coordinates)`` — an Amap URI (a plain link, no script): a
  marker at the coordinates, else a search for the address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.feedback.models import Rating
from onecard.feedback.queries import canteen_averages
from onecard.org.models import Canteen, Unit
from onecard.pay.models import MealPeriod, MealPrice
from onecard.waste.queries import PUBLIC_DAYS, public_notices_conn

PAGE_SIZE = 20
MAX_PAGE = 1000
MAX_WORDS = 5  # a search uses at most this many words
AMAP = "https://uri.amap.com"
_NOT_DIAL = re.compile(r"[^0-9+]")


@dataclass(frozen=True)
class DirectoryQuery:
    q: str = ""
    district: str = ""
    open_now: bool = False
    guests: bool = False
    page: int = 1


@dataclass
class DirectoryPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    per_page: int
    districts: list[str] = field(default_factory=list)
    read_at: datetime | None = None  # when the page was read (naive UTC, as stored)

    @property
    def first(self) -> int:
        """Number of the page's first canteen in the whole list (1-based), 0 if none."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def meal_prices(ctx: Context, canteen_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per canteen: its meal periods in time order with the price per diner class."""
    if not canteen_ids:
        return {}
    with ctx.db.read() as conn:
        return _meal_prices(conn, canteen_ids)


def _meal_prices(conn: Connection, canteen_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {cid: [] for cid in canteen_ids}
    if not canteen_ids:
        return out
    periods = conn.execute(
        select(
            MealPeriod.id,
            MealPeriod.canteen_id,
            MealPeriod.code,
            MealPeriod.name,
            MealPeriod.starts,
            MealPeriod.ends,
            MealPeriod.per_person_limit,
        )
        .where(MealPeriod.canteen_id.in_(canteen_ids))
        .order_by(MealPeriod.canteen_id, MealPeriod.starts)
    ).all()
    prices: dict[int, dict[str, int]] = {}
    for mid, klass, fen in conn.execute(
        select(MealPrice.meal_period_id, MealPrice.diner_class, MealPrice.price_fen).where(
            MealPrice.meal_period_id.in_([p.id for p in periods] or [0])
        )
    ):
        prices.setdefault(int(mid), {})[klass] = int(fen)
    for p in periods:
        out[int(p.canteen_id)].append(
            {
                "id": int(p.id),
                "code": p.code,
                "name": p.name,
                "starts": p.starts,
                "ends": p.ends,
                "limit": int(p.per_person_limit),
                "prices": prices.get(int(p.id), {}),
            }
        )
    return out


def canteens(
    ctx: Context, unit_id: int | None = None, live_only: bool = False
) -> list[dict[str, Any]]:
    q = (
        select(Canteen.__table__, Unit.name.label("unit_name"))
        .join(Unit, Unit.id == Canteen.unit_id)
        .where(Canteen.retired_at.is_(None))  # a retired canteen serves nobody
    )
    if unit_id is not None:
        q = q.where(Canteen.unit_id == unit_id)
    if live_only:
        q = q.where(Canteen.rollout_status == "live")
    with ctx.db.read() as conn:
        rows = conn.execute(q.order_by(Canteen.id)).all()
    ratings = canteen_averages(ctx)
    meals = meal_prices(ctx, [int(r.id) for r in rows])
    out = []
    for c in rows:
        avg = ratings.get(int(c.id))
        out.append(
            {
                "id": int(c.id),
                "code": c.code,
                "name": c.name,
                "unit_id": int(c.unit_id),
                "unit_name": c.unit_name,
                "operation": c.operation,
                "operator_name": c.operator_name,
                "location": c.location,
                "contact": c.contact,
                "phone": c.phone,
                "capacity": c.capacity,
                "service_staff": c.service_staff,
                "dining_area_m2": c.dining_area_m2,
                "opening_hours": c.opening_hours,
                "notes": c.notes,
                "serves_visitors": c.serves_visitors,
                "serves_guests": c.serves_guests,
                "purse_order": c.purse_order,
                "rollout_status": c.rollout_status,
                "rating": round(avg.overall, 1) if avg else None,
                "rating_count": avg.count if avg else 0,
                "meals": meals[int(c.id)],
            }
        )
    return out


# --- the public directory ---------------------------------------------------------------------
def takes_guests() -> ColumnElement[bool]:
    """Someone without a one card may eat there: the canteen serves guests (its rule,
    ``pay.rules``) and says how (``guest_access`` is not ``none``)."""
    return and_(Canteen.serves_guests.is_(True), Canteen.guest_access != "none")


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _open_at(now: time) -> ColumnElement[bool]:
    return exists().where(
        MealPeriod.canteen_id == Canteen.id, MealPeriod.starts <= now, MealPeriod.ends > now
    )


def _conditions(query: DirectoryQuery, now: time) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        Canteen.retired_at.is_(None),
        Canteen.rollout_status == "live",
    ]
    for term in query.q.split()[:MAX_WORDS]:
        pattern = _like(term)
        where.append(
            or_(
                Canteen.name.ilike(pattern, escape="\\"),
                Canteen.location.ilike(pattern, escape="\\"),
                Canteen.district.ilike(pattern, escape="\\"),
                Unit.name.ilike(pattern, escape="\\"),
            )
        )
    if query.district:
        where.append(Canteen.district == query.district)
    if query.open_now:
        where.append(_open_at(now))
    if query.guests:
        where.append(takes_guests())
    return where


def _ratings(conn: Connection, ids: list[int]) -> dict[int, tuple[float, int]]:
    """(overall average, count) per canteen of the page — the page's rows only."""
    rows = conn.execute(
        select(
            Rating.canteen_id,
            func.count(),
            func.avg(Rating.taste + Rating.hygiene + Rating.service + Rating.value),
        )
        .where(Rating.canteen_id.in_(ids or [0]))
        .group_by(Rating.canteen_id)
    ).all()
    return {int(r[0]): (float(r[2]) / 4, int(r[1])) for r in rows}


def dial(phone: str | None) -> str | None:
    """The number a ``tel:`` link dials ('0735-2812345' → '07352812345'), or None."""
    digits = _NOT_DIAL.sub("", phone or "")
    return digits if len(digits) >= 5 else None


def map_url(name: str, location: str, coordinates: str | None) -> str | None:
    """An Amap URI for the canteen: a marker at ``coordinates`` ("lng,lat", GCJ-02), or a
    search for the address; None when there is neither. A plain link: the phone's map
    app opens it (``callnative``), a desktop browser shows Amap's page."""
    if coordinates:
        params = {
            "position": coordinates,
            "name": name,
            "coordinate": "gaode",
            "callnative": "1",
            "src": "onecard",
        }
        return f"{AMAP}/marker?{urlencode(params, quote_via=quote)}"
    if location.strip():
        params = {"keyword": location.strip(), "callnative": "1", "src": "onecard"}
        return f"{AMAP}/search?{urlencode(params, quote_via=quote)}"
    return None


def search(ctx: Context, query: DirectoryQuery, per_page: int = PAGE_SIZE) -> DirectoryPage:
    """One page of the live canteens matching ``query`` (see the module's contract)."""
    read_at = ctx.clock.now()
    now = to_local(read_at).time().replace(second=0, microsecond=0)
    where = _conditions(query, now)
    joined = select(Canteen.id).join(Unit, Unit.id == Canteen.unit_id).where(*where)
    with ctx.db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(joined.subquery())).scalar_one())
        pages = max(1, -(-total // per_page))
        page = min(max(1, query.page), pages, MAX_PAGE)
        rows = conn.execute(
            select(Canteen.__table__, Unit.name.label("unit_name"))
            .join(Unit, Unit.id == Canteen.unit_id)
            .where(*where)
            .order_by(Canteen.district == "", Canteen.district, Canteen.code)
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        districts = list(
            conn.execute(
                select(Canteen.district)
                .where(
                    Canteen.retired_at.is_(None),
                    Canteen.rollout_status == "live",
                    Canteen.district != "",
                )
                .group_by(Canteen.district)
                .order_by(Canteen.district)
            ).scalars()
        )
        ids = [int(r.id) for r in rows]
        ratings = _ratings(conn, ids)
        meals = _meal_prices(conn, ids)
        waste = public_notices_conn(
            conn, to_local(read_at).date() - timedelta(days=PUBLIC_DAYS), ids
        )
    out = []
    for c in rows:
        cid = int(c.id)
        guests = bool(c.serves_guests) and c.guest_access != "none"
        its_meals = meals[cid]
        current = next((m for m in its_meals if m["starts"] <= now < m["ends"]), None)
        upcoming = next((m for m in its_meals if m["starts"] > now), None)
        avg = ratings.get(cid)
        out.append(
            {
                "id": cid,
                "code": c.code,
                "name": c.name,
                "unit_name": c.unit_name,
                "operation": c.operation,
                "operator_name": c.operator_name,
                "district": c.district,
                "location": c.location,
                "contact": c.contact,
                "phone": c.phone,
                "tel": dial(c.phone),
                "map_url": map_url(c.name, c.location, c.coordinates),
                "capacity": int(c.capacity),
                "opening_hours": c.opening_hours,
                "serves_visitors": bool(c.serves_visitors),
                "takes_guests": guests,
                "guest_access": c.guest_access if c.serves_guests else "none",
                "guest_note": c.guest_note if guests else "",
                "meals": its_meals,
                "open_meal": current,
                "next_meal": upcoming,
                "rating": round(avg[0], 1) if avg else None,
                "rating_count": avg[1] if avg else 0,
                "waste_notices": waste.get(cid, []),
            }
        )
    return DirectoryPage(out, total, page, pages, per_page, districts, read_at)
