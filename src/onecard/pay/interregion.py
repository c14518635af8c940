"""Cross-region facts for the payment path (issue 17 §2): whose fund region a payer and a
canteen belong to, and the dining agreements in force between two fund regions.

Contract:
- ``FundMap`` is the deployment's fund-region map (``org.fund_regions``) and the payment
  network numbers it holds. ``fund_map(conn, url, version)`` returns it from an in-process
  cache keyed by the database URL and the version in ``interregion_fund_version`` (bumped
  by a trigger on every write to ``regions``, migration 0031); the callers read the version
  with the canteen's row (no extra round trip). The cache is exact: a stale map is never
  used, because any change to ``regions`` — in this process or another — changes the
  version. No version row (a table emptied by a test's TRUNCATE): read every time.
- ``FundMap.single``: the deployment has one fund region; the payment path then skips
  everything here (today's single-fund city decides exactly as before).
- ``Terms`` is one accepted agreement as a payment reads it; ``terms_for`` picks the one
  that covers a unit and canteen on a day (pure). ``diners`` is the same rule from a
  canteen's side: the regions whose people it takes (its own fund region's, by its own
  rule; another fund region's, under an agreement in force there) — the regions face
  identification searches (``pay.face_pay``). ``read_terms(conn, home, host)`` reads
  the accepted agreements of a pair; ``read_all_terms(conn)`` every accepted agreement
  (the batch reads them with its other facts: a deployment has a few dozen).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, ScalarSelect, select

from onecard.core.errors import NotFound
from onecard.interregion.models import Agreement, FundVersion
from onecard.ledger.models import Account
from onecard.org.fund_regions import fund_regions_of
from onecard.org.models import Region


@dataclass(frozen=True)
class FundMap:
    fund_of: dict[int, int]  # region id → fund region id
    networks: frozenset[str]  # the payment networks (regions.network_no) of this deployment
    # fund region → its ``region_due`` account (opened with its system accounts, in the
    # same transaction as the ``regions`` write that bumps the version)
    due: dict[int, int] = field(default_factory=dict)

    @property
    def single(self) -> bool:
        return len(self.members) <= 1

    @cached_property
    def members(self) -> dict[int, frozenset[int]]:
        """Fund region → the regions whose people it funds (itself among them)."""
        out: dict[int, set[int]] = {}
        for rid, fund in self.fund_of.items():
            out.setdefault(fund, set()).add(rid)
        return {fund: frozenset(rids) for fund, rids in out.items()}


_lock = threading.Lock()
_cache: dict[str, tuple[int, FundMap]] = {}


def version_column() -> ScalarSelect[Any]:
    """The fund-map version as a scalar subquery, to read with another row."""
    return select(FundVersion.version).where(FundVersion.id == 1).scalar_subquery()


def _load(conn: Connection) -> FundMap:
    rows = conn.execute(select(Region.id, Region.parent_id, Region.own_fund, Region.network_no))
    regs = [(int(r[0]), None if r[1] is None else int(r[1]), bool(r[2]), r[3]) for r in rows]
    due = conn.execute(
        select(Account.region_id, Account.id).where(
            Account.owner_kind == "system", Account.kind == "region_due"
        )
    )
    return FundMap(
        fund_regions_of((rid, pid, own) for rid, pid, own, _ in regs),
        frozenset(str(n) for *_, n in regs if n),
        {int(r): int(a) for r, a in due},
    )


def fund_map(conn: Connection, version: int | None) -> FundMap:
    """The fund-region map, cached per database while ``version`` stays the same."""
    key = conn.engine.url.render_as_string(hide_password=True)
    if version is not None:
        with _lock:
            hit = _cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
    found = _load(conn)
    if version is not None:
        with _lock:
            _cache[key] = (version, found)
    return found


def known_single(conn: Connection) -> bool:
    """The cached map of this database says one fund region (the batch then reads no
    agreements; if the version it reads shows a change, the cross-region payments of that
    batch go to the single path, ``pay.batch``)."""
    with _lock:
        hit = _cache.get(conn.engine.url.render_as_string(hide_password=True))
    return hit is not None and hit[1].single


def current_fund_map(conn: Connection) -> FundMap:
    """The map, reading the version first (for callers off the hot path)."""
    version = conn.execute(select(FundVersion.version).where(FundVersion.id == 1)).scalar()
    return fund_map(conn, None if version is None else int(version))


@dataclass(frozen=True)
class Terms:
    """An accepted agreement as a payment reads it."""

    id: int
    home: int
    host: int
    unit_ids: frozenset[int] | None  # None: all of A's units
    canteen_ids: frozenset[int] | None  # None: all of B's canteens
    price_class: str  # visitor | own
    purse: str  # subsidy | cash | subsidy_first
    valid_from: date
    valid_to: date | None

    def covers(self, unit_id: int, canteen_id: int, day: date) -> bool:
        return (self.unit_ids is None or unit_id in self.unit_ids) and self.serves(canteen_id, day)

    def serves(self, canteen_id: int, day: date) -> bool:
        """In force on ``day`` at this canteen (for some of the home's units)."""
        return (
            (self.canteen_ids is None or canteen_id in self.canteen_ids)
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )


@dataclass(frozen=True)
class Cross:
    """A payment across fund regions, as the decision core reads it: the agreements of
    the pair, and the two ``region_due`` accounts an approval posts to (the payer's fund
    region owes, the canteen's is owed), so each fund region's books balance."""

    terms: tuple[Terms, ...]
    home_due: int
    host_due: int


def cross_of(fm: FundMap, home: int, host: int, terms: tuple[Terms, ...]) -> Cross:
    try:
        return Cross(terms, fm.due[home], fm.due[host])
    except KeyError as missing:
        raise NotFound(what=f"account system:region_due of region {missing}") from None


def terms_for(terms: Iterable[Terms], unit_id: int, canteen_id: int, day: date) -> Terms | None:
    """The agreement (the oldest, when several) covering a payment. Pure."""
    found = [t for t in terms if t.covers(unit_id, canteen_id, day)]
    return min(found, key=lambda t: t.id) if found else None


@dataclass(frozen=True)
class Diners:
    """Whose people a canteen takes, by region — the rule ``pay.decide`` applies to a
    payer, read from the canteen's side: a payer of the canteen's own fund region is
    taken by the canteen's own rule (``pricing.diner_class``); a payer of another fund
    region only under an agreement that covers their unit at this canteen on the day
    (``terms_for``, ``Terms.covers``)."""

    own: frozenset[int]  # the regions of the canteen's fund region
    # Each other fund region with an agreement in force here: its regions, and the units
    # those agreements cover (None: all of them).
    partners: tuple[tuple[frozenset[int], frozenset[int] | None], ...]


def diners(
    fm: FundMap, terms: Iterable[Terms], region_id: int, canteen_id: int, day: date
) -> Diners:
    """``Diners`` of the canteen ``canteen_id`` in region ``region_id``. Pure."""
    host = fm.fund_of.get(region_id, region_id)
    units: dict[int, frozenset[int] | None] = {}
    for t in terms:
        if t.host != host or t.home == host or t.home not in fm.members:
            continue
        if not t.serves(canteen_id, day):
            continue
        # One entry a home fund region (several agreements: their units together), so no
        # one is searched twice.
        had = units.get(t.home, frozenset())
        units[t.home] = None if had is None or t.unit_ids is None else had | t.unit_ids
    return Diners(
        fm.members.get(host, frozenset({region_id})),
        tuple((fm.members[home], u) for home, u in sorted(units.items())),
    )


def _ids(raw: str | None) -> frozenset[int] | None:
    return None if raw is None else frozenset(int(x) for x in json.loads(raw))


def terms_of_row(r: Any) -> Terms:
    return Terms(
        int(r.id),
        int(r.home_region_id),
        int(r.host_region_id),
        _ids(r.unit_ids),
        _ids(r.canteen_ids),
        str(r.price_class),
        str(r.purse),
        r.valid_from,
        r.valid_to,
    )


TERMS_COLUMNS = (
    Agreement.id,
    Agreement.home_region_id,
    Agreement.host_region_id,
    Agreement.unit_ids,
    Agreement.canteen_ids,
    Agreement.price_class,
    Agreement.purse,
    Agreement.valid_from,
    Agreement.valid_to,
)


def read_terms(conn: Connection, home: int, host: int) -> tuple[Terms, ...]:
    rows = conn.execute(
        select(*TERMS_COLUMNS).where(
            Agreement.home_region_id == home,
            Agreement.host_region_id == host,
            Agreement.status == "accepted",
        )
    )
    return tuple(terms_of_row(r) for r in rows)


def read_all_terms(conn: Connection) -> tuple[Terms, ...]:
    rows = conn.execute(select(*TERMS_COLUMNS).where(Agreement.status == "accepted"))
    return tuple(terms_of_row(r) for r in rows)
