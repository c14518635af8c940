"""The public canteen directory (R-R2): no sign-in needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from onecard.reports import directory
from onecard.web.deps import CtxDep
from onecard.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/canteens")
def canteen_directory(request: Request, ctx: CtxDep) -> Response:
    rows = directory.canteens(ctx, live_only=True)
    return render(request, "public/canteens.html", canteens=rows)
