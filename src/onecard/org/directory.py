"""Finding people and canteens by the numbers people type: staff numbers, canteen codes.

Contract: read-only lookups for the CLI and imports; ``NotFound`` names what was asked.
"""

from __future__ import annotations

from sqlalchemy import select

from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.org.models import Canteen, Person


def person_id_by_staff_no(ctx: Context, staff_no: str) -> int:
    with ctx.db.read() as conn:
        pid = conn.execute(select(Person.id).where(Person.staff_no == staff_no)).scalar()
    if pid is None:
        raise NotFound(what=f"工号 {staff_no}")
    return int(pid)


def canteen_id_by_code(ctx: Context, code: str) -> int:
    with ctx.db.read() as conn:
        cid = conn.execute(select(Canteen.id).where(Canteen.code == code)).scalar()
    if cid is None:
        raise NotFound(what=f"食堂 {code}")
    return int(cid)
