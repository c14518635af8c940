"""Who is acting: a person with role grants, or the system itself (CLI runs, jobs).

Contract: services that change things take an ``Actor`` and ask it ``require_*``; each
check raises ``Forbidden`` when the actor's grants do not cover the object. The web
layer builds the actor from the session; the CLI acts as ``Actor.system()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from onecard.core.errors import Forbidden
from onecard.org.models import RoleGrant

Grant = tuple[str, int | None, int | None]  # (role, unit_id, canteen_id)

# The bureau: who runs the city (its admin, and the clearing operator who runs the money).
BUREAU_ROLES = ("bureau_admin", "clearing_operator")
# Who reads everything in the city: the bureau, finance and the auditors.
CITY_READERS = (*BUREAU_ROLES, "finance", "auditor")


@dataclass(frozen=True)
class Actor:
    label: str
    person_id: int | None = None
    unit_id: int | None = None
    grants: frozenset[Grant] = field(default_factory=frozenset)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label, grants=frozenset({("bureau_admin", None, None)}))

    @classmethod
    def load(cls, conn: Connection, person_id: int, label: str, unit_id: int) -> Actor:
        rows = conn.execute(
            select(RoleGrant.role_code, RoleGrant.unit_id, RoleGrant.canteen_id).where(
                RoleGrant.person_id == person_id
            )
        )
        grants = frozenset((r, u, c) for r, u, c in rows) | {("diner", None, None)}
        return cls(label=label, person_id=person_id, unit_id=unit_id, grants=grants)

    def roles(self) -> set[str]:
        return {g[0] for g in self.grants}

    def has(self, *roles: str) -> bool:
        return any(g[0] in roles for g in self.grants)

    @property
    def is_bureau(self) -> bool:
        return self.has(*BUREAU_ROLES)

    def can_read_everything(self) -> bool:
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

    def require_money_runs(self) -> None:
        """Distribution, settlement, clearing: the bureau and its clearing operator."""
        self.require_bureau()

    def manages_unit(self, unit_id: int) -> bool:
        return self.is_bureau or any(r == "unit_admin" and u == unit_id for r, u, _ in self.grants)

    def require_unit(self, unit_id: int) -> None:
        if not self.manages_unit(unit_id):
            raise Forbidden()

    def manages_canteen(self, canteen_id: int, owning_unit_id: int | None = None) -> bool:
        if self.is_bureau:
            return True
        if owning_unit_id is not None and self.manages_unit(owning_unit_id):
            return True
        return any(r == "canteen_manager" and c == canteen_id for r, _, c in self.grants)

    def require_canteen(self, canteen_id: int, owning_unit_id: int | None = None) -> None:
        if not self.manages_canteen(canteen_id, owning_unit_id):
            raise Forbidden()

    def supervises_unit(self, unit_id: int) -> bool:
        """An anti-waste supervisor (反浪费监督员) of the unit, or the bureau (R-R4)."""
        return self.is_bureau or any(
            r == "waste_supervisor" and u == unit_id for r, u, _ in self.grants
        )

    def require_supervisor(self, unit_id: int) -> None:
        if not self.supervises_unit(unit_id):
            raise Forbidden()
