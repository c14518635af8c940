"""Who is acting: a person with role grants, or the system itself (CLI runs, jobs).

Contract: services that change things take an ``Actor`` and ask it ``require_*``; each
check raises ``Forbidden`` when the actor's grants do not cover the object. The web
layer builds the actor from the session; the CLI acts as ``Actor.system()``.

Regions (issue 17 §1): a city role (bureau admin, clearing operator, finance, auditor)
may be granted for one region (``role_grants.region_id``); it then reaches that region
and every region below it (``org.fund_regions.subtree``), loaded once per request into
``Actor.scope`` (regions, and their units and canteens). A person's city roles are held
in one region or all deployment-wide (``org.grants`` refuses a mix). ``scope`` None is the
whole deployment — every grant without a region (or for the top region), and
``Actor.system()``.

Fail closed: ``has``, ``is_bureau``, ``can_read_everything`` and ``require_bureau`` /
``require_city_reader`` mean *deployment-wide*, so a service not yet region-aware refuses
a regional grant (403). Region-aware code asks ``holds`` (the role, in any region),
``covers_region`` / ``require_region`` / ``bureau_of`` / ``reads_region`` for an
object's region, and ``in_scope(column)`` to filter a listing. ``manages_unit``,
``manages_canteen``, ``supervises_unit`` and ``reads_unit`` / ``reads_canteen`` already
look at the scope, so every check by unit or canteen is region-aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, select, true

from onecard.core.errors import Forbidden
from onecard.org.fund_regions import subtree
from onecard.org.models import Canteen, Region, RoleGrant, Unit

Grant = tuple[str, int | None, int | None]  # (role, unit_id, canteen_id)

# The bureau: who runs the city (its admin, and the clearing operator who runs the money).
BUREAU_ROLES = ("bureau_admin", "clearing_operator")
# Who reads everything in the city: the bureau, finance and the auditors.
CITY_READERS = (*BUREAU_ROLES, "finance", "auditor")


@dataclass(frozen=True)
class RegionScope:
    """What regional city roles reach: the region granted (``top``), it and every region
    below it, and their units and canteens (retired ones too)."""

    top: int
    regions: frozenset[int]
    units: frozenset[int]
    canteens: frozenset[int]

    @classmethod
    def load(cls, conn: Connection, region_id: int) -> RegionScope:
        regions = frozenset(subtree(conn, region_id))
        ids = sorted(regions)
        units = conn.execute(select(Unit.id).where(Unit.region_id.in_(ids))).scalars()
        canteens = conn.execute(select(Canteen.id).where(Canteen.region_id.in_(ids))).scalars()
        return cls(
            region_id,
            regions,
            frozenset(int(u) for u in units),
            frozenset(int(c) for c in canteens),
        )


@dataclass(frozen=True)
class Actor:
    label: str
    person_id: int | None = None
    unit_id: int | None = None
    grants: frozenset[Grant] = field(default_factory=frozenset)
    # Where the city roles reach: None = the whole deployment.
    scope: RegionScope | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label, grants=frozenset({("bureau_admin", None, None)}))

    @classmethod
    def load(cls, conn: Connection, person_id: int, label: str, unit_id: int) -> Actor:
        rows = conn.execute(
            select(
                RoleGrant.role_code, RoleGrant.unit_id, RoleGrant.canteen_id, RoleGrant.region_id
            ).where(RoleGrant.person_id == person_id)
        ).all()
        grants = frozenset((r, u, c) for r, u, c, _ in rows) | {("diner", None, None)}
        held_in = {g for r, _, _, g in rows if r in CITY_READERS}
        scope = None
        if held_in and None not in held_in:
            # ``org.grants`` keeps a person's city roles in one region; should two ever be
            # found, the lowest id is taken (never the union, never more than granted).
            # A grant for the top region (no parent) is a grant for the whole deployment.
            rid = min(int(g) for g in held_in if g is not None)
            parent = conn.execute(select(Region.parent_id).where(Region.id == rid)).first()
            if parent is not None and parent.parent_id is not None:
                scope = RegionScope.load(conn, rid)
        return cls(label=label, person_id=person_id, unit_id=unit_id, grants=grants, scope=scope)

    def roles(self) -> set[str]:
        return {g[0] for g in self.grants}

    # --- roles ----------------------------------------------------------------------------
    def holds(self, *roles: str) -> bool:
        """One of the roles, in whatever region it is held."""
        return any(g[0] in roles for g in self.grants)

    def has(self, *roles: str) -> bool:
        """One of the roles, deployment-wide: a city role held for a region does not count
        (unit and canteen roles are never regional)."""
        return any(
            g[0] in roles and (self.scope is None or g[0] not in CITY_READERS) for g in self.grants
        )

    @property
    def is_bureau(self) -> bool:
        """The bureau of the whole deployment."""
        return self.has(*BUREAU_ROLES)

    def can_read_everything(self) -> bool:
        """Reads the whole deployment (its bureau, finance, auditors)."""
        return self.has(*CITY_READERS)

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise Forbidden()

    def require_bureau(self, *also: str) -> None:
        """The bureau (bureau admin or clearing operator), or one of the roles ``also``."""
        self.require(*BUREAU_ROLES, *also)

    def require_city_reader(self, *also: str) -> None:
        """Whoever reads the whole city (bureau, finance, auditors), or one of ``also``."""
        self.require(*CITY_READERS, *also)

    def require_money_runs(self, *, of_region: bool = False) -> None:
        """Distribution, settlement, clearing: the bureau and its clearing operator.

        ``of_region``: a run of one fund region, which a bureau held for a region may
        start too; the run then checks the region it resolves is within the actor's
        scope (``funding.regions.resolve(conn, code, actor)``)."""
        if of_region:
            if not self.holds(*BUREAU_ROLES):
                raise Forbidden()
            return
        self.require_bureau()

    # --- regions --------------------------------------------------------------------------
    @property
    def region_ids(self) -> frozenset[int] | None:
        """The regions the city roles reach; None = every region."""
        return None if self.scope is None else self.scope.regions

    def covers_region(self, region_id: int | None) -> bool:
        """``region_id`` lies in the scope (None, the whole deployment: unscoped only)."""
        if self.scope is None:
            return True
        return region_id is not None and region_id in self.scope.regions

    def require_region(self, region_id: int | None) -> None:
        if not self.covers_region(region_id):
            raise Forbidden()

    def bureau_of(self, region_id: int | None) -> bool:
        """The bureau (admin or clearing operator) of a region at or above ``region_id``."""
        return self.holds(*BUREAU_ROLES) and self.covers_region(region_id)

    def require_bureau_of(self, region_id: int | None, *roles: str) -> None:
        """Holds one of ``roles`` (default: the bureau's) and reaches ``region_id``."""
        if not (self.holds(*(roles or BUREAU_ROLES)) and self.covers_region(region_id)):
            raise Forbidden()

    def reads_region(self, region_id: int | None) -> bool:
        return self.holds(*CITY_READERS) and self.covers_region(region_id)

    def require_reader_of(self, region_id: int | None) -> None:
        if not self.reads_region(region_id):
            raise Forbidden()

    def in_scope(self, column: Any) -> ColumnElement[bool]:
        """A filter keeping the rows whose region ``column`` lies in the scope."""
        if self.scope is None:
            return true()
        return column.in_(sorted(self.scope.regions))  # type: ignore[no-any-return]

    @property
    def unit_ids(self) -> frozenset[int] | None:
        """The units of the regions the city roles reach (when loaded); None = all."""
        return None if self.scope is None else self.scope.units

    def covers_unit(self, unit_id: int) -> bool:
        return self.scope is None or unit_id in self.scope.units

    def covers_canteen(self, canteen_id: int) -> bool:
        return self.scope is None or canteen_id in self.scope.canteens

    def reads_unit(self, unit_id: int) -> bool:
        """Its admin, or a city reader (bureau, finance, auditor) whose scope holds it."""
        return self.manages_unit(unit_id) or (
            self.holds(*CITY_READERS) and self.covers_unit(unit_id)
        )

    def reads_canteen(self, canteen_id: int, owning_unit_id: int | None = None) -> bool:
        return self.manages_canteen(canteen_id, owning_unit_id) or (
            self.holds(*CITY_READERS) and self.covers_canteen(canteen_id)
        )

    # --- units and canteens ---------------------------------------------------------------
    def _bureau_over_unit(self, unit_id: int) -> bool:
        return self.holds(*BUREAU_ROLES) and self.covers_unit(unit_id)

    def manages_unit(self, unit_id: int) -> bool:
        return self._bureau_over_unit(unit_id) or any(
            r == "unit_admin" and u == unit_id for r, u, _ in self.grants
        )

    def require_unit(self, unit_id: int) -> None:
        if not self.manages_unit(unit_id):
            raise Forbidden()

    def manages_canteen(self, canteen_id: int, owning_unit_id: int | None = None) -> bool:
        if self.holds(*BUREAU_ROLES) and self.covers_canteen(canteen_id):
            return True
        if owning_unit_id is not None and self.manages_unit(owning_unit_id):
            return True
        return any(r == "canteen_manager" and c == canteen_id for r, _, c in self.grants)

    def require_canteen(self, canteen_id: int, owning_unit_id: int | None = None) -> None:
        if not self.manages_canteen(canteen_id, owning_unit_id):
            raise Forbidden()

    def supervises_unit(self, unit_id: int) -> bool:
        """An anti-waste supervisor (反浪费监督员) of the unit, or the bureau (R-R4)."""
        return self._bureau_over_unit(unit_id) or any(
            r == "waste_supervisor" and u == unit_id for r, u, _ in self.grants
        )

    def require_supervisor(self, unit_id: int) -> None:
        if not self.supervises_unit(unit_id):
            raise Forbidden()
