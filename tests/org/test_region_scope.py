"""Region-scoped administration (issue 17 §1): a county's bureau admin administers only
its county and the townships below it — units, canteens, regions and role grants — and
never grants a role wider than its own; the city's bureau sees everything; a province
starts with ``onecard init --level province`` and cities are created under it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, StateConflict
from onecard.org import admin, grants, retirement
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.models import Person, Region, RoleGrant, Unit
from onecard.web.app import create_app
from org.orgtools import everything
from web.pages import BUREAU_TOTP, TestClient, add_staff, sign_in
from world import World, build_world

SYSTEM = Actor.system("test")
API = "/api/v1/org"


@dataclass
class Regions:
    w: World
    county: int  # 桂阳县, under the city
    town: int  # 城关镇, under the county
    other: int  # 宜章县, another county
    units: dict[str, int]
    canteens: dict[str, int]
    people: dict[str, int]


def build_regions(ctx: Context) -> Regions:
    w = build_world(ctx)
    with ctx.db.begin() as conn:
        county = b.create_region(conn, "431021", "桂阳县", "county", w.region)
        town = b.create_region(conn, "431021101", "城关镇", "township", county)
        other = b.create_region(conn, "431022", "宜章县", "county", w.region)
        units = {
            "county": b.create_unit(conn, county, "K001", "桂阳县财政局", level="county"),
            "town": b.create_unit(conn, town, "T001", "城关镇政府", level="township"),
            "other": b.create_unit(conn, other, "J001", "宜章县财政局", level="county"),
        }
        canteens = {
            "county": b.create_canteen(conn, county, units["county"], "CK01", "桂阳县机关食堂"),
            "other": b.create_canteen(conn, other, units["other"], "CJ01", "宜章县机关食堂"),
        }
        people = {
            "kb": b.create_person(conn, county, units["county"], "Skb", "县管理员"),
            "kt": b.create_person(conn, town, units["town"], "Skt", "镇职员"),
            "jb": b.create_person(conn, other, units["other"], "Sjb", "宜章管理员"),
        }
        b.grant_role(conn, people["kb"], "bureau_admin", region_id=county)
        b.grant_role(conn, people["jb"], "bureau_admin", region_id=other)
    return Regions(w, county, town, other, units, canteens, people)


def actor_of(ctx: Context, person_id: int) -> Actor:
    with ctx.db.read() as conn:
        unit = conn.execute(select(Person.unit_id).where(Person.id == person_id)).scalar_one()
        return Actor.load(conn, person_id, f"person:{person_id}", int(unit))


@pytest.fixture
def r(ctx: Context) -> Regions:
    return build_regions(ctx)


@pytest.fixture
def kb(ctx: Context, r: Regions) -> Actor:
    return actor_of(ctx, r.people["kb"])


def test_a_county_grant_reaches_the_county_and_its_townships_only(
    ctx: Context, r: Regions, kb: Actor
) -> None:
    assert kb.region_ids == {r.county, r.town}
    assert kb.holds("bureau_admin") and not kb.has("bureau_admin")
    assert not kb.is_bureau and not kb.can_read_everything()  # fail closed elsewhere
    assert kb.manages_unit(r.units["county"]) and kb.manages_unit(r.units["town"])
    assert not kb.manages_unit(r.w.units["A"]) and not kb.manages_unit(r.units["other"])
    assert kb.manages_canteen(r.canteens["county"])
    assert not kb.manages_canteen(r.canteens["other"])
    assert not kb.manages_canteen(r.w.canteens["A"])
    with pytest.raises(Forbidden):
        kb.require_region(r.w.region)
    kb.require_region(r.town)
    with pytest.raises(Forbidden):
        kb.require_bureau()  # the whole deployment's money runs are not a county's


def test_a_grant_for_the_top_region_is_the_whole_deployment(ctx: Context, r: Regions) -> None:
    with ctx.db.begin() as conn:
        b.grant_role(conn, r.people["kt"], "auditor", region_id=r.w.region)
    a = actor_of(ctx, r.people["kt"])
    assert a.region_ids is None and a.can_read_everything()


def test_the_county_admin_cannot_change_the_citys_or_another_countys_rows(
    ctx: Context, r: Regions, kb: Actor
) -> None:
    before = everything(ctx)
    refused = [
        lambda: admin.update_unit(ctx, kb, r.w.units["A"], {"contact": "张三"}),
        lambda: admin.update_unit(ctx, kb, r.units["other"], {"contact": "张三"}),
        lambda: admin.update_canteen(ctx, kb, r.canteens["other"], {"location": "某处"}),
        lambda: admin.update_canteen(ctx, kb, r.w.canteens["A"], {"location": "某处"}),
        lambda: admin.create_unit(
            ctx, kb, {"code": "X1", "name": "外县单位", "region_id": r.other}
        ),
        lambda: admin.create_unit(
            ctx, kb, {"code": "X2", "name": "市直单位", "region_id": r.w.region}
        ),
        lambda: admin.create_canteen(
            ctx, kb, {"code": "CX1", "name": "市食堂", "unit_id": r.w.units["A"]}
        ),
        lambda: admin.create_region(
            ctx, kb, {"code": "431099", "name": "新县", "level": "county", "parent_id": r.w.region}
        ),
        lambda: admin.create_region(
            ctx,
            kb,
            {"code": "431022101", "name": "外镇", "level": "township", "parent_id": r.other},
        ),
        lambda: admin.update_region(ctx, kb, r.other, {"name": "宜章"}),
        lambda: admin.update_region(ctx, kb, r.w.region, {"name": "郴州"}),
        lambda: admin.update_unit(ctx, kb, r.units["county"], {"region_id": r.other}),
        lambda: retirement.retire_unit(ctx, kb, r.units["other"]),
        lambda: retirement.retire_canteen(ctx, kb, r.canteens["other"]),
        lambda: retirement.retire_region(ctx, kb, r.other),
        lambda: retirement.retire_region(ctx, kb, r.county),  # its own region: the city's
    ]
    for call in refused:
        with pytest.raises(Forbidden):
            call()
    assert everything(ctx) == before


def test_the_county_admin_administers_its_county_and_townships(
    ctx: Context, r: Regions, kb: Actor
) -> None:
    admin.update_unit(ctx, kb, r.units["county"], {"contact": "李四"})
    admin.update_unit(ctx, kb, r.units["town"], {"name": "城关镇人民政府"})  # a bureau field
    admin.update_canteen(ctx, kb, r.canteens["county"], {"location": "城关大道1号"})
    made = admin.create_unit(ctx, kb, {"code": "T002", "name": "城关镇卫生院", "region_id": r.town})
    admin.create_canteen(ctx, kb, {"code": "CT01", "name": "镇食堂", "unit_id": made.id})
    town2 = admin.create_region(
        ctx,
        kb,
        {"code": "431021102", "name": "欧阳海乡", "level": "township", "parent_id": r.county},
    )
    retirement.retire_region(ctx, kb, town2.id)
    with ctx.db.read() as conn:
        level = conn.execute(select(Unit.level).where(Unit.id == made.id)).scalar_one()
        retired = conn.execute(select(Region.retired_at).where(Region.id == town2.id)).scalar()
    assert level == "township" and retired is not None
    # The grant loaded with the request: a region created since is in the next one's scope.
    assert actor_of(ctx, r.people["kb"]).covers_region(town2.id)


def test_the_county_admin_grants_only_within_its_county_and_never_wider(
    ctx: Context, r: Regions, kb: Actor
) -> None:
    before = everything(ctx)
    refused: list[Any] = [
        grants.Appointment("Skt", "auditor"),  # unscoped: the whole deployment
        grants.Appointment("Skt", "auditor", region_id=r.other),
        grants.Appointment("Skt", "auditor", region_id=r.w.region),
        grants.Appointment("Sa1", "auditor", region_id=r.town),  # a person of the city
        grants.Appointment("Sa1", "unit_admin", unit_id=r.w.units["A"]),
        grants.Appointment("Sjb", "unit_admin", unit_id=r.units["other"]),
        grants.Appointment(
            "NEW1", "finance", region_id=r.town, name="新人", person_unit_id=r.w.units["A"]
        ),
    ]
    for a in refused:
        with pytest.raises(Forbidden):
            grants.appoint(ctx, kb, a)
    with ctx.db.read() as conn:
        city_grant = conn.execute(
            select(RoleGrant.id).where(RoleGrant.person_id == r.people["jb"])
        ).scalar_one()
    with pytest.raises(Forbidden):
        grants.revoke(ctx, kb, int(city_grant))
    assert everything(ctx) == before

    done = grants.appoint(ctx, kb, grants.Appointment("Skt", "auditor", region_id=r.town))
    assert done["roles"] == ["审计·城关镇"]
    grants.appoint(ctx, kb, grants.Appointment("Skt", "unit_admin", unit_id=r.units["town"]))
    auditor = actor_of(ctx, r.people["kt"])
    assert auditor.region_ids == {r.town}
    # One region per person: a wider (or unscoped) city role on top is refused, even by
    # the city's bureau.
    with pytest.raises(InvalidInput):
        grants.appoint(ctx, SYSTEM, grants.Appointment("Skt", "finance"))
    listed = grants.administrators(ctx, kb)
    assert {g["staff_no"] for g in listed} == {"Skb", "Skt"}
    assert all(g["staff_no"] != "Sjb" for g in listed)


def test_the_last_deployment_wide_bureau_admin_stays(ctx: Context, r: Regions) -> None:
    with ctx.db.begin() as conn:
        ids = conn.execute(
            select(RoleGrant.id, RoleGrant.region_id).where(RoleGrant.role_code == "bureau_admin")
        ).all()
    county_grants = [int(i) for i, reg in ids if reg is not None]
    assert county_grants  # the county admins do not count as the deployment's own
    with ctx.db.begin() as conn:
        person = b.create_person(conn, r.w.region, r.w.units["A"], "Scity", "市管理员")
        b.grant_role(conn, person, "bureau_admin")
    with ctx.db.read() as conn:
        gid = conn.execute(select(RoleGrant.id).where(RoleGrant.person_id == person)).scalar_one()
    with pytest.raises(StateConflict):
        grants.revoke(ctx, SYSTEM, int(gid))
    grants.revoke(ctx, SYSTEM, county_grants[0])  # a county's admin may go


def test_regions_follow_the_levels_under_a_province(ctx: Context) -> None:
    from onecard.org.start import start_city

    ctx.settings.region_code, ctx.settings.region_no = "430000", "731"
    started = start_city(
        ctx,
        SYSTEM,
        city="湖南省",
        code="430000",
        network_no="731",
        bureau_name="湖南省机关事务管理局",
        bureau_code="BUREAU",
        admin_staff_no="P0001",
        admin_name="省管理员",
        level="province",
    )
    with ctx.db.read() as conn:
        level = conn.execute(
            select(Region.level).where(Region.id == started.region_id)
        ).scalar_one()
    assert level == "province"
    city = admin.create_region(
        ctx,
        SYSTEM,
        {"code": "431000", "name": "郴州市", "level": "city", "parent_id": started.region_id},
    )
    county = admin.create_region(
        ctx, SYSTEM, {"code": "431021", "name": "桂阳县", "level": "county", "parent_id": city.id}
    )
    with pytest.raises(Exception, match="上级"):
        admin.create_region(
            ctx,
            SYSTEM,
            {"code": "431099", "name": "错县", "level": "county", "parent_id": started.region_id},
        )
    with pytest.raises(Exception, match="上级"):
        admin.create_region(
            ctx, SYSTEM, {"code": "432000", "name": "错市", "level": "city", "parent_id": city.id}
        )
    # A unit of the province itself counts with the city-level units.
    unit = admin.create_unit(
        ctx, SYSTEM, {"code": "P001", "name": "省财政厅", "region_id": started.region_id}
    )
    with ctx.db.read() as conn:
        assert conn.execute(select(Unit.level).where(Unit.id == unit.id)).scalar_one() == "city"
    with pytest.raises(Exception, match="全市区域不能撤销"):
        retirement.retire_region(ctx, SYSTEM, started.region_id)
    # The city's bureau (granted for the city) administers the city and its county only.
    with ctx.db.begin() as conn:
        pid = b.create_person(conn, city.id, unit.id, "Scb", "市管理员")
        conn.execute(update(Person).where(Person.id == pid).values(region_id=city.id))
        b.grant_role(conn, pid, "bureau_admin", region_id=city.id)
    cb = actor_of(ctx, pid)
    assert cb.region_ids == {city.id, county.id}
    with pytest.raises(Forbidden):
        admin.create_unit(
            ctx, cb, {"code": "P002", "name": "省直单位", "region_id": started.region_id}
        )


# --- over HTTP: the API and the pages ------------------------------------------------------
@pytest.fixture
def web(ctx: Context, r: Regions) -> Iterator[dict[str, TestClient]]:
    add_staff(ctx, r.w)
    with ctx.db.begin() as conn:
        conn.execute(
            update(Person).where(Person.id == r.people["kb"]).values(totp_secret=BUREAU_TOTP)
        )
    app = create_app(ctx)
    out: dict[str, TestClient] = {}
    for key, staff_no in (("county", "Skb"), ("city", "Sbu")):
        c = TestClient(app)
        c.__enter__()
        sign_in(c, ctx, staff_no)
        out[key] = c
    yield out
    for c in out.values():
        c.__exit__(None, None, None)


def test_over_the_api_the_county_sees_and_changes_only_its_subtree(
    ctx: Context, r: Regions, web: dict[str, TestClient]
) -> None:
    county, city = web["county"], web["city"]
    units = county.get(f"{API}/units").json()
    assert {u["code"] for u in units} == {"K001", "T001"}
    assert {x["id"] for x in county.get(f"{API}/regions").json()} == {r.county, r.town}
    assert {c["code"] for c in county.get(f"{API}/canteens").json()} == {"CK01"}
    assert len(city.get(f"{API}/units").json()) == 6  # the city's bureau sees all
    before = everything(ctx)
    assert county.get(f"{API}/units/{r.w.units['A']}").status_code == 403
    assert county.get(f"{API}/canteens/{r.canteens['other']}").status_code == 403
    resp = county.patch(f"{API}/units/{r.units['other']}", json={"contact": "王五"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
    assert county.post(f"{API}/units/{r.w.units['A']}/retire").status_code == 403
    assert (
        county.post(f"{API}/admins", json={"staff_no": "Skt", "role": "finance"}).status_code == 403
    )
    assert everything(ctx) == before
    ok = county.patch(f"{API}/units/{r.units['town']}", json={"contact": "王五"})
    assert ok.status_code == 200, ok.text
    made = county.post(
        f"{API}/admins", json={"staff_no": "Skt", "role": "finance", "region_id": r.town}
    )
    assert made.status_code == 201, made.text
    # Pages: the organisation and the dashboard; the rest of the console is not a county's.
    assert county.get("/bureau").status_code == 403
    page = county.get("/bureau/org")
    assert page.status_code == 200 and "K001" in page.text and "U001" not in page.text
    assert county.get(f"/bureau/org/units/{r.w.units['A']}").status_code == 403
    assert county.get(f"/bureau/org/units/{r.units['town']}").status_code == 200


def test_the_command_line_grants_and_revokes_a_role_for_a_region(
    ctx: Context, r: Regions, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from onecard.cli import app
    from onecard.org import admin_cli

    monkeypatch.setattr(admin_cli, "context_factory", lambda _url: ctx)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    res = runner.invoke(app, ["org", "admin", "grant", "Skt", "auditor", "--region", "431021"])
    assert res.exit_code == 0, res.output
    assert "审计·桂阳县" in res.output
    assert actor_of(ctx, r.people["kt"]).region_ids == {r.county, r.town}
    res = runner.invoke(app, ["org", "admin", "list"])
    assert "桂阳县" in res.output
    res = runner.invoke(app, ["org", "admin", "revoke", "Skt", "auditor", "--region", "431021"])
    assert res.exit_code == 0, res.output
    assert actor_of(ctx, r.people["kt"]).region_ids is None


def test_the_county_imports_the_information_table_of_its_subtree_only(
    ctx: Context, r: Regions, kb: Actor
) -> None:
    from onecard.core.errors import ImportRejected
    from onecard.org import imports
    from org.test_info_table import canteen_row, unit_row, workbook

    refused = workbook(
        [
            unit_row("桂阳县财政局", "K001", 服务人员数=3),
            unit_row("市财政局", "U001"),  # the city's
            unit_row("宜章县财政局", "J001"),  # another county's
            unit_row("桂阳县教育局", "K002"),  # new, in the top region by default
            unit_row("城关镇学校", "T009", 所属区域="431022"),  # new, in another county
        ],
        [canteen_row("CX9", "新食堂", "U001")],
    )
    before = everything(ctx)
    with pytest.raises(ImportRejected) as exc:
        imports.import_unit_info(ctx, kb, refused, "x.xlsx")
    problems = {(e.sheet, e.row, e.column): e.problem for e in exc.value.rows}  # type: ignore[attr-defined]
    assert problems == {
        ("", 3, "单位名称"): "无权修改该单位的信息",
        ("", 4, "单位名称"): "无权修改该单位的信息",
        ("", 5, "所属区域"): "不在本区域（及下级区域）管辖范围内",
        ("", 6, "所属区域"): "不在本区域（及下级区域）管辖范围内",
        ("食堂", 2, "所属单位"): "不在本区域（及下级区域）管辖范围内",
    }
    assert everything(ctx) == before
    ok = workbook(
        [
            unit_row("桂阳县财政局", "K001", 服务人员数=3),
            unit_row("城关镇学校", "T009", 所属区域="431021101"),
        ],
        [canteen_row("CT9", "城关镇学校食堂", "T009")],
    )
    assert imports.import_unit_info(ctx, kb, ok, "mine.xlsx").applied
    with ctx.db.read() as conn:
        made = conn.execute(select(Unit.region_id, Unit.level).where(Unit.code == "T009")).one()
    assert made.region_id == r.town and made.level == "township"
    # Its template holds its own units only.
    data = imports.unit_info_template(ctx, kb.unit_ids)
    import io

    from openpyxl import load_workbook

    names = [
        row[0] for row in load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(values_only=True)
    ]
    assert "桂阳县财政局" in names and "市财政局" not in names
