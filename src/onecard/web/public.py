"""The public canteen directory (R-R2, issue 14 §6): no sign-in needed.

Contract: ``GET /canteens`` takes ``q`` (words that must each appear in the name,
address, district or owner unit), ``district``, ``open=1`` (a meal period running now,
Beijing time), ``guests=1`` (someone without a one card may eat there) and ``page``; it
renders one page of ``reports.directory.search`` as cards (one column on a phone), each
with its prices for other units' staff and for visitors without a card, how such a
visitor may eat there, a ``tel:`` link and a map link. Bad or oversized parameters are
read as absent rather than refused: it is a page people type into.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from onecard.reports import directory
from onecard.web.deps import CtxDep
from onecard.web.templating import render

router = APIRouter(include_in_schema=False)

MAX_Q = 50


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) <= 4 else 1


@router.get("/canteens")
def canteen_directory(
    request: Request,
    ctx: CtxDep,
    q: Annotated[str, Query()] = "",
    district: Annotated[str, Query()] = "",
    open_now: Annotated[str, Query(alias="open")] = "",
    guests: Annotated[str, Query()] = "",
    page: Annotated[str, Query()] = "1",
) -> Response:
    query = directory.DirectoryQuery(
        q=q.strip()[:MAX_Q],
        district=district.strip()[:40],
        open_now=open_now == "1",
        guests=guests == "1",
        page=_page_number(page),
    )
    result = directory.search(ctx, query)
    kept = {
        k: v
        for k, v in (
            ("q", query.q),
            ("district", query.district),
            ("open", "1" if query.open_now else ""),
            ("guests", "1" if query.guests else ""),
        )
        if v
    }

    def page_url(n: int) -> str:
        return "/canteens?" + urlencode({**kept, "page": n})

    return render(
        request,
        "public/canteens.html",
        result=result,
        query=query,
        filtered=bool(kept),
        page_url=page_url,
    )
