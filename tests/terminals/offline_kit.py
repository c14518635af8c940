"""What the offline-terminal tests share: a world, the app in-process, a simulated till
on it, and counts of what an upload may have written."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.ledger.models import JournalEntry
from onecard.ledger.verify import verify
from onecard.pay.models import Payment
from onecard.terminals import signing
from onecard.terminals.models import OfflineRecord
from onecard.terminals.simulator import SimTerminal, stepping_clock
from onecard.web.app import create_app
from world import World

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def till(
    ctx: Context,
    w: World,
    client: TestClient,
    canteen: str = "A",
    step: timedelta = timedelta(minutes=1),
) -> SimTerminal:
    """The canteen's terminal as a till, its clock ``step`` on per sale from now."""
    sim = SimTerminal(
        "",
        w.terminals[canteen].code,
        w.keys[canteen],
        client=client,
        clock=stepping_clock(ctx.clock.now() + step, step),
    )
    sim.enrol()
    sim.refresh()
    return sim


def signed(key: Ed25519PrivateKey, record: dict[str, Any]) -> dict[str, Any]:
    """An upload item: ``record`` signed by ``key``."""
    body_hash, signature = signing.sign(key, record)
    return {"record": record, "body_hash": body_hash, "signature": signature}


def app_client(ctx: Context) -> TestClient:
    return TestClient(create_app(ctx))


def upload_raw(
    client: TestClient, w: World, items: list[dict[str, Any]], canteen: str = "A"
) -> list[dict[str, Any]]:
    code = w.terminals[canteen].code
    r = client.post(
        "/api/v1/terminal/offline/uploads",
        json={"records": items},
        headers={"Authorization": f"Terminal {code}:{w.keys[canteen]}"},
    )
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def written(ctx: Context) -> tuple[int, int, int]:
    """(journal entries, payments, offline records): what an upload could write."""
    with ctx.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one(),
            conn.execute(select(func.count()).select_from(Payment)).scalar_one(),
            conn.execute(select(func.count()).select_from(OfflineRecord)).scalar_one(),
        )


def ledger_ok(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        report = verify(conn)
    assert report.ok, report.problems[:5]
