"""The bureau's pages timed on the bench city: every dashboard chart, its Excel, the
quarterly report PDF and every bureau page that lists the city (issue 14 §5).

Contract: ``time_pages(ctx, quarter)`` signs a bench person in as bureau administrator
(a role grant and a verified session written straight into the bench's own database, so
no password or second factor is needed), serves the real app in-process (Starlette's
TestClient: the routes, templates and queries users get, without a socket), and GETs
each page twice: the first answer after the payments were loaded (its time includes
the roll-ups' first fold when the page folds) and a second, warm one. Each row says the
path, status, bytes and both times; ``fold`` times ``reports.service.catch_up`` alone
first (the whole quarter at once, as after an upgrade), and the roll-ups' row count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select

from onecard.core.context import Context

BUREAU_PAGES = (
    "/bureau",
    "/bureau/notices?quarter={q}",
    "/bureau/settlements?quarter={q}",
    "/bureau/terminals",
    "/bureau/org",
    "/bureau/rollout",
    "/bureau/runs?quarter={q}",
    "/bureau/dashboard?quarter={q}",
    "/bureau/dashboard/daily.json?quarter={q}",
    "/bureau/dashboard/rush.json?quarter={q}",
    "/bureau/dashboard/matrix.json?quarter={q}",
    "/bureau/dashboard/matrix.json?quarter={q}&search=%E5%B1%80",  # 局
    "/bureau/dashboard/revenue.json?quarter={q}",
    "/bureau/dashboard/ratings.json?quarter={q}",
    "/bureau/dashboard/daily.xlsx?quarter={q}",
    "/bureau/dashboard/rush.xlsx?quarter={q}",
    "/bureau/dashboard/matrix.xlsx?quarter={q}",
    "/bureau/dashboard/revenue.xlsx?quarter={q}",
    "/bureau/dashboard/ratings.xlsx?quarter={q}",
    "/bureau/dashboard/report.pdf?quarter={q}",
    "/bureau/per-capita?quarter={q}",
    "/bureau/per-capita.xlsx?quarter={q}",
    "/api/v1/reports/per-capita?quarter={q}",
    # Every other bureau page that lists the city's units, canteens, people or events.
    "/bureau/org/admins",
    "/bureau/org/import",
    "/bureau/rollout/supervision.xlsx",
    "/bureau/audit",
    "/bureau/audit.xlsx",
    "/bureau/reconciliation",
    "/bureau/ecny",
    "/bureau/offline",
    "/bureau/waste?quarter={q}",
    "/bureau/interregion",
    "/bureau/community",
    "/bureau/dishes",
    "/bureau/sourcing",
    "/bureau/shop",
    "/bureau/partners",
)


@dataclass
class PageTiming:
    path: str
    status: int
    size: int
    first_seconds: float
    warm_seconds: float


@dataclass
class PagesReport:
    fold_seconds: float = 0.0
    folded_rows: int = 0
    rollup_rows: int = 0
    pages: list[PageTiming] = field(default_factory=list)


def _bureau_session(ctx: Context) -> str:
    from onecard.org import queries as org_queries
    from onecard.org import sessions
    from onecard.org.models import Person, RoleGrant

    with ctx.db.begin() as conn:
        pid = int(conn.execute(select(func.min(Person.id))).scalar_one())
        held = conn.execute(
            select(RoleGrant.id).where(
                RoleGrant.person_id == pid, RoleGrant.role_code == "bureau_admin"
            )
        ).first()
        if held is None:
            conn.execute(insert(RoleGrant).values(person_id=pid, role_code="bureau_admin"))
    actor = org_queries.active_actor(ctx, pid)
    assert actor is not None
    with ctx.db.begin() as conn:
        opened = sessions.open_session(
            conn,
            ctx,
            pid,
            address="127.0.0.1",
            user_agent="onecard-bench",
            data={"verified": True, "grants": sessions.grants_fingerprint(actor.grants)},
        )
    return opened.token


def rollup_rows(ctx: Context) -> int:
    from onecard.reports import models as m

    tables: list[Any] = [
        m.ReportDay,
        m.ReportSlot,
        m.ReportCanteenSlot,
        m.ReportCanteen,
        m.ReportUnit,
        m.ReportPair,
        m.ReportDiner,
        m.ReportFund,
        m.ReportMeal,
        m.ReportMealDay,
    ]
    with ctx.db.read() as conn:
        return sum(
            int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables
        )


def time_pages(ctx: Context, quarter: str, fold_first: bool = True) -> PagesReport:
    from fastapi.testclient import TestClient

    from onecard.reports.service import catch_up
    from onecard.web.app import create_app
    from onecard.web.sessions import SESSION_COOKIE

    rep = PagesReport()
    if fold_first:
        started = time.perf_counter()
        done = catch_up(ctx, grace_seconds=0)
        rep.fold_seconds = time.perf_counter() - started
        rep.folded_rows = done.rows
    rep.rollup_rows = rollup_rows(ctx)
    token = _bureau_session(ctx)
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as client:
        client.cookies.set(SESSION_COOKIE, token)
        for template in BUREAU_PAGES:
            path = template.format(q=quarter)
            times = []
            for _ in range(2):
                started = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - started)
            rep.pages.append(PageTiming(path, r.status_code, len(r.content), times[0], times[1]))
    return rep
