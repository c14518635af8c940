"""``onecard bench --face-only``: 1:N face identification at the city's scale.

Contract: ``run_face(people, requests, seed)`` enrols ``people`` synthetic descriptors
(sealed with AES-256-GCM as ``faces.service`` stores them), builds the region's gallery
the way a server process does on first use (decrypt every template, one float32
matrix: ``faces.gallery``), then times ``faces.gallery.identify`` per request, in
three kinds of request:

- ``own canteen``: a canteen that serves only its own unit (about people/units
  enrolled people accepted): the face alone decides;
- ``city, face only``: a canteen serving visitors — the whole city is accepted, more
  than ``face_digits_above``: the answer is ``need_digits``;
- ``city + 4 digits``: the same request again with the phone's last 4 digits;
- ``city scan (no digits rule)``: the whole city searched by the face alone (one
  product over the whole matrix) — what a canteen below ``face_digits_above`` with
  that many people would pay; the worst case of the index.

It returns p50/p99 per kind, how many answers named the right person, the gallery's
memory and the process's resident memory before and after. The descriptors are
synthetic, spread like dlib's: people ≈ 0.9 apart, a probe ≈ 0.35 from its person.
The database is not involved (its part is one read of the templates per process start,
and a version check at most once a second: docs/face.md); the bench measures the part
every face payment pays.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from onecard.faces import gallery
from onecard.faces.queries import EnrolledFace
from onecard.faces.sealing import DIMENSIONS, open_sealed, seal

UNITS = 1679  # the city's units (bench.city.FULL)


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class KindFigures:
    requests: int = 0
    right: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    ms: list[float] = field(default_factory=list)

    def pct(self, p: float) -> float:
        return float(np.percentile(self.ms, p)) if self.ms else 0.0


@dataclass
class FaceReport:
    people: int
    seal_s: float
    load_s: float
    matrix_bytes: int
    gallery_bytes: int
    rss_before: int
    rss_after: int
    kinds: dict[str, KindFigures]


def run_face(
    people: int = 83_600, requests: int = 2_000, seed: int = 735, digits_above: int = 10_000
) -> FaceReport:
    rng = np.random.default_rng(seed)
    rss_before = rss_bytes()
    center = rng.normal(0, 0.07, DIMENSIONS).astype(np.float32)
    faces = (center + rng.normal(0, 0.9 / np.sqrt(2 * DIMENSIONS), (people, DIMENSIONS))).astype(
        np.float32
    )
    units = rng.integers(1, UNITS + 1, people)
    phones = rng.integers(0, 10_000, people)
    rows = [
        EnrolledFace(i + 1, int(units[i]), "staff", f"139{int(phones[i]):08d}", f"S{i + 1}", b"")
        for i in range(people)
    ]
    key = os.urandom(32)
    started = time.perf_counter()
    sealed = [seal(key, i + 1, faces[i]) for i in range(people)]
    seal_s = time.perf_counter() - started
    del faces
    started = time.perf_counter()
    matrix = np.empty((people, DIMENSIONS), dtype=np.float32)
    for i, blob in enumerate(sealed):
        matrix[i] = open_sealed(key, i + 1, blob)
    g = gallery.build(1, (people, people), rows, matrix)
    load_s = time.perf_counter() - started
    del sealed, matrix
    names = ("own canteen", "city, face only", "city + 4 digits", "city scan (no digits rule)")
    kinds = {k: KindFigures() for k in names}
    for _ in range(requests):
        i = int(rng.integers(0, people))
        probe = (g.matrix[i] + rng.normal(0, 0.35 / np.sqrt(DIMENSIONS), DIMENSIONS)).astype(
            np.float32
        )
        unit = int(g.unit_ids[i])
        city = gallery.Accepts(unit, True, True)
        asks = (
            ("own canteen", gallery.Accepts(unit, False, False), None, digits_above),
            ("city, face only", city, None, digits_above),
            ("city + 4 digits", city, int(g.phone4[i]), digits_above),
            ("city scan (no digits rule)", city, None, people + 1),
        )
        for kind, accepts, digits, above in asks:
            t0 = time.perf_counter()
            found = gallery.identify(
                g, accepts, probe, digits, threshold=0.6, margin=0.08, digits_above=above
            )
            kf = kinds[kind]
            kf.ms.append((time.perf_counter() - t0) * 1000)
            kf.requests += 1
            name = type(found).__name__
            kf.answers[name] = kf.answers.get(name, 0) + 1
            if isinstance(found, gallery.Match) and found.person_id == i + 1:
                kf.right += 1
    return FaceReport(
        people=people,
        seal_s=seal_s,
        load_s=load_s,
        matrix_bytes=g.matrix.nbytes,
        gallery_bytes=g.nbytes,
        rss_before=rss_before,
        rss_after=rss_bytes(),
        kinds=kinds,
    )
