"""Face payments in the lunch rush (``onecard bench --face-share S``).

Contract: ``enrol_faces(city, share, seed)`` declares liveness on a share ``S`` of each
canteen's terminals (at least one per canteen when S > 0) and enrols every ordinary
diner with a synthetic descriptor — consent, template sealed with AES-256-GCM as
``faces.service`` stores them, under a key made for this run that the bench's servers
get as ``ONECARD_FACE_KEY`` — written with COPY in one transaction. It returns a
``FaceRush``: the face terminals, the key, and ``probe(person)``, a descriptor near the
person's own (≈ 0.35 away, people ≈ 0.9 apart, as ``bench.face``) that a till would
send. ``Workload`` pays by face at those terminals for the people enrolled
(``bench.load``). The default rush (S = 0) enrols nothing and sends no face payment.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import psycopg
from numpy.typing import NDArray

from onecard.bench.city import BenchCity, BenchPerson, copy_rows, plain_url
from onecard.faces.sealing import DIMENSIONS, key_id, seal

NOTICE = "bench"


@dataclass
class FaceRush:
    terminal_ids: set[int]
    key_b64: str
    faces: dict[int, NDArray[np.float32]]  # person id → enrolled descriptor
    seed: int = 2027

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def probe(self, p: BenchPerson) -> list[float]:
        noise = self.rng.normal(0, 0.35 / np.sqrt(DIMENSIONS), DIMENSIONS)
        v = np.clip(self.faces[p.id] + noise, -1.0, 1.0)
        return [round(float(x), 5) for x in v]


def enrol_faces(city: BenchCity, share: float, seed: int = 736) -> FaceRush:
    rng = np.random.default_rng(seed)
    terminal_ids: set[int] = set()
    for ts in city.terminals.values():
        n = max(1, round(len(ts) * share))
        terminal_ids.update(t.id for t in ts[:n])
    people = [p for p in city.people if p.kind == "ok"]
    center = rng.normal(0, 0.07, DIMENSIONS).astype(np.float32)
    spread = 0.9 / np.sqrt(2 * DIMENSIONS)
    matrix = (center + rng.normal(0, spread, (len(people), DIMENSIONS))).astype(np.float32)
    faces = {p.id: matrix[i] for i, p in enumerate(people)}
    key = os.urandom(32)
    kid = key_id(key)
    now = datetime.now(UTC).replace(tzinfo=None)
    with psycopg.connect(plain_url(city.url)) as pg, pg.cursor() as cur:
        copy_rows(
            cur,
            "face_terminals",
            ["terminal_id", "liveness", "set_by", "set_at"],
            ((tid, True, "bench", now) for tid in sorted(terminal_ids)),
            len(terminal_ids),
            None,
            "",
        )
        copy_rows(
            cur,
            "face_consents",
            ["id", "region_id", "person_id", "notice", "given_via", "given_by", "given_at"],
            ((p.id, city.region_id, p.id, NOTICE, "admin", "bench", now) for p in people),
            len(people),
            None,
            "",
        )
        copy_rows(
            cur,
            "face_templates",
            [
                "id",
                "region_id",
                "person_id",
                "consent_id",
                "sealed",
                "key_id",
                "enrolled_by",
                "enrolled_at",
            ],
            (
                (p.id, city.region_id, p.id, p.id, seal(key, p.id, faces[p.id]), kid, "bench", now)
                for p in people
            ),
            len(people),
            None,
            "",
        )
        for table in ("face_consents", "face_templates"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        pg.commit()
    return FaceRush(terminal_ids, base64.b64encode(key).decode(), faces)
