"""/api/v1/org over HTTP with real sign-ins: the bureau creates, edits and retires; a
unit admin edits only their own unit's rows; bad input is a 4xx in the documented
shape with nothing changed; a role granted or revoked applies to the next request."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import Workbook

from onecard.core.context import Context
from onecard.org.info_table import UNIT_INFO_TEMPLATE
from onecard.web.app import create_app
from org.orgtools import bad_card_number, card_number, everything
from web.pages import Staff, TestClient, add_staff, sign_in
from world import World, build_world

API = "/api/v1/org"


@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


@pytest.fixture
def staff(ctx: Context, w: World) -> Staff:
    return add_staff(ctx, w)


@pytest.fixture
def app(ctx: Context, staff: Staff) -> Any:
    return create_app(ctx)


def client_for(app: Any, ctx: Context, staff_no: str) -> TestClient:
    c = TestClient(app)
    c.__enter__()
    sign_in(c, ctx, staff_no)
    return c


@pytest.fixture
def bureau(app: Any, ctx: Context) -> Iterator[TestClient]:
    c = client_for(app, ctx, "Sbu")
    yield c
    c.__exit__(None, None, None)


@pytest.fixture
def ua(app: Any, ctx: Context) -> Iterator[TestClient]:
    c = client_for(app, ctx, "Sua")
    yield c
    c.__exit__(None, None, None)


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def refused(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


def test_the_bureau_builds_a_county_unit_and_canteen(
    ctx: Context, w: World, bureau: TestClient
) -> None:
    region = ok(
        bureau.post(
            f"{API}/regions",
            json={"code": "431002", "name": "北湖区", "level": "county", "parent_id": w.region},
        ),
        201,
    )
    acct = card_number("621700001234567")
    unit = ok(
        bureau.post(
            f"{API}/units",
            json={
                "code": "U100",
                "name": "北湖区教育局",
                "region_id": region["id"],
                "bank_account": acct,
            },
        ),
        201,
    )
    assert unit["after"]["level"] == "county" and unit["before"] is None
    canteen = ok(
        bureau.post(
            f"{API}/canteens",
            json={
                "code": "C100",
                "name": "北湖区教育局食堂",
                "unit_id": unit["id"],
                "windows": 3,
                "contract_starts": "2026-01-01",
            },
        ),
        201,
    )
    got = ok(bureau.get(f"{API}/canteens/{canteen['id']}"))
    assert (got["rollout_status"], got["windows"], got["retire_blockers"]) == ("planned", 3, [])
    changed = ok(bureau.patch(f"{API}/units/{unit['id']}", json={"contact": "周敏"}))
    assert changed["before"] == {"contact": None} and changed["after"] == {"contact": "周敏"}
    units = ok(bureau.get(f"{API}/units", params={"region_id": region["id"]}))
    assert [u["code"] for u in units] == ["U100"] and units[0]["canteens"] == 1
    audit = ok(bureau.get("/api/v1/funding/audit", params={"action": "org_unit_update"}))
    assert audit[0]["actor"].endswith("职员bu") and audit[0]["totals"]["after"] == {
        "contact": "周敏"
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "/units", {"code": "U001", "name": "x", "region_id": 0}, 409, "duplicate_code"),
        ("post", "/units", {"code": "U9", "name": "x", "region_id": 99}, 422, "unknown_reference"),
        (
            "post",
            "/units",
            {
                "code": "U9",
                "name": "x",
                "region_id": 0,
                "bank_account": bad_card_number("621700001234567"),
            },
            422,
            "invalid_bank_account",
        ),
        ("post", "/canteens", {"code": "C9", "name": "x", "unit_id": 99}, 422, "unknown_reference"),
        ("post", "/canteens", {"code": "C001", "name": "x", "unit_id": 0}, 409, "duplicate_code"),
        ("patch", "/units/{A}", {"phone": "电话"}, 422, "invalid_input"),
        ("patch", "/units/{A}", {"default_standard_fen": -1}, 422, "invalid_input"),
        ("patch", "/units/{A}", {"colour": "red"}, 422, "invalid_input"),
        ("patch", "/canteens/{cA}", {"operation": "outsourced"}, 422, "invalid_input"),
        ("post", "/units/{A}/retire", None, 409, "retire_refused"),
        ("post", "/canteens/{cA}/retire", None, 409, "retire_refused"),
        ("patch", "/units/999", {"contact": "x"}, 404, "not_found"),
    ],
)
def test_bad_input_is_refused_in_the_documented_shape_and_nothing_changes(
    ctx: Context,
    w: World,
    bureau: TestClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    code: str,
) -> None:
    if body is not None:
        body = {k: (w.region if v == 0 and k == "region_id" else v) for k, v in body.items()}
        body = {k: (w.units["A"] if v == 0 and k == "unit_id" else v) for k, v in body.items()}
    url = API + path.format(A=w.units["A"], cA=w.canteens["A"])
    before = everything(ctx)
    resp = getattr(bureau, method)(url, json=body) if body is not None else bureau.post(url)
    message = refused(resp, status, code)
    assert message and everything(ctx) == before


def test_messages_come_in_english_when_asked(ctx: Context, w: World, bureau: TestClient) -> None:
    resp = bureau.post(
        f"{API}/units",
        json={"code": "U001", "name": "x", "region_id": w.region},
        headers={"Accept-Language": "en"},
    )
    assert refused(resp, 409, "duplicate_code") == "Unit code U001 is already in use"


def test_a_form_post_or_text_body_is_refused_before_any_route(bureau: TestClient, w: World) -> None:
    resp = bureau.patch(
        f"{API}/units/{w.units['A']}",
        content="contact=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 415


def test_a_unit_admin_sees_and_edits_only_their_own_unit(
    ctx: Context, w: World, ua: TestClient
) -> None:
    a, b = w.units["A"], w.units["B"]
    assert [u["id"] for u in ok(ua.get(f"{API}/units"))] == [a]
    assert ok(ua.patch(f"{API}/units/{a}", json={"contact": "李明"}))["changed"]
    before = everything(ctx)
    refused(ua.get(f"{API}/units/{b}"), 403, "forbidden")
    refused(ua.patch(f"{API}/units/{b}", json={"contact": "x"}), 403, "forbidden")
    msg = refused(
        ua.patch(f"{API}/units/{a}", json={"bank_account": card_number("621700001234567")}),
        403,
        "forbidden",
    )
    assert "单位账户只能由机关事务局修改" in msg
    refused(ua.post(f"{API}/units/{a}/retire"), 403, "forbidden")
    refused(ua.get(f"{API}/regions"), 403, "forbidden")
    refused(ua.post(f"{API}/canteens/{w.canteens['A']}/payouts/retry"), 403, "forbidden")
    assert everything(ctx) == before


def test_a_role_granted_or_revoked_applies_to_the_next_request(
    ctx: Context, w: World, app: Any, bureau: TestClient, ua: TestClient
) -> None:
    cm = client_for(app, ctx, "Scm")  # canteen manager of canteen A, a person of unit A
    try:
        a = w.units["A"]
        refused(cm.patch(f"{API}/units/{a}", json={"contact": "x"}), 403, "forbidden")
        got = ok(
            bureau.post(
                f"{API}/admins", json={"staff_no": "Scm", "role": "unit_admin", "unit_id": a}
            ),
            201,
        )
        assert got["roles"] == ["食堂管理员·财政局机关食堂", "单位管理员·市财政局"]
        # A role change ends the person's sessions (issue 11): the very next request
        # with the old session is refused; signed in again, the new role is there.
        refused(cm.patch(f"{API}/units/{a}", json={"contact": "陈"}), 401, "unauthorized")
        cm.cookies.clear()
        sign_in(cm, ctx, "Scm")
        assert ok(cm.patch(f"{API}/units/{a}", json={"contact": "陈"}))["changed"]
        # The unit admin loses the role: their very next request is refused.
        grants = ok(bureau.get(f"{API}/admins", params={"unit_id": a}))
        mine = next(g for g in grants if g["staff_no"] == "Sua" and g["role_code"] == "unit_admin")
        assert ok(bureau.post(f"{API}/grants/{mine['id']}/revoke"))["roles"] == []
        refused(ua.get(f"{API}/units/{a}"), 401, "unauthorized")
        ua.cookies.clear()
        sign_in(ua, ctx, "Sua")
        refused(ua.patch(f"{API}/units/{a}", json={"contact": "x"}), 403, "forbidden")
    finally:
        cm.__exit__(None, None, None)


def test_a_unit_admin_appoints_their_own_people_only(
    ctx: Context, w: World, ua: TestClient
) -> None:
    a, b = w.units["A"], w.units["B"]
    got = ok(
        ua.post(
            f"{API}/admins",
            json={"staff_no": "NEW-1", "name": "新管理员", "role": "unit_admin", "unit_id": a},
        ),
        201,
    )
    assert got["created"] is True
    before = everything(ctx)
    refused(
        ua.post(f"{API}/admins", json={"staff_no": "Sb1", "role": "unit_admin", "unit_id": b}),
        403,
        "forbidden",
    )
    refused(
        ua.post(f"{API}/admins", json={"staff_no": "Sa1", "role": "bureau_admin"}), 403, "forbidden"
    )
    refused(
        ua.post(f"{API}/admins", json={"staff_no": "Sa1", "role": "diner"}), 422, "invalid_input"
    )
    assert everything(ctx) == before


def info_xlsx(rows: list[dict[str, Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(UNIT_INFO_TEMPLATE))
    for r in rows:
        ws.append([r.get(c, "") for c in UNIT_INFO_TEMPLATE])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_the_information_table_over_http(ctx: Context, w: World, bureau: TestClient) -> None:
    good = info_xlsx([{"单位名称": "市教育局", "单位代码": "U101", "食堂数量": 0}])
    url = f"{API}/info-table/import"
    headers = {"Content-Type": "application/octet-stream"}
    dry = ok(bureau.post(url, params={"dry_run": "true"}, content=good, headers=headers))
    assert dry["units_new"] == [{"code": "U101", "name": "市教育局"}] and not dry["applied"]
    bad = info_xlsx([{"单位名称": "市教育局", "单位代码": "U 101"}])
    before = everything(ctx)
    resp = bureau.post(url, content=bad, headers=headers)
    refused(resp, 422, "import_rejected")
    assert resp.json()["error"]["rows"] == [
        {
            "sheet": "",
            "row": 2,
            "column": "单位代码",
            "problem": "只能包含字母、数字、- 和 _，最多 20 位",
        }
    ]
    assert everything(ctx) == before
    assert ok(bureau.post(url, content=good, headers=headers))["applied"]
    template = bureau.get(f"{API}/info-table/template")
    assert template.headers["content-type"].startswith("application/vnd.openxmlformats")
