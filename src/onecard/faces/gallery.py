"""1:N face identification: a fund region's enrolled faces as one float32 matrix, cached.

Contract:
- ``Gallery`` holds the templates of a set of regions (``regions``: a fund region's —
  ``pay.interregion.FundMap.members``: the region keeping the fund and those sharing
  it), decrypted, as a C-contiguous ``float32`` matrix (one row per person, 128
  columns) with their squared lengths, and beside it what acceptance and the digits
  read: person id, unit, guest or not, the last 4 digits of the phone and of the staff
  number. ``nbytes`` is its memory.
- ``gallery_for(ctx, regions)`` returns the gallery of those regions from this
  process's cache; ``forget(ctx, region_id)`` drops every cached gallery holding the
  region (``faces.service`` calls it on every enrolment and withdrawal). Another
  process's change is seen within ``RECHECK_S``: the cache re-reads the gallery's
  version (count and largest id of its regions' templates: any insert or delete changes
  it) at most that often, and rebuilds on a change. A change of the fund regions (a
  township given its own fund) asks for another set of regions: a gallery built for it,
  and the cached ones it overlaps are dropped.
- ``identify(gallery, accepts, probe, digits, …)`` is pure: among the people the canteen
  accepts (``Accepts``, the same rule as ``pay.pricing.diner_class``: its own unit's
  people, other units' staff if it serves visitors, guests if it serves guests — the
  payment's decision checks it again), the nearest face by Euclidean distance. A canteen
  that accepts more than ``digits_above`` enrolled people asks for the digits before
  any search (``NeedDigits``). Otherwise it is a ``Match`` only when that distance is
  within the threshold and the second nearest is at least ``margin`` farther; when
  someone is within the threshold but the margin is thin, ``NeedDigits`` — the till
  asks for the last 4 digits of the phone or staff number and sends them, and the
  search runs again among the people whose digits match. ``NoMatch``: no one within
  the threshold (or still ambiguous with the digits).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from onecard.core.context import Context
from onecard.faces import queries
from onecard.faces.sealing import DIMENSIONS, open_sealed

RECHECK_S = 1.0  # how stale another process's enrolment may be seen here


@dataclass(frozen=True)
class Gallery:
    region_id: int  # the fund region (any of ``regions``: a label)
    version: tuple[int, int]
    person_ids: NDArray[np.int64]
    unit_ids: NDArray[np.int64]
    guests: NDArray[np.bool_]
    phone4: NDArray[np.int32]  # -1: none
    staff4: NDArray[np.int32]
    matrix: NDArray[np.float32]  # (n, 128), C-contiguous
    sq_norms: NDArray[np.float32]
    regions: frozenset[int] = frozenset()  # whose templates it holds

    @property
    def size(self) -> int:
        return len(self.person_ids)

    @property
    def nbytes(self) -> int:
        arrays = (self.person_ids, self.unit_ids, self.guests, self.phone4, self.staff4)
        return self.matrix.nbytes + self.sq_norms.nbytes + sum(a.nbytes for a in arrays)


def last4(text: str | None) -> int:
    digits = "".join(c for c in (text or "") if c.isascii() and c.isdigit())
    return int(digits[-4:]) if len(digits) >= 4 else -1


def build(
    region_id: int,
    version: tuple[int, int],
    people: list[queries.EnrolledFace],
    matrix: NDArray[np.float32],
    regions: frozenset[int] | None = None,
) -> Gallery:
    """A gallery from its rows and their descriptors (row i of ``matrix`` is people[i]);
    ``regions``: whose templates they are (default: ``region_id`` alone)."""
    m = np.ascontiguousarray(matrix, dtype=np.float32).reshape(len(people), DIMENSIONS)
    return Gallery(
        region_id=region_id,
        version=version,
        person_ids=np.fromiter((p.person_id for p in people), np.int64, len(people)),
        unit_ids=np.fromiter((p.unit_id for p in people), np.int64, len(people)),
        guests=np.fromiter((p.category == "guest" for p in people), np.bool_, len(people)),
        phone4=np.fromiter((last4(p.phone) for p in people), np.int32, len(people)),
        staff4=np.fromiter((last4(p.staff_no) for p in people), np.int32, len(people)),
        matrix=m,
        sq_norms=np.einsum("ij,ij->i", m, m),
        regions=frozenset({region_id}) if regions is None else regions,
    )


def load(ctx: Context, regions: frozenset[int]) -> Gallery:
    version, people = queries.enrolled_faces(ctx, regions)
    key = ctx.settings.face_key_bytes
    matrix = np.empty((len(people), DIMENSIONS), dtype=np.float32)
    for i, p in enumerate(people):
        matrix[i] = open_sealed(key, p.person_id, p.sealed)
    return build(min(regions), version, people, matrix, regions)


# --- the cache ----------------------------------------------------------------------------
_lock = threading.Lock()
# database URL → region set → (gallery, when its version was last checked)
_cache: dict[str, dict[frozenset[int], tuple[Gallery, float]]] = {}


def _db(ctx: Context) -> str:
    return ctx.db.engine.url.render_as_string(hide_password=True)


def gallery_for(
    ctx: Context, regions: frozenset[int] | int, *, now: Callable[[], float] = time.monotonic
) -> Gallery:
    """The gallery of ``regions`` (one region id: that region alone)."""
    regions = frozenset({regions}) if isinstance(regions, int) else regions
    db = _db(ctx)
    with _lock:
        found = _cache.get(db, {}).get(regions)
    if found is not None:
        gallery, checked = found
        if now() - checked < RECHECK_S:
            return gallery
        if queries.gallery_version(ctx, regions) == gallery.version:
            with _lock:
                _cache.setdefault(db, {})[regions] = (gallery, now())
            return gallery
    gallery = load(ctx, regions)
    with _lock:
        cached = _cache.setdefault(db, {})
        # The fund regions changed: a cached set overlapping this one is gone for good.
        for other in [k for k in cached if k != regions and k & regions]:
            del cached[other]
        cached[regions] = (gallery, now())
    return gallery


def forget(ctx: Context, region_id: int) -> None:
    """Drop every cached gallery of this database that holds ``region_id``."""
    with _lock:
        cached = _cache.get(_db(ctx), {})
        for regions in [k for k in cached if region_id in k]:
            del cached[regions]


# --- identification ---------------------------------------------------------------------
@dataclass(frozen=True)
class Accepts:
    """Who a canteen takes (``pay.pricing.diner_class``'s rule, as masks)."""

    unit_id: int
    serves_visitors: bool
    serves_guests: bool


@dataclass(frozen=True)
class Match:
    person_id: int
    distance: float


@dataclass(frozen=True)
class NeedDigits:
    # people within the threshold (a thin margin) or accepted (a large gallery); not
    # shown to the till
    candidates: int


@dataclass(frozen=True)
class NoMatch:
    pass


Identified = Match | NeedDigits | NoMatch


def accepted(g: Gallery, accepts: Accepts) -> NDArray[np.bool_]:
    own = g.unit_ids == accepts.unit_id
    other = ~own & (g.guests if accepts.serves_guests else np.zeros_like(own))
    if accepts.serves_visitors:
        other |= ~own & ~g.guests
    out: NDArray[np.bool_] = own | other
    return out


def identify(
    g: Gallery,
    accepts: Accepts,
    probe: NDArray[np.float32],
    digits: int | None,
    *,
    threshold: float,
    margin: float,
    digits_above: int,
) -> Identified:
    return identify_in(
        [(g, accepted(g, accepts))],
        probe,
        digits,
        threshold=threshold,
        margin=margin,
        digits_above=digits_above,
    )


Searched = tuple[Gallery, NDArray[np.bool_]]  # a gallery and which of its rows may pay here


def identify_in(
    searched: list[Searched],
    probe: NDArray[np.float32],
    digits: int | None,
    *,
    threshold: float,
    margin: float,
    digits_above: int,
) -> Identified:
    """``identify`` over several galleries at once (a canteen's own region and the
    regions whose people may eat there: those sharing its fund, and those with a dining
    agreement with it), each with its mask of accepted rows: one search, as if their
    rows were one matrix — the count, the nearest and the second nearest are taken over
    all of them."""
    masks: list[NDArray[np.bool_]] = []
    for g, mask in searched:
        if digits is not None:
            mask = mask & ((g.phone4 == digits) | (g.staff4 == digits))
        masks.append(mask)
    count = sum(int(m.sum()) for m in masks)
    if count == 0:
        return NoMatch()
    if digits is None and count > digits_above:
        # Too many people for a face alone: ask first, then search the few who match.
        return NeedDigits(count)
    p = np.asarray(probe, dtype=np.float32)
    pp = float(p @ p)
    # (squared distance, gallery, row) of each gallery's two nearest accepted rows.
    near: list[tuple[float, int, int]] = []
    within = 0
    for k, ((g, _), mask) in enumerate(zip(searched, masks, strict=True)):
        n = int(mask.sum())
        if n == 0:
            continue
        # |g - p|² = |g|² + |p|² - 2 g·p. A few accepted rows (a canteen of its own unit,
        # or the digits given) are gathered and searched alone; many, by one product over
        # the whole matrix with the others masked out (no copy of the matrix).
        if n * 4 <= g.size:
            rows = np.flatnonzero(mask)
            sq = g.sq_norms[rows] - 2.0 * (g.matrix[rows] @ p) + pp
        else:
            rows = np.arange(g.size)
            sq = g.sq_norms - 2.0 * (g.matrix @ p) + pp
            sq[~mask] = np.inf
        within += int((sq <= threshold * threshold).sum())
        top = np.argpartition(sq, 1)[:2] if len(sq) > 1 else np.array([0])
        near.extend((float(sq[i]), k, int(rows[i])) for i in top if np.isfinite(sq[i]))
    near.sort()
    best = float(np.sqrt(max(near[0][0], 0.0)))
    second = float(np.sqrt(max(near[1][0], 0.0))) if len(near) > 1 else np.inf
    if best > threshold:
        return NoMatch()
    clear = second - best >= margin
    if digits is None and not clear:
        return NeedDigits(within)
    if not clear:
        return NoMatch()
    _, k, row = near[0]
    return Match(int(searched[k][0].person_ids[row]), best)
