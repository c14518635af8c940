"""Rollout and acceptance (R-R1, R-R3): the terminal plan, the state machines and their
record, a terminal that pays only when live, the inspection gate, card progress, the
supervision list, notices and their acknowledgement, the Excel export, the public
directory — through the services, the API, the pages and the CLI.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from onecard.audit.models import AuditEvent
from onecard.core.context import Context
from onecard.core.errors import (
    Forbidden,
    GoLiveRefused,
    IllegalTransition,
    InvalidInput,
    TerminalNotLive,
    TerminalRevoked,
    TerminalUnauthorized,
)
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Terminal
from onecard.pay.service import authenticate_terminal
from onecard.rollout import queries, service
from onecard.rollout.models import RolloutTransition
from onecard.rollout.service import planned_terminals
from web.pages import Staff, TestClient, add_staff, sign_in
from world import World, build_world, fund

BUREAU = Actor.system("bureau")
PAY = "/api/v1/terminal/payments"


def new_canteen(ctx: Context, w: World, code: str = "C009", **kw: Any) -> int:
    with ctx.db.begin() as conn:
        return b.create_canteen(
            conn,
            w.region,
            w.units["C"],
            code,
            "档案馆新食堂",
            rollout_status="planned",
            **{"windows": 3, "capacity": 500, **kw},
        )


def terminal(ctx: Context, code: str) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(select(Terminal.__table__).where(Terminal.code == code)).one()


def state(ctx: Context, canteen_id: int) -> str:
    with ctx.db.read() as conn:
        return str(
            conn.execute(select(Canteen.rollout_status).where(Canteen.id == canteen_id)).scalar()
        )


# --- the plan ------------------------------------------------------------------------------------
def test_the_plan_rule() -> None:
    assert planned_terminals(0, 0) == 1  # at least one
    assert planned_terminals(3, 0) == 3  # one per window
    assert planned_terminals(2, 151) == 2
    assert planned_terminals(1, 451) == 4  # ceil(451 / 150)
    assert planned_terminals(5, 300) == 5


def test_plan_tops_up_once_and_codes_follow_the_canteen(ctx: Context) -> None:
    w = build_world(ctx)
    cid = new_canteen(ctx, w)  # 3 windows, 500 diners: max(3, ceil(500/150)=4) = 4
    made = service.plan_terminals(ctx, BUREAU, cid)
    assert made == ["C009-T01", "C009-T02", "C009-T03", "C009-T04"]
    assert service.plan_terminals(ctx, BUREAU, cid) == []  # the plan is met
    assert all(terminal(ctx, c).status == "planned" for c in made)
    assert queries.canteen_plan(ctx, cid).terminals == {"planned": 4}
    # A planned terminal has no key: nothing can sign in as it.
    with pytest.raises(TerminalUnauthorized):
        authenticate_terminal(ctx, "C009-T01", "")
    with pytest.raises(Forbidden):
        service.plan_terminals(ctx, Actor("u", grants=frozenset({("finance", None, None)})), cid)


# --- terminal moves ----------------------------------------------------------------------------
def test_terminal_moves_legal_and_illegal_each_recorded(ctx: Context) -> None:
    w = build_world(ctx)
    cid = new_canteen(ctx, w, windows=1, capacity=0)
    (code,) = service.plan_terminals(ctx, BUREAU, cid)
    tid = int(terminal(ctx, code).id)
    for illegal in ("accepted", "live", "planned"):
        with pytest.raises(IllegalTransition):
            service.move_terminal(ctx, BUREAU, tid, illegal)
    assert terminal(ctx, code).status == "planned"  # nothing changed
    key = service.install_terminal(ctx, BUREAU, tid)
    with pytest.raises(TerminalNotLive):
        authenticate_terminal(ctx, code, key)
    with pytest.raises(IllegalTransition, match="已安装"):
        service.make_terminal_live(ctx, BUREAU, tid)
    service.accept_terminal(ctx, BUREAU, tid, note="现场试刷 3 笔")
    with pytest.raises(TerminalNotLive):
        authenticate_terminal(ctx, code, key)
    service.make_terminal_live(ctx, BUREAU, tid)
    assert authenticate_terminal(ctx, code, key).canteen_id == cid
    service.revoke_terminal(ctx, BUREAU, tid)
    with pytest.raises(TerminalRevoked):
        authenticate_terminal(ctx, code, key)
    for illegal in ("live", "revoked", "installed"):
        with pytest.raises(IllegalTransition):
            service.move_terminal(ctx, BUREAU, tid, illegal)
    with pytest.raises(InvalidInput):
        service.move_terminal(ctx, BUREAU, tid, "active")
    with ctx.db.read() as conn:
        moves = conn.execute(
            select(RolloutTransition.__table__)
            .where(RolloutTransition.subject == "terminal", RolloutTransition.subject_id == tid)
            .order_by(RolloutTransition.id)
        ).all()
        audited = conn.execute(
            select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
            .where(AuditEvent.target == code)
            .order_by(AuditEvent.seq)
        ).all()
    assert [(m.from_state, m.to_state) for m in moves] == [
        (None, "planned"),
        ("planned", "installed"),
        ("installed", "accepted"),
        ("accepted", "live"),
        ("live", "revoked"),
    ]
    assert all(m.actor == "bureau" and m.at == ctx.clock.now() for m in moves)
    assert moves[2].note == "现场试刷 3 笔"
    assert [a for a, _, _ in audited] == [
        "terminal_installed",
        "terminal_accepted",
        "terminal_live",
        "terminal_revoked",
    ]
    assert json.loads(audited[0][1]) == {"status": "planned"}
    assert key not in json.dumps([list(r) for r in audited])  # never the key in the trail


def test_only_the_bureau_moves_terminals(ctx: Context) -> None:
    w = build_world(ctx)
    unit_admin = Actor("ua", grants=frozenset({("unit_admin", w.units["A"], None)}))
    with pytest.raises(Forbidden):
        service.revoke_terminal(ctx, unit_admin, w.terminals["A"].id)
    assert terminal(ctx, "T-A1").status == "live"


# --- the canteen's gate --------------------------------------------------------------------------
def test_a_canteen_goes_live_only_after_a_passed_inspection_and_with_a_live_terminal(
    ctx: Context,
) -> None:
    w = build_world(ctx)
    cid = new_canteen(ctx, w, windows=1, capacity=0)
    with pytest.raises(GoLiveRefused, match=r"尚无通过的验收检查.*没有已启用的消费机"):
        service.make_canteen_live(ctx, BUREAU, cid)
    day = date(2026, 3, 1)
    _, passed = service.record_inspection(
        ctx, BUREAU, cid, day, [("刷卡成功", True), ("价目公示", False)], "价目未上墙"
    )
    assert not passed and state(ctx, cid) == "planned"
    _, passed = service.record_inspection(ctx, BUREAU, cid, day, [("刷卡成功", True)])
    assert passed and state(ctx, cid) == "inspected"
    with pytest.raises(GoLiveRefused, match="没有已启用的消费机"):
        service.make_canteen_live(ctx, BUREAU, cid)
    (code,) = service.plan_terminals(ctx, BUREAU, cid)
    tid = int(terminal(ctx, code).id)
    service.install_terminal(ctx, BUREAU, tid)
    service.accept_terminal(ctx, BUREAU, tid)
    service.make_terminal_live(ctx, BUREAU, tid)
    with pytest.raises(Forbidden):  # the go-live is the bureau administrator's
        service.make_canteen_live(
            ctx, Actor("co", grants=frozenset({("clearing_operator", None, None)})), cid
        )
    service.make_canteen_live(ctx, BUREAU, cid)
    assert state(ctx, cid) == "live"
    with pytest.raises(GoLiveRefused):
        service.set_canteen_state(ctx, BUREAU, cid, "inspected")
    # A failed inspection of a live canteen is recorded; it stays live.
    service.record_inspection(ctx, BUREAU, cid, day, [("卫生", False)])
    assert state(ctx, cid) == "live"
    moves = [(m["from_state"], m["to_state"]) for m in queries.transitions(ctx, cid)]
    assert ("planned", "inspected") in moves and ("inspected", "live") in moves
    assert [i["passed"] for i in queries.inspections(ctx, cid)] == [False, True, False]


def test_an_inspection_needs_items_and_a_date_not_in_the_future(ctx: Context) -> None:
    w = build_world(ctx)
    cid = new_canteen(ctx, w)
    with pytest.raises(InvalidInput):
        service.record_inspection(ctx, BUREAU, cid, date(2026, 3, 1), [])
    with pytest.raises(InvalidInput):
        service.record_inspection(ctx, BUREAU, cid, date(2099, 1, 1), [("x", True)])
    assert queries.inspections(ctx, cid) == []


# --- progress and supervision ---------------------------------------------------------------------
def test_card_progress_and_the_supervision_list(ctx: Context) -> None:
    w = build_world(ctx)
    add_staff(ctx, w)  # A: a1 a2 (cards) ua cm; B: b1 (card) ub; C: c1 (card) bu fi
    from onecard.pay.cards import report_lost

    report_lost(ctx, BUREAU, w.cards["b1"])  # a lost card is not an active card
    units, city = queries.card_progress(ctx)
    got = {u.code: (u.people, u.with_card, u.pct) for u in units}
    assert got == {"U001": (4, 2, 50.0), "U002": (2, 0, 0.0), "U003": (3, 1, 33.3)}
    assert (city.people, city.with_card, city.pct) == (9, 3, 33.3)
    new_canteen(ctx, w)  # unit C: a canteen planned, 4 terminals planned, none live
    rows = {u.code: u for u in queries.supervision(ctx)}
    assert rows["U003"].canteens_not_live == ["档案馆新食堂"]
    assert (rows["U003"].terminals_planned, rows["U003"].terminals_live) == (4, 0)
    assert rows["U003"].terminals_short == 4 and rows["U003"].behind
    assert (rows["U001"].terminals_planned, rows["U001"].terminals_live) == (1, 1)
    assert rows["U001"].cards_short == 2
    assert next(u.code for u in queries.supervision(ctx)) == "U003"  # most behind first


def lines_of(data: bytes, sheet: str) -> list[list[Any]]:
    wb = load_workbook(io.BytesIO(data))
    return [list(r) for r in wb[sheet].iter_rows(values_only=True)]


def test_notices_acknowledged_on_the_unit_page_and_exported(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["bu"])
    r = client.post(
        "/api/v1/rollout/notices",
        json={"unit_id": w.units["A"], "kind": "urge", "text": "=请于本周内完成发卡"},
    )
    assert r.status_code == 201, r.text
    nid = r.json()["id"]
    assert (
        client.post(
            "/api/v1/rollout/notices", json={"unit_id": w.units["A"], "kind": "scold", "text": "x"}
        ).status_code
        == 422
    )
    # The bureau cannot acknowledge for the unit.
    assert (
        client.post(f"/api/v1/rollout/units/{w.units['A']}/notices/{nid}/acknowledge").status_code
        == 403
    )
    ua = TestClient(client.app)
    token, _ = sign_in(ua, ctx, staff["ua"])
    page = ua.get(f"/unit/{w.units['A']}").text
    assert "=请于本周内完成发卡" in page and f"/rollout/notices/{nid}/ack" in page
    ub = TestClient(client.app)
    ub_token, _ = sign_in(ub, ctx, staff["ub"])
    assert (
        ub.post(
            f"/unit/{w.units['A']}/rollout/notices/{nid}/ack", data={"csrf_token": ub_token}
        ).status_code
        == 403
    )
    r = ua.post(
        f"/unit/{w.units['A']}/rollout/notices/{nid}/ack",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    again = ua.post(f"/unit/{w.units['A']}/rollout/notices/{nid}/ack", data={"csrf_token": token})
    assert again.status_code == 409 and "已确认" in again.text
    assert "确认收到" not in ua.get(f"/unit/{w.units['A']}").text
    got = client.get(f"/api/v1/rollout/units/{w.units['A']}/notices").json()
    assert got[0]["acknowledged_by"].endswith("职员ua") and got[0]["acknowledged_at"]
    # The export: the supervision list and the notices, formula-safe.
    data = client.get("/bureau/rollout/supervision.xlsx").content
    api = client.get("/api/v1/rollout/supervision.xlsx").content  # the same workbook
    for sheet in ("督办清单", "督办与表扬通知"):
        assert lines_of(api, sheet) == lines_of(data, sheet)
    sup = lines_of(data, "督办清单")
    assert sup[0][:3] == ["单位代码", "单位名称", "食堂数"]
    a = next(r for r in sup if r[0] == "U001")
    assert a[2:] == [1, None, 1, 1, 0, 4, 2, 50, "滞后"]
    notes = lines_of(data, "督办与表扬通知")
    assert notes[1][:5] == [nid, "U001", "市财政局", "督办", "=请于本周内完成发卡"]
    assert notes[1][7].endswith("职员ua")
    wb = load_workbook(io.BytesIO(data))
    assert wb["督办与表扬通知"]["E2"].data_type == "s"  # text, not a formula
    with ctx.db.read() as conn:
        actions = list(
            conn.execute(select(AuditEvent.action).where(AuditEvent.kind == "rollout")).scalars()
        )
    assert actions == ["notice_urge", "notice_acknowledged"]


# --- paying ------------------------------------------------------------------------------------
def test_a_terminal_not_live_cannot_pay_and_a_live_one_can(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    fund(ctx, w, "a1", subsidy=5000)
    sign_in(client, ctx, staff["bu"])
    r = client.post("/api/v1/admin/terminals", json={"canteen_id": w.canteens["A"], "code": "T-A5"})
    assert r.json()["status"] == "installed"
    key = r.json()["device_key"]
    till = TestClient(client.app)
    auth = {"Authorization": f"Terminal T-A5:{key}"}
    body = {"txn_id": "r-1", "credential": w.cards["a1"], "amount_fen": 300}
    r = till.post(PAY, json=body, headers=auth)
    assert r.status_code == 403 and r.json()["error"]["code"] == "terminal_not_live", r.text
    tid = int(terminal(ctx, "T-A5").id)
    assert client.post(f"/api/v1/rollout/terminals/{tid}/live").json()["error"]["code"] == (
        "illegal_transition"
    )
    assert (
        client.post(f"/api/v1/rollout/terminals/{tid}/accept", json={"note": "ok"}).status_code
        == 200
    )
    r = till.post(PAY, json=body, headers=auth)
    assert r.json()["error"]["code"] == "terminal_not_live"  # accepted is not live
    assert client.post(f"/api/v1/rollout/terminals/{tid}/live").json()["status"] == "live"
    r = till.post(PAY, json=body, headers=auth)
    assert r.status_code == 200 and r.json()["result"] == "approved", r.text


# --- the API and the pages -------------------------------------------------------------------------
def test_the_whole_rollout_through_the_api(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    cid = new_canteen(ctx, w, windows=2, capacity=0)
    sign_in(client, ctx, staff["bu"])
    plan = {c["code"]: c for c in client.get("/api/v1/rollout/plan").json()}
    assert plan["C009"]["planned"] == 2 and plan["C009"]["rollout_status"] == "planned"
    r = client.post(f"/api/v1/rollout/canteens/{cid}/plan")
    assert r.status_code == 201 and r.json()["created"] == ["C009-T01", "C009-T02"]
    ts = client.get(f"/api/v1/rollout/terminals?canteen_id={cid}").json()
    tid = ts[0]["id"]
    r = client.post(f"/api/v1/rollout/canteens/{cid}/live")
    assert r.status_code == 409 and r.json()["error"]["code"] == "go_live_refused"
    key = client.post(f"/api/v1/rollout/terminals/{tid}/install").json()["device_key"]
    assert key and terminal(ctx, "C009-T01").status == "installed"
    client.post(f"/api/v1/rollout/terminals/{tid}/accept")
    client.post(f"/api/v1/rollout/terminals/{tid}/live")
    bad = {"inspected_on": "2026-03-01", "items": []}
    assert client.post(f"/api/v1/rollout/canteens/{cid}/inspections", json=bad).status_code == 422
    r = client.post(
        f"/api/v1/rollout/canteens/{cid}/inspections",
        json={"inspected_on": "2026-03-01", "items": [{"item": "刷卡成功", "passed": True}]},
    )
    assert r.status_code == 201 and r.json()["rollout_status"] == "inspected"
    assert client.post(f"/api/v1/rollout/canteens/{cid}/live").json()["rollout_status"] == "live"
    prog = client.get("/api/v1/rollout/progress").json()
    assert prog["city"]["people"] == 9 and prog["city"]["with_card"] == 4
    sup = client.get("/api/v1/rollout/supervision?behind_only=true").json()
    c = next(u for u in sup if u["code"] == "U003")
    assert (c["terminals_planned"], c["terminals_live"], c["canteens_not_live"]) == (2, 1, [])
    fi = TestClient(client.app)
    sign_in(fi, ctx, staff["fi"])
    assert fi.get("/api/v1/rollout/plan").status_code == 200
    assert fi.post(f"/api/v1/rollout/terminals/{ts[1]['id']}/install").status_code == 403


def test_the_pages_plan_install_accept_inspect_and_go_live(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    cid = new_canteen(ctx, w, windows=1, capacity=0)
    token, _ = sign_in(client, ctx, staff["bu"])
    page = client.get("/bureau/rollout")
    assert page.status_code == 200 and "档案馆新食堂" in page.text and "督办清单" in page.text
    r = client.post(
        f"/bureau/rollout/canteens/{cid}/plan", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    tid = int(terminal(ctx, "C009-T01").id)
    base = f"/bureau/rollout/canteens/{cid}"
    r = client.post(f"{base}/terminals/{tid}/live", data={"csrf_token": token})
    assert r.status_code == 409 and "不能从「计划」变为「已启用」" in r.text
    r = client.post(f"{base}/terminals/{tid}/installed", data={"csrf_token": token})
    assert r.status_code == 200 and 'id="new-key"' in r.text
    key = re.search(r'id="new-key".*?<code>([^<]+)</code>', r.text, re.S)
    assert key and terminal(ctx, "C009-T01").status == "installed"
    for move in ("accepted", "live"):
        r = client.post(f"{base}/terminals/{tid}/{move}", data={"csrf_token": token})
        assert r.status_code == 200, r.text
    r = client.post(f"{base}/live", data={"csrf_token": token})
    assert r.status_code == 409 and "尚无通过的验收检查" in r.text
    assert state(ctx, cid) == "planned"
    form = {
        "csrf_token": token,
        "inspected_on": "2026-03-01",
        "item": list(service.CHECKLIST),
        "passed": [str(i) for i in range(len(service.CHECKLIST))],
        "note": "全部通过",
    }
    r = client.post(f"{base}/inspections", data=form, follow_redirects=False)
    assert r.status_code == 303 and state(ctx, cid) == "inspected"
    r = client.post(f"{base}/inspections", data={**form, "inspected_on": "3月1日"})
    assert r.status_code == 422
    r = client.post(f"{base}/live", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and state(ctx, cid) == "live"
    text = client.get(base).text
    assert "已上线" in text and "全部通过" in text and "职员bu" in text
    en = client.get(f"{base}?lang=en").text
    assert "Go live" not in en and "Live" in en
    assert client.get("/bureau/rollout?lang=en").status_code == 200


# --- the public directory ---------------------------------------------------------------------
def test_the_directory_lists_only_live_canteens_as_the_bureau_edits_them(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    cid = new_canteen(ctx, w)
    assert "档案馆新食堂" not in client.get("/canteens").text
    assert "财政局机关食堂" in client.get("/canteens").text
    sign_in(client, ctx, staff["bu"])
    r = client.patch(f"/api/v1/org/canteens/{w.canteens['A']}", json={"name": "财政局职工餐厅"})
    assert r.status_code == 200, r.text
    service.record_inspection(ctx, BUREAU, cid, date(2026, 3, 1), [("刷卡", True)])
    with ctx.db.begin() as conn:
        b.register_terminal(conn, w.region, cid, "C009-X", key="k")
    service.make_canteen_live(ctx, BUREAU, cid)
    anon = TestClient(client.app)
    text = anon.get("/canteens").text
    assert "财政局职工餐厅" in text and "档案馆新食堂" in text and "财政局机关食堂" not in text
    service.set_canteen_state(ctx, BUREAU, cid, "planned")  # suspended: off the directory
    assert "档案馆新食堂" not in anon.get("/canteens").text


def test_the_overview_lists_a_page_at_a_time_with_a_search_and_sql_totals(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    with ctx.db.begin() as conn:
        for i in range(1, 56):  # past one page of 50
            b.create_canteen(
                conn,
                w.region,
                w.units["C"],
                f"P{i:03d}",
                f"分页食堂{i:03d}",
                rollout_status="live" if i % 7 == 0 else "planned",
                windows=i % 4,
                capacity=37 * i,
            )
    everything = queries.plan(ctx)
    totals = queries.plan_totals(ctx)
    assert totals.planned == sum(c.planned for c in everything)
    assert totals.live_terminals == sum(c.live for c in everything)
    assert totals.live_canteens == sum(1 for c in everything if c.rollout_status == "live")
    assert totals.canteens == len(everything) > 55
    second = queries.plan_page(ctx, "", 2, size=10)
    assert [c.id for c in second.rows] == [c.id for c in everything[10:20]]
    assert second.total == len(everything) and second.pages == -(-len(everything) // 10)
    assert queries.plan_page(ctx, "%", 1).total == 0  # a search is text, not a pattern

    sign_in(client, ctx, staff["bu"])

    def plan_rows(url: str) -> list[str]:
        page = client.get(url)
        assert page.status_code == 200
        table = page.text.split('id="plan-table"', 1)[1].split("</table>", 1)[0]
        return re.findall(r'href="/bureau/rollout/canteens/\d+">([^<]+)</a>', table)

    first = plan_rows("/bureau/rollout")
    assert first == [c.name for c in everything[:50]]
    assert plan_rows("/bureau/rollout?cp=2") == [c.name for c in everything[50:]]
    assert plan_rows("/bureau/rollout?cp=99") == [c.name for c in everything[50:]]  # the last
    assert plan_rows("/bureau/rollout?q=分页食堂05") == [f"分页食堂{i:03d}" for i in range(50, 56)]
    text = client.get("/bureau/rollout?q=分页食堂05").text
    assert f'id="planned-total">{totals.planned:,}<' in text  # the city's, whatever the search
    assert (
        "6 条" in text and 'rel="next"' not in text.split('id="plan"', 1)[1].split("</section>")[0]
    )
    assert 'href="?cp=2&amp;sp=1&amp;kp=1&amp;np=1"' in client.get("/bureau/rollout").text
