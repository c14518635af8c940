"""/api/v1/funding: the same runs over HTTP, with the bureau's, a unit admin's and a
diner's rights; bad input is a 4xx and changes nothing."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from funding.city import BUREAU, City, build_city
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.org.imports import ROSTER_COLUMNS
from onecard.web.app import create_app
from onecard.web.deps import get_actor

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/v1/funding"


class As:
    """Who the test client is signed in as (swapped per request)."""

    actor: Actor | None = BUREAU


@pytest.fixture
def city(ctx: Context) -> City:
    return build_city(ctx)


@pytest.fixture
def client(ctx: Context, city: City) -> Iterator[TestClient]:
    app = create_app(ctx)
    who = As()

    def current() -> Actor:
        from onecard.core.errors import AuthError

        if who.actor is None:
            raise AuthError()
        return who.actor

    app.dependency_overrides[get_actor] = current
    with TestClient(app) as c:
        c.who = who  # type: ignore[attr-defined]
        yield c


def ok(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_quarter_over_the_api(ctx: Context, city: City, client: TestClient) -> None:
    city.at(date(2026, 1, 2))
    res = ok(client.post(f"{API}/notices", json={"quarter": "2026Q1", "dry_run": True}))
    assert res["dry_run"] and res["totals"]["amount_due_fen"] == 255000
    ok(client.post(f"{API}/notices", json={"quarter": "2026Q1"}))
    city.at(date(2026, 1, 8), 10)
    for u, amt in (("A", 105000), ("B", 120000), ("C", 29999)):
        city.unit_pays(u, amt, f"JF-{city.unit_codes[u]}-2026Q1")
    res = ok(client.post(f"{API}/receipts", json={"day": "2026-01-08"}))
    assert res["totals"]["new"] == 3
    ok(client.post(f"{API}/transfers", json={}))
    city.deliver()
    status = ok(client.get(f"{API}/notices/2026Q1"))
    assert [s["status"] for s in status] == ["paid", "paid", "short"]

    runs = ok(client.post(f"{API}/distributions", json={"quarter": "2026Q1"}))
    assert [r["changed"] for r in runs] == [True, True, False]
    assert runs[2]["problems"] and "299.99 元" in runs[2]["problems"][0]
    assert city.purse("c1") == (0, 0)
    again = ok(
        client.post(f"{API}/distributions", json={"quarter": "2026Q1", "unit_id": city.units["A"]})
    )
    assert not again[0]["changed"]

    city.lunch("a1", "B", date(2026, 2, 3))  # visitor 600
    ok(
        client.put(
            f"{API}/canteens/{city.canteens['B']}/quality-rule",
            json={
                "bands": [{"min_score": 90, "share_bp": 10000}, {"min_score": 0, "share_bp": 9500}]
            },
        )
    )
    ok(client.put(f"{API}/canteens/{city.canteens['B']}/scores/2026Q1", json={"score": 60}))
    city.at(date(2026, 4, 1), 10)
    res = ok(client.post(f"{API}/settlements", json={"quarter": "2026Q1"}))
    b = next(ln for ln in res["lines"] if ln["canteen"] == "人民医院职工食堂")
    # 600: fee 3; 95 % of 597 = 567.15 → 567; 30 withheld.
    assert (b["gross_fen"], b["fee_fen"], b["withheld_fen"], b["net_fen"]) == (600, 3, 30, 567)
    city.deliver()

    doc = ok(client.get(f"{API}/statements/canteens/{city.canteens['B']}/2026Q1"))
    assert doc["figures"]["net_fen"] == 567
    pdf = client.get(f"{API}/statements/canteens/{city.canteens['B']}/2026Q1?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    xlsx = client.get(f"{API}/statements/units/{city.units['A']}/2026Q1?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    doc = ok(client.get(f"{API}/statements/people/{city.people['a1']}?year=2026"))
    assert doc["figures"] == {"subsidy_fen": 59400, "cash_fen": 0}

    rec = ok(client.post(f"{API}/reconciliations", json={"day": "2026-01-08"}))
    assert rec["totals"]["matched"] == rec["totals"]["lines"]
    assert {"settle", "distribute"} <= {r["action"] for r in ok(client.get(f"{API}/audit"))}

    city.at(date(2026, 12, 31), 18)
    dry = ok(client.post(f"{API}/year-end", json={"year": 2026, "dry_run": True}))
    assert dry["totals"]["amount_fen"] == 60000 - 600 + 45000 + 60000 + 60000
    # Before the year's Q4 settlement the clearing is refused (the preview says why).
    assert any("2026Q4" in p for p in dry["problems"])
    early = client.post(f"{API}/year-end", json={"year": 2026})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "year_end_before_settlement"
    assert city.purse("a1") == (59400, 0)
    # Settling Q4 is refused on 31 December too: the quarter has not ended.
    q4 = client.post(f"{API}/settlements", json={"quarter": "2026Q4"})
    assert q4.status_code == 409 and q4.json()["error"]["code"] == "settlement_too_early"
    city.at(date(2027, 1, 1), 9)
    for q in ("2026Q2", "2026Q3", "2026Q4"):
        ok(client.post(f"{API}/settlements", json={"quarter": q}))
    ok(client.post(f"{API}/year-end", json={"year": 2026}))
    assert city.purse("a1") == (0, 0)


def test_rights(ctx: Context, city: City, client: TestClient) -> None:
    who: As = client.who  # type: ignore[attr-defined]
    diner = Actor(
        "diner",
        person_id=city.people["a1"],
        unit_id=city.units["A"],
        grants=frozenset({("diner", None, None)}),
    )
    unit_a = Actor("ua", grants=frozenset({("unit_admin", city.units["A"], None)}))
    who.actor = None
    assert client.post(f"{API}/notices", json={"quarter": "2026Q1"}).status_code == 401
    who.actor = diner
    resp = client.post(f"{API}/notices", json={"quarter": "2026Q1"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert client.get(f"{API}/audit").status_code == 403
    # A diner reads their own statement, nobody else's.
    assert client.get(f"{API}/statements/people/{city.people['a1']}").status_code == 200
    assert client.get(f"{API}/statements/people/{city.people['b1']}").status_code == 403
    who.actor = unit_a
    assert client.post(f"{API}/settlements", json={"quarter": "2026Q1"}).status_code == 403
    assert client.get(f"{API}/statements/units/{city.units['A']}/2026Q1").status_code == 200
    assert client.get(f"{API}/statements/units/{city.units['B']}/2026Q1").status_code == 403
    # The unit admin sets its own canteen's rule, not another unit's.
    bands = {"bands": [{"min_score": 0, "share_bp": 10000}]}
    assert (
        client.put(f"{API}/canteens/{city.canteens['A']}/quality-rule", json=bands).status_code
        == 200
    )
    assert (
        client.put(f"{API}/canteens/{city.canteens['B']}/quality-rule", json=bands).status_code
        == 403
    )


def test_a_unit_admin_gets_only_their_own_units_information_rows(
    ctx: Context, city: City, client: TestClient
) -> None:
    """The 信息统计表 holds every unit's contacts and phones: the bureau reads them all,
    a unit admin only their own unit's row (in Excel and CSV alike)."""
    import csv
    import io

    from openpyxl import load_workbook

    from onecard.org.models import Unit

    with ctx.db.read() as conn:
        names = dict(conn.execute(select(Unit.id, Unit.name)).all())

    def unit_names(fmt: str) -> list[str]:
        resp = client.get(f"{API}/unit-info/template?format={fmt}")
        assert resp.status_code == 200, resp.text
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))[1:]
            return [r[0] for r in rows]
        ws = load_workbook(io.BytesIO(resp.content)).worksheets[0]
        return [str(r[0]) for r in ws.iter_rows(min_row=2, values_only=True)]

    who: As = client.who  # type: ignore[attr-defined]
    assert sorted(unit_names("xlsx")) == sorted(names.values())
    who.actor = Actor("ua", grants=frozenset({("unit_admin", city.units["A"], None)}))
    assert unit_names("xlsx") == unit_names("csv") == [names[city.units["A"]]]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/notices", {"quarter": "2026Q5"}),
        ("/notices", {"quarter": "2026Q1", "dry_run": "yes"}),
        ("/notices", {"quarter": "2026Q1", "extra": 1}),
        ("/settlements", {}),
        ("/year-end", {"year": 1999}),
        ("/distributions", {"quarter": "2026Q1", "unit_id": "1"}),
        ("/receipts", {"day": "2026-13-01"}),
    ],
)
def test_bad_bodies_are_422_and_change_nothing(
    ctx: Context, city: City, client: TestClient, path: str, body: dict[str, Any]
) -> None:
    before = city.snapshot()
    resp = client.post(API + path, json=body)
    assert resp.status_code == 422 and resp.json()["error"]["message"]
    assert city.snapshot() == before


def test_unknown_things_are_404(ctx: Context, city: City, client: TestClient) -> None:
    assert (
        client.post(f"{API}/distributions", json={"quarter": "2026Q1", "unit_id": 999}).status_code
        == 404
    )
    assert client.get(f"{API}/statements/canteens/999/2026Q1").status_code == 404
    resp = client.post(f"{API}/receipts/nope/assign", json={"unit_id": city.units["A"]})
    assert resp.status_code == 404
    resp = client.get(f"{API}/statements/canteens/{city.canteens['A']}/2026Q1")
    assert resp.status_code == 404 and "结算单" in resp.json()["error"]["message"]


def test_roster_import_over_the_api(ctx: Context, city: City, client: TestClient) -> None:
    head = ",".join(ROSTER_COLUMNS)
    good = f"{head}\r\nSc1,刘洋,U003,在编,,,300,62170000c1\r\nS300,吴刚,U003,在编,,,,\r\n"
    res = ok(
        client.post(
            f"{API}/roster/import?dry_run=true&filename=r.csv",
            content=good.encode("utf-8-sig"),
            headers={"Content-Type": "text/csv"},
        )
    )
    assert [p["staff_no"] for p in res["new"]] == ["S300"] and not res["applied"]
    bad = f"{head}\r\nS301,,U003,在编,,,,\r\n"
    before = city.snapshot()
    resp = client.post(
        f"{API}/roster/import?filename=r.csv",
        content=bad.encode("utf-8-sig"),
        headers={"Content-Type": "text/csv"},
    )
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "import_rejected"
    assert err["rows"] == [{"row": 2, "column": "姓名", "problem": "不能为空"}]
    assert city.snapshot() == before
    res = ok(
        client.post(
            f"{API}/roster/import?filename=r.csv",
            content=good.encode("utf-8-sig"),
            headers={"Content-Type": "text/csv"},
        )
    )
    assert res["applied"]
    tpl = client.get(f"{API}/roster/template?unit_id={city.units['C']}")
    assert tpl.status_code == 200 and tpl.content[:2] == b"PK"
    tpl = client.get(f"{API}/unit-info/template")
    assert tpl.status_code == 200 and tpl.content[:2] == b"PK"
    res = ok(
        client.post(
            f"{API}/unit-info/import?dry_run=true&filename=t.xlsx",
            content=tpl.content,
            headers={"Content-Type": "application/octet-stream"},
        )
    )
    assert len(res["new"]) == 3


def test_a_large_roster_upload_passes_the_json_body_limit(
    ctx: Context, city: City, client: TestClient
) -> None:
    """A big unit's roster is larger than any JSON request (64 KiB): uploads get their own,
    larger limit (``max_upload_bytes``), and above that limit still a 413."""
    head = ",".join(ROSTER_COLUMNS)
    rows = "".join(f"S{9000 + i},新职工{i},U003,在编,,,,\r\n" for i in range(2500))
    body = f"{head}\r\n{rows}".encode("utf-8-sig")
    assert len(body) > ctx.settings.max_body_bytes
    res = ok(
        client.post(
            f"{API}/roster/import?dry_run=true&filename=r.csv",
            content=body,
            headers={"Content-Type": "text/csv"},
        )
    )
    assert len(res["new"]) == 2500 and not res["applied"]
    too_big = b"x" * (ctx.settings.max_upload_bytes + 1)
    resp = client.post(
        f"{API}/roster/import?filename=r.csv", content=too_big, headers={"Content-Type": "text/csv"}
    )
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "body_too_large"


def test_bank_files_over_the_api(ctx: Context, city: City, client: TestClient) -> None:
    """The file exchange over HTTP: a statement read in and reconciled, the batch file
    written, the return file read back; bad files 422 with their rows; rights."""
    from onecard.channels.files import FileExchangeBank
    from onecard.funding import notices

    online = city.bank
    city.at(date(2026, 1, 2))
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    city.at(date(2026, 1, 8), 10)
    city.unit_pays("A", 105000, "JF-U001-2026Q1")
    ctx.bank = FileExchangeBank(ctx.db, ctx.clock)
    bank = f"{API}/bank"
    stmt = online.statement_xlsx(date(2026, 1, 8))
    res = ok(client.post(f"{bank}/statements/import?filename=s.xlsx", content=stmt))
    assert (res["new_lines"], res["changed"]) == (1, True)
    assert res["days"][0]["totals"]["matched"] == 1 and res["receipts"][0]["totals"]["new"] == 1
    assert not ok(client.post(f"{bank}/statements/import", content=stmt))["changed"]
    bad = client.post(f"{bank}/statements/import?filename=x.csv", content="日期\r\n1\r\n".encode())
    assert bad.status_code == 422 and bad.json()["error"]["rows"][0]["problem"] == "缺少该列"

    notices.transfer_to_income(ctx, BUREAU)
    got = client.post(f"{bank}/batches", json={"kind": "transfers", "format": "csv"})
    assert got.status_code == 200 and got.headers["x-orders"] == "1"
    assert client.post(f"{bank}/batches", json={}).status_code == 204
    returns = online.process_batch_file(got.content, "b.csv")
    res = ok(client.post(f"{bank}/returns/import?filename=r.csv", content=returns))
    assert res["totals"]["settled"] == 1 and res["problems"] == []
    assert len(ok(client.get(f"{bank}/files"))) == 3

    client.who.actor = Actor("fin", grants=frozenset({("finance", None, None)}))  # type: ignore[attr-defined]
    assert client.post(f"{bank}/statements/import", content=stmt).status_code == 403
    assert client.post(f"{bank}/batches", json={}).status_code == 403
    assert client.get(f"{bank}/files").status_code == 200
