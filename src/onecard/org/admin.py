"""Creating, editing and retiring regions, units and canteens, each change audited.

Contract:
- Each public function is one transaction. Input is parsed by ``org.fields`` (the same
  words for a page, the API, the CLI and the information-table import); on any problem —
  a bad value, a bank account that fails its check (``InvalidBankAccount``), an unknown
  region / owner unit (``UnknownReference``), a code or unit name in use
  (``DuplicateCode``, 409) — nothing is written. An edit that changes nothing writes
  nothing, not even an audit row.
- Who: the bureau (bureau admin or clearing operator) for everything in its region and
  the regions below it (``Actor.scope``; the whole deployment for an unscoped grant: a
  row outside is refused 403, nothing written; a region's bureau creates and retires the
  regions below its own, never its own); a unit's admin
  edits its own unit and its canteens, except the fields ``fields.Spec.bureau_only``
  marks (bank accounts — who gets paid —, codes, names of units, the region, the owner
  unit). Creating and retiring is the bureau's. Every check is on the actor here.
- Every change writes one audit record in its own transaction through
  ``audit.records.record``: action ``org_<region|unit|canteen>_<create|update|retire>``,
  scope "<kind> <code> <name>", totals ``{"before": {…}, "after": {…}}`` with the fields
  that changed (all of them on create, ``before`` then ``None``).
- Retiring (``org.retirement``) never deletes: the row keeps its ledger accounts and
  history and gets ``retired_at``; a retired row cannot be edited.
- Correcting a payee's bank account (a canteen's operator account, or the account of a
  unit paid for its self-operated canteen) names the canteens in ``Change.payees``; the
  payouts that failed for them are re-sent by ``funding.payees`` (org knows nothing of
  money runs), which the routes, pages and commands call to edit a unit or canteen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select, update

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, StateConflict
from onecard.core.runs import RunResult
from onecard.org import builders
from onecard.org.actors import BUREAU_ROLES, Actor
from onecard.org.errors import error_of, unique_races
from onecard.org.fields import (
    CANTEEN_FIELDS,
    REGION_FIELDS,
    UNIT_FIELDS,
    BadValue,
    Spec,
    clean,
    json_value,
)
from onecard.org.models import Canteen, Region, Unit
from onecard.org.rules import (
    DbLookup,
    canteen_problems,
    region_problems,
    unit_level,
    unit_problems,
)

KIND_ZH = {"region": "区域", "unit": "单位", "canteen": "食堂"}
# Fields that decide where a canteen's settlement is paid (funding.payouts.payee_of).
PAYEE_FIELDS = ("operation", "operator_name", "operator_bank_account")


@dataclass
class Change:
    """What one call did: the row, and the fields before and after."""

    kind: str
    id: int
    action: str  # create | update | retire
    scope: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    # Canteens whose payee this change corrected (``funding.payees`` re-sends their
    # failed payouts and fills ``retried``).
    payees: list[int] = field(default_factory=list)
    retried: list[RunResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.action != "update" or bool(self.after)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "action": self.action,
            "scope": self.scope,
            "changed": self.changed,
            "before": self.before,
            "after": self.after,
            "payouts_retried": [r.as_dict() for r in self.retried],
        }


# --- shared plumbing --------------------------------------------------------------------
def parse(specs: Mapping[str, Spec], raw: Mapping[str, Any], current: Any = None) -> dict[str, Any]:
    try:
        return clean(specs, raw, current)
    except BadValue as bad:
        raise error_of(bad) from None


def raise_first(problems: list[BadValue]) -> None:
    if problems:
        raise error_of(problems[0])


def snapshot(row: Any, specs: Mapping[str, Spec]) -> dict[str, Any]:
    return {k: json_value(getattr(row, k)) for k in specs}


def diff(row: Any, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the fields whose value differs from the row's."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for k, v in values.items():
        old = getattr(row, k)
        if old != v:
            before[k] = json_value(old)
            after[k] = json_value(v)
    return before, after


def scope_of(kind: str, code: str, name: str) -> str:
    return f"{KIND_ZH[kind]} {code} {name}"[:100]


def record(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    change: Change,
) -> None:
    audit.record(
        conn,
        ctx,
        actor,
        f"org_{change.kind}_{change.action}",
        change.scope,
        {"before": change.before, "after": change.after},
    )


def require_bureau(actor: Actor, region_id: int | None = None, *, check: bool = False) -> None:
    """The bureau, of any region (``check``: of ``region_id``'s, at or above it)."""
    if not actor.holds(*BUREAU_ROLES):
        raise Forbidden("只有机关事务局可以新建或撤销机构")
    if check and not actor.covers_region(region_id):
        raise Forbidden("不在本区域（及下级区域）管辖范围内")


def require_fields(actor: Actor, specs: Mapping[str, Spec], changed: Mapping[str, Any]) -> None:
    """A unit admin may change their own rows, but not the bureau's fields (the caller
    has checked that the row lies in the bureau's region)."""
    if actor.holds(*BUREAU_ROLES):
        return
    locked = [specs[k].label for k in changed if specs[k].bureau_only]
    if locked:
        raise Forbidden(f"{'、'.join(locked)}只能由机关事务局修改")


def locked_row(conn: Connection, table: Any, row_id: int, what: str) -> Any:
    row = conn.execute(
        select(table.__table__).where(table.id == row_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(what=what)
    return row


def _not_retired(row: Any, what: str) -> None:
    if row.retired_at is not None:
        raise StateConflict(f"{what}「{row.name}」已撤销，不能修改")


# --- regions ------------------------------------------------------------------------------
def create_region(ctx: Context, actor: Actor, raw: Mapping[str, Any]) -> Change:
    """A city under the province, a county under a city, a township under a county (the
    top region itself: ``onecard init``)."""
    require_bureau(actor)
    values = parse(REGION_FIELDS, raw)
    for k in ("code", "name", "level", "parent_id"):
        if values.get(k) is None:
            raise InvalidInput(f"{REGION_FIELDS[k].label}：不能为空")
    require_bureau(actor, values["parent_id"], check=True)
    with unique_races(), ctx.db.begin() as conn:
        raise_first(region_problems(conn, values, values, None))
        rid = builders.create_region(
            conn, values["code"], values["name"], values["level"], values["parent_id"]
        )
        change = Change(
            "region",
            rid,
            "create",
            scope_of("region", values["code"], values["name"]),
            None,
            {k: json_value(v) for k, v in values.items()},
        )
        record(conn, ctx, actor, change)
    return change


def update_region(ctx: Context, actor: Actor, region_id: int, raw: Mapping[str, Any]) -> Change:
    """Rename or re-code a region; its level and parent stay (units hang off it)."""
    require_bureau(actor)
    values = parse(REGION_FIELDS, raw)
    if {"level", "parent_id"} & set(values):
        raise InvalidInput("区域的级别和上级不能修改（请新建区域）")
    with unique_races(), ctx.db.begin() as conn:
        row = locked_row(conn, Region, region_id, "区域")
        require_bureau(actor, region_id, check=True)
        _not_retired(row, "区域")
        before, after = diff(row, values)
        final = {**snapshot(row, REGION_FIELDS), **values}
        raise_first(region_problems(conn, final, after, region_id))
        change = Change(
            "region", region_id, "update", scope_of("region", row.code, row.name), before, after
        )
        if after:
            conn.execute(update(Region).where(Region.id == region_id).values(**after))
            record(conn, ctx, actor, change)
    return change


# --- units --------------------------------------------------------------------------------
def create_unit(ctx: Context, actor: Actor, raw: Mapping[str, Any]) -> Change:
    """A unit with its two ledger sub-accounts (``builders.create_unit``)."""
    require_bureau(actor)
    values = parse(UNIT_FIELDS, raw)
    require_bureau(actor, values.get("region_id"), check=True)
    with unique_races(), ctx.db.begin() as conn:
        _uid, change = insert_unit(conn, ctx, actor, values)
    return change


UNIT_DEFAULTS: dict[str, Any] = {
    "level": None,  # the region's
    "bank_account": None,
    "contact": None,
    "phone": None,
    "has_canteen": False,
    "default_standard_fen": 0,
}


def insert_unit(
    conn: Connection, ctx: Context, actor: Actor, values: dict[str, Any], *, checked: bool = False
) -> tuple[int, Change]:
    """Inside the caller's transaction (the import creates many): check (unless the
    caller ``checked`` the whole file already), create, audit."""
    for k in ("code", "name", "region_id"):
        if values.get(k) is None:
            raise error_of(BadValue(UNIT_FIELDS[k].label, "不能为空"))
    if not checked:
        raise_first(unit_problems(DbLookup(conn), values, values, None))
    full = {**UNIT_DEFAULTS, **values}
    if not full["level"]:
        full["level"] = unit_level(
            conn.execute(select(Region.level).where(Region.id == values["region_id"])).scalar_one()
        )
    uid = builders.create_unit(
        conn,
        full["region_id"],
        full["code"],
        full["name"],
        default_standard_fen=full["default_standard_fen"],
        bank_account=full["bank_account"],
        contact=full["contact"],
        phone=full["phone"],
        level=full["level"],
        has_canteen=full["has_canteen"],
    )
    change = Change(
        "unit",
        uid,
        "create",
        scope_of("unit", full["code"], full["name"]),
        None,
        {k: json_value(full[k]) for k in UNIT_FIELDS},
    )
    record(conn, ctx, actor, change)
    return uid, change


def update_unit(ctx: Context, actor: Actor, unit_id: int, raw: Mapping[str, Any]) -> Change:
    """Edit a unit; a corrected account re-sends its self-run canteens' failed payouts."""
    with unique_races(), ctx.db.begin() as conn:
        row = locked_row(conn, Unit, unit_id, "单位")
        actor.require_unit(unit_id)
        values = parse(UNIT_FIELDS, raw, row)
        change = apply_unit(conn, ctx, actor, row, values)
        if "bank_account" in change.after:
            change.payees = _self_run_canteens(conn, unit_id)
    return change


def apply_unit(
    conn: Connection, ctx: Context, actor: Actor, row: Any, values: Mapping[str, Any]
) -> Change:
    """Inside the caller's transaction: check and write the fields that change, audit."""
    _not_retired(row, "单位")
    before, after = diff(row, values)
    require_fields(actor, UNIT_FIELDS, after)
    final = {**snapshot(row, UNIT_FIELDS), **values}
    raise_first(unit_problems(DbLookup(conn), final, after, int(row.id)))
    change = Change(
        "unit", int(row.id), "update", scope_of("unit", row.code, row.name), before, after
    )
    if after:
        new = {k: values[k] for k in after}
        if "region_id" in new:
            actor.require_region(new["region_id"])
            # The unit's canteens follow it (every row carries its region).
            conn.execute(
                update(Canteen).where(Canteen.unit_id == row.id).values(region_id=new["region_id"])
            )
        conn.execute(update(Unit).where(Unit.id == row.id).values(**new))
        record(conn, ctx, actor, change)
    return change


def _self_run_canteens(conn: Connection, unit_id: int) -> list[int]:
    """Canteens paid to their unit's own account (no operator account of their own)."""
    return list(
        conn.execute(
            select(Canteen.id).where(
                Canteen.unit_id == unit_id,
                Canteen.operation == "self",
                func.coalesce(Canteen.operator_bank_account, "") == "",
            )
        ).scalars()
    )


# --- canteens -----------------------------------------------------------------------------
def create_canteen(ctx: Context, actor: Actor, raw: Mapping[str, Any]) -> Change:
    """A canteen of a unit, with its payable account; it starts "planned" (no terminal)."""
    require_bureau(actor)
    values = parse(CANTEEN_FIELDS, raw)
    with unique_races(), ctx.db.begin() as conn:
        if values.get("unit_id") is not None:
            # By the unit's region as it is now (a unit created since the actor was loaded).
            region = conn.execute(
                select(Unit.region_id).where(Unit.id == values["unit_id"])
            ).scalar()
            if region is not None:
                require_bureau(actor, int(region), check=True)
        _cid, change = insert_canteen(conn, ctx, actor, values)
    return change


CANTEEN_DEFAULTS: dict[str, Any] = {
    "location": "",
    "opening_hours": "",
    "capacity": 0,
    "windows": 0,
    "service_staff": 0,
    "dining_area_m2": 0,
    "operation": "self",
    "operator_name": None,
    "operator_bank_account": None,
    "contract_starts": None,
    "contract_ends": None,
    "contact": None,
    "phone": None,
    "notes": "",
    "district": "",
    "guest_access": "none",
    "guest_note": "",
    "coordinates": None,
}


def insert_canteen(
    conn: Connection, ctx: Context, actor: Actor, values: dict[str, Any], *, checked: bool = False
) -> tuple[int, Change]:
    for k in ("code", "name", "unit_id"):
        if values.get(k) is None:
            raise error_of(BadValue(CANTEEN_FIELDS[k].label, "不能为空"))
    full = {**CANTEEN_DEFAULTS, **values}
    if not checked:
        raise_first(canteen_problems(DbLookup(conn), full, full, None))
    region = conn.execute(select(Unit.region_id).where(Unit.id == full["unit_id"])).scalar_one()
    cid = builders.create_canteen(
        conn,
        int(region),
        full["unit_id"],
        full["code"],
        full["name"],
        operation=full["operation"],
        operator_name=full["operator_name"],
        operator_bank_account=full["operator_bank_account"],
        location=full["location"],
        contact=full["contact"],
        phone=full["phone"],
        capacity=full["capacity"],
        service_staff=full["service_staff"],
        dining_area_m2=full["dining_area_m2"],
        opening_hours=full["opening_hours"],
        rollout_status="planned",
        windows=full["windows"],
        contract_starts=full["contract_starts"],
        contract_ends=full["contract_ends"],
        district=full["district"],
        guest_access=full["guest_access"],
        guest_note=full["guest_note"],
        coordinates=full["coordinates"],
    )
    if full["notes"]:
        conn.execute(update(Canteen).where(Canteen.id == cid).values(notes=full["notes"]))
    change = Change(
        "canteen",
        cid,
        "create",
        scope_of("canteen", full["code"], full["name"]),
        None,
        {k: json_value(full[k]) for k in CANTEEN_FIELDS},
    )
    record(conn, ctx, actor, change)
    return cid, change


def update_canteen(ctx: Context, actor: Actor, canteen_id: int, raw: Mapping[str, Any]) -> Change:
    """Edit a canteen; a corrected payee re-sends the payouts that failed for it."""
    with unique_races(), ctx.db.begin() as conn:
        row = locked_row(conn, Canteen, canteen_id, "食堂")
        # The owning unit's admin (a canteen manager runs the till, not the record).
        actor.require_unit(int(row.unit_id))
        values = parse(CANTEEN_FIELDS, raw, row)
        change = apply_canteen(conn, ctx, actor, row, values)
    if set(PAYEE_FIELDS) & set(change.after):
        change.payees = [canteen_id]
    return change


def apply_canteen(
    conn: Connection, ctx: Context, actor: Actor, row: Any, values: Mapping[str, Any]
) -> Change:
    _not_retired(row, "食堂")
    before, after = diff(row, values)
    require_fields(actor, CANTEEN_FIELDS, after)
    final = {**snapshot(row, CANTEEN_FIELDS), **values}
    raise_first(canteen_problems(DbLookup(conn), final, after, int(row.id)))
    change = Change(
        "canteen", int(row.id), "update", scope_of("canteen", row.code, row.name), before, after
    )
    if after:
        new = {k: values[k] for k in after}
        if "unit_id" in new:
            if not actor.manages_unit(new["unit_id"]):
                raise Forbidden("不在本区域（及下级区域）管辖范围内")
            new["region_id"] = conn.execute(
                select(Unit.region_id).where(Unit.id == new["unit_id"])
            ).scalar_one()
            conn.execute(update(Unit).where(Unit.id == new["unit_id"]).values(has_canteen=True))
        conn.execute(update(Canteen).where(Canteen.id == row.id).values(**new))
        record(conn, ctx, actor, change)
    return change
