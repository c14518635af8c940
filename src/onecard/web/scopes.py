"""Who may open which admin page: the one place page scopes are decided.

Contract: ``unit_scope(ctx, actor, unit_id)`` returns the unit's row for a reader who may
see it — the unit's own admin, or the bureau and its read-only overseers (finance,
auditors) — and raises ``NotFound`` for a unit that does not exist and ``Forbidden``
(403) for everyone else. ``can_write_unit`` says whether forms are shown; the service
functions check again (``Actor.require_*``), so a hidden form is never the only guard.
``bureau_scope`` admits the bureau, the clearing operator, finance and auditors of the
whole deployment; ``region_scope`` also those of one region (issue 17 §1: the org pages
and the dashboard, which keep what they show to the actor's regions), and
``region_unit_scope`` / ``region_canteen_scope`` admit them to a unit's or canteen's
bureau page when it lies in their regions (403 otherwise). ``till_scope`` picks the
canteen a till page is about among those the actor runs (its managers, the owning unit's
admin, the bureau): the first by default, 404 for no such canteen, 403 for another's.
"""

from __future__ import annotations

from typing import Any

from onecard.core.context import Context
from onecard.core.errors import Forbidden, NotFound
from onecard.org import queries as org_queries
from onecard.org.actors import CITY_READERS, Actor
from onecard.pay.till_queries import till_canteens


def unit_scope(ctx: Context, actor: Actor, unit_id: int) -> Any:
    allowed = actor.manages_unit(unit_id) or actor.can_read_everything()
    unit = org_queries.unit_row(ctx, unit_id)
    if not allowed:
        # Whether or not the unit exists, someone outside it learns nothing: 403.
        raise Forbidden()
    if unit is None:
        raise NotFound(what="单位")
    return unit


def can_write_unit(actor: Actor, unit_id: int) -> bool:
    return actor.manages_unit(unit_id)


def canteen_scope(actor: Actor, canteen_id: int, unit_id: int) -> None:
    """A canteen's own pages: who runs it (manager, owning unit's admin, bureau) or a
    city reader; anyone else 403."""
    if not (actor.manages_canteen(canteen_id, unit_id) or actor.can_read_everything()):
        raise Forbidden()


def till_scope(
    ctx: Context, actor: Actor, canteen_id: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The canteen a till page shows (``canteen_id``, or the first the actor runs) and all
    the canteens the actor runs (the page's picker)."""
    mine = till_canteens(ctx, actor)
    if not mine:
        raise Forbidden()
    if canteen_id is None:
        return mine[0], mine
    for c in mine:
        if c["id"] == canteen_id:
            return c, mine
    if not org_queries.canteen_exists(ctx, canteen_id):
        raise NotFound(what="食堂")
    raise Forbidden()


def bureau_scope(actor: Actor) -> None:
    if not actor.can_read_everything():
        raise Forbidden()


def region_scope(actor: Actor) -> None:
    if not actor.holds(*CITY_READERS):
        raise Forbidden()


def region_unit_scope(actor: Actor, unit_id: int) -> None:
    region_scope(actor)
    if not actor.reads_unit(unit_id):
        raise Forbidden()


def region_canteen_scope(actor: Actor, canteen_id: int) -> None:
    region_scope(actor)
    if not actor.reads_canteen(canteen_id):
        raise Forbidden()


def can_run_money(actor: Actor) -> bool:
    return actor.is_bureau


def waste_scope(ctx: Context, actor: Actor, canteen_id: int) -> int:
    """A canteen's waste records (R-R4): its unit's anti-waste supervisors, whoever runs
    it, and the city's readers; 404 for no such canteen. Returns the owning unit's id."""
    if not org_queries.canteen_exists(ctx, canteen_id):
        if actor.can_read_everything() or actor.has("waste_supervisor", "unit_admin"):
            raise NotFound(what="食堂")
        raise Forbidden()
    unit_id = org_queries.canteen_owner(ctx, canteen_id)
    if not (
        actor.can_read_everything()
        or actor.supervises_unit(unit_id)
        or actor.manages_canteen(canteen_id, unit_id)
    ):
        raise Forbidden()
    return unit_id
