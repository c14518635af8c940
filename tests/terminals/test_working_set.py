"""The working set: in full with a version, then only what changed since (R-F3)."""

from __future__ import annotations

import json

from sqlalchemy import select

from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.pay.cards import report_lost
from onecard.terminals.models import OfflineWorkingSet
from onecard.terminals.models import OfflineWorkingSetEntry as Entry
from terminals.offline_kit import app_client, till
from world import build_world, fund

BUREAU = Actor.system("bureau")


def test_a_full_working_set_then_only_what_changed(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=10_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        first = sim.version
        assert first == 1
        a1 = sim.entries[f"person:{w.people['a1']}"]
        assert a1["cards"] == [w.cards["a1"]] and a1["diner_class"] == "own"
        assert a1["day_limit_fen"] == 6_000  # the daily cap, under the 100 yuan held
        assert sim.entries[f"person:{w.people['a2']}"]["day_limit_fen"] == 0  # holds nothing
        assert sim.entries[f"person:{w.people['b1']}"]["diner_class"] == "visitor"
        assert sim.entries["meal:lunch"]["prices"] == {"own": 300, "visitor": 500, "guest": 800}
        assert a1["secret"] and a1["token"]  # what verifies payment codes offline
        # Nothing changed: the same version, no entries sent again.
        again = sim.refresh()
        assert again["version"] == first and not again["full"]
        assert again["upserts"] == {} and again["removals"] == []
        # A card reported lost and a purse funded: exactly those entries come.
        report_lost(ctx, BUREAU, w.cards["a2"])
        fund(ctx, w, "b1", cash=2_000)
        changed = sim.refresh()
        assert changed["version"] == first + 1 and changed["since"] == first
        assert set(changed["upserts"]) == {
            f"lost:{w.cards['a2']}",
            f"person:{w.people['a2']}",  # no active card any more
            f"person:{w.people['b1']}",  # a new day limit
        }
        assert sim.entries[f"person:{w.people['a2']}"]["cards"] == []
        assert sim.entries[f"person:{w.people['b1']}"]["day_limit_fen"] == 2_000
        # A version the server never issued: the whole set again.
        r = client.get(
            "/api/v1/terminal/offline/working-set?since=99",
            headers={"Authorization": f"Terminal T-A1:{w.keys['A']}"},
        )
        assert r.status_code == 200 and r.json()["full"] is True
    with ctx.db.read() as conn:
        versions = conn.execute(select(OfflineWorkingSet.version)).scalars().all()
        stored = conn.execute(
            select(Entry.version, Entry.key, Entry.entry, Entry.latest).order_by(Entry.id)
        ).all()
    assert sorted(versions) == [1, 2]
    # Version 2 stored only its three changes; their version-1 rows are no longer latest.
    second = {key for v, key, _, _ in stored if v == 2}
    assert second == set(changed["upserts"])
    assert all(latest == (v == 2) for v, key, _, latest in stored if key in second)
    assert all(latest for v, key, _, latest in stored if key not in second)
    assert all("secret" not in json.loads(e) for _, _, e, _ in stored)


def test_a_terminal_without_a_key_gets_no_working_set(ctx: Context) -> None:
    w = build_world(ctx)
    with app_client(ctx) as client:
        r = client.get(
            "/api/v1/terminal/offline/working-set",
            headers={"Authorization": f"Terminal T-A1:{w.keys['A']}"},
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "offline_not_enrolled"
        bad = client.post(
            "/api/v1/terminal/offline/key",
            json={"public_key": "zz" * 32},
            headers={"Authorization": f"Terminal T-A1:{w.keys['A']}"},
        )
        assert bad.status_code == 422
        wrong = client.get(
            "/api/v1/terminal/offline/working-set",
            headers={"Authorization": "Terminal T-A1:not-the-key"},
        )
        assert wrong.status_code == 401
