"""What several pages share: the organisation pages' frame, the Excel download answer.

Contract: page modules (``web.org``, ``web.org_import``, ``web.unit``, ``web.bureau`` …)
never import each other; what two of them use lives here (or in a service / read-model
module of its area). ``Frame`` is where an organisation page sits — the bureau console
or one unit's admin pages — and renders a template with that frame's context;
``xlsx_response`` answers with an Excel workbook as a download. ``paged`` cuts a list
to one page of ``PAGE_SIZE`` rows with a search (``Paged``, shown by
``bureau/_pager.html``; ``Page`` and ``Find`` are the query parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import Response

from onecard.core.context import Context
from onecard.org import listing
from onecard.org.actors import BUREAU_ROLES, Actor
from onecard.org.fields import LEVEL_ZH, OPERATION_ZH, REGION_LEVEL_ZH
from onecard.web.scopes import can_run_money, can_write_unit
from onecard.web.templating import render

SAVED = {
    "created": "已新建",
    "saved": "已保存",
    "nothing": "没有修改",
    "retired": "已撤销",
    "appointed": "已授权",
    "revoked": "已取消授权",
}


# --- lists a page at a time ---------------------------------------------------------------
PAGE_SIZE = 50
Page = Annotated[int, Query(ge=1, le=100_000)]
Find = Annotated[str, Query(max_length=40)]


@dataclass
class Paged:
    """One page of a list the page already read, filtered by ``q`` (pages listing a
    city's 1,205 canteens, 1,679 units or 3,615 terminals stay small)."""

    rows: list[Any]
    page: int
    pages: int
    total: int
    q: str
    param: str
    keep: dict[str, str]

    def link(self, page: int) -> str:
        params = {**self.keep, "q": self.q, self.param: str(page)}
        return urlencode({k: v for k, v in params.items() if v})


def paged(
    rows: list[Any],
    q: str,
    page: int,
    fields: tuple[str, ...],
    param: str = "page",
    keep: dict[str, str] | None = None,
    size: int = PAGE_SIZE,
) -> Paged:
    q = q.strip()
    if q:

        def text(r: Any, f: str) -> str:
            return str(r.get(f, "") if isinstance(r, dict) else getattr(r, f, ""))

        rows = [r for r in rows if any(q in text(r, f) for f in fields)]
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, page), pages)
    return Paged(
        rows[(page - 1) * size : page * size], page, pages, len(rows), q, param, dict(keep or {})
    )


# --- frames -----------------------------------------------------------------------------
class Frame:
    """Where a page sits: the bureau console, or one unit's admin pages."""

    def __init__(self, ctx: Context, actor: Actor, unit: Any = None) -> None:
        self.ctx, self.actor, self.unit = ctx, actor, unit
        self.kind = "unit" if unit is not None else "bureau"
        self.base = f"/unit/{unit.id}/org" if unit is not None else "/bureau/org"

    def unit_url(self, unit_id: int) -> str:
        return self.base if self.kind == "unit" else f"{self.base}/units/{unit_id}"

    def canteen_url(self, canteen_id: int) -> str:
        return f"{self.base}/canteens/{canteen_id}"

    def render(
        self, request: Request, template: str, status_code: int = 200, **kw: Any
    ) -> Response:
        frame: dict[str, Any] = {"frame": self.kind, "base": self.base, "tab": "org"}
        if self.unit is not None:
            frame.update(
                unit=self.unit,
                writable=can_write_unit(self.actor, self.unit.id),
                canteens=[
                    {"id": c["id"], "name": c["name"]}
                    for c in listing.canteens(self.ctx, unit_id=self.unit.id)
                ],
            )
        else:
            # A region's bureau administers its region's organisation too (issue 17 §1).
            frame.update(
                can_run=can_run_money(self.actor), is_admin=self.actor.holds("bureau_admin")
            )
        return render(
            request,
            template,
            status_code=status_code,
            actor=self.actor,
            is_bureau=self.actor.holds(*BUREAU_ROLES),
            saved=SAVED.get(request.query_params.get("saved", "")),
            retried=request.query_params.get("retried", ""),
            level_zh=LEVEL_ZH,
            region_level_zh=REGION_LEVEL_ZH,
            operation_zh=OPERATION_ZH,
            **frame,
            **kw,
        )


def xlsx_response(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def unit_page(
    request: Request, ctx: Context, actor: Actor, unit: Any, tab: str, template: str, **kw: Any
) -> Response:
    """A page of the unit console (``web.unit``, ``web.unit_funding``): its tabs and canteens."""
    status_code = int(kw.pop("status_code", 200))
    return render(
        request,
        template,
        status_code=status_code,
        actor=actor,
        unit=unit,
        tab=tab,
        writable=can_write_unit(actor, unit.id),
        canteens=listing.unit_canteens(ctx, unit.id),
        **kw,
    )
