"""Time the information-table import at Chenzhou's scale (1,679 units, 1,205 canteens,
half outsourced with a settlement account) into a city that has only its region.

    .venv/bin/python tests/org/bench_info_table.py sqlite:////tmp/city.db
    .venv/bin/python tests/org/bench_info_table.py postgresql://postgres@127.0.0.1:5432/orgbench

The database is emptied first (SQLite: give a new file; PostgreSQL: the schema
``public`` is dropped and made again — use a throw-away database). Prints the seconds
of the dry run, the real import and the same file again; figures go to
docs/benchmarks.md, never into a test.
"""

from __future__ import annotations

import io
import sys
import time

from openpyxl import Workbook
from sqlalchemy import text

from onecard.core.config import Settings
from onecard.core.context import Context, Database
from onecard.core.db import create_schema, make_engine
from onecard.org import builders, imports
from onecard.org.actors import Actor
from onecard.org.bank_accounts import luhn_ok
from onecard.org.info_table import CANTEEN_COLUMNS, UNIT_INFO_TEMPLATE

UNITS, CANTEENS = 1679, 1205


def card(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def city_file() -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "信息统计表"
    ws.append(list(UNIT_INFO_TEMPLATE))
    for i in range(UNITS):
        row = {
            "单位名称": f"单位{i:04d}",
            "单位代码": f"U{i:04d}",
            "食堂数量": 1 if i < CANTEENS else 0,
            "午餐标准(元)": "12",
            "单位账户": f"4305010{i:013d}",
        }
        ws.append([row.get(c, "") for c in UNIT_INFO_TEMPLATE])
    cs = wb.create_sheet("食堂")
    cs.append(list(CANTEEN_COLUMNS))
    for i in range(CANTEENS):
        out = i % 2 == 0
        row = {
            "食堂编码": f"C{i:04d}",
            "食堂名称": f"食堂{i:04d}",
            "所属单位": f"U{i:04d}",
            "经营方式": "委托经营" if out else "自营",
            "经营者": f"经营者{i}" if out else "",
            "经营者结算账户": card(f"6217{i:011d}") if out else "",
            "窗口数": 3,
            "座位数": 100,
        }
        cs.append([row.get(c, "") for c in CANTEEN_COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def main(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    create_schema(engine)
    ctx = Context(db=Database(engine), settings=Settings(env="test", database_url=url))
    with ctx.db.begin() as conn:
        builders.create_region(conn, "431000", "郴州市")
    data = city_file()
    actor = Actor.system("bench")
    for label, dry in (("dry run", True), ("import", False), ("same file again", False)):
        t = time.perf_counter()
        res = imports.import_unit_info(ctx, actor, data, "city.xlsx", dry_run=dry)
        took = time.perf_counter() - t
        print(
            f"{label}: {took:.1f} s (units new {len(res.units_new)}, "
            f"canteens new {len(res.canteens_new)}, written {res.applied})"
        )
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
