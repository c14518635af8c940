"""The permission table holds: every route and page × every kind of caller answers as
``web.permissions.RULES`` declares.

A new route without a declared rule fails ``test_every_route_has_a_declared_rule``; a
rule that admits someone the route refuses (or refuses someone it admits) fails the
matrix. The matrix asks each route about things that belong to unit A, canteen A,
terminal A and diner a1 (``Targets``), as each caller below:

anonymous · diner a1 (the owner) · another diner · unit admin of another unit · canteen
manager of another canteen · finance · auditor · bureau · terminal of another canteen ·
a partner system (every request signed OC-HMAC-SHA256 with its secret: the partner
routes admit it, every other route refuses it) — and, so "admitted" is shown to work
too, the unit admin of A, the manager of canteen A and terminal A.

Admitted means 2xx/3xx (or a route's own stated answer, e.g. 402 for the withdrawal that
is refused by design); refused means 401/403/404 or, for a page, the sign-in redirect.
Writes run after reads, in an order that leaves each later write something to act on.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pytest
from fastapi import APIRouter
from sqlalchemy import insert, select, update

from onecard.catalogue import service as catalogue
from onecard.channels.bank import DINING_FUND_ACCOUNT, gateway
from onecard.channels.models import BankFile
from onecard.channels.sandbox import SandboxBank
from onecard.core.clock import FixedClock
from onecard.core.context import Context
from onecard.faces import service as face_service
from onecard.funding import notices, settlement
from onecard.funding.models import FundingNotice, Settlement
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.imports import ROSTER_COLUMNS, UNIT_INFO_COLUMNS
from onecard.org.models import Region, RoleGrant, Unit
from onecard.pay.cards import issue_card_conn
from onecard.pay.service import PaymentRequest, pay
from onecard.rollout import service as rollout
from onecard.waste import service as waste
from onecard.web import permissions
from onecard.web.app import create_app
from onecard.web.deps import ActorDep
from onecard.web.permissions import RULES, Clause, Scope, Who
from web.pages import BUREAU_TOTP, TestClient, add_staff, csrf_of, sign_in
from world import World, build_world, fund

SYSTEM = Actor.system("test")
WATER = "6901234567892"


# --- callers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    name: str
    whos: frozenset[Who] = frozenset()
    staff: str | None = None  # staff key in the world (signs in)
    terminal: str | None = None  # terminal key in the world
    owns: bool = False  # the person / terminal the targets belong to
    unit: bool = False  # administers the target unit
    canteen: bool = False  # manages the target canteen
    home_unit: str = "A"  # the unit whose rows it imports ("self" routes)
    partner: bool = False  # signs every request as the partner system mx-partner

    def satisfies(self, clause: Clause) -> bool:
        if clause.who == Who.ANYONE:
            return True
        if clause.who not in self.whos:
            return False
        return {
            Scope.PUBLIC: True,
            Scope.SELF: True,
            Scope.CITY: True,
            Scope.REGION: True,  # every caller here holds its role deployment-wide
            Scope.OWN: self.owns,
            Scope.UNIT: self.unit,
            Scope.CANTEEN: self.canteen,
        }[clause.scope]

    def admitted(self, rule: permissions.Rule) -> bool:
        return any(self.satisfies(c) for c in rule.clauses)


P = Who.PERSON
CALLERS = [
    Caller("anonymous"),
    Caller("diner", frozenset({P}), staff="a1", owns=True),
    Caller("another diner", frozenset({P}), staff="b1", home_unit="B"),
    Caller("unit admin of another unit", frozenset({P, Who.UNIT_ADMIN}), "ub", home_unit="B"),
    Caller(
        "canteen manager of another canteen",
        frozenset({P, Who.CANTEEN_MANAGER}),
        staff="cmb",
        home_unit="B",
    ),
    Caller("finance", frozenset({P, Who.FINANCE}), staff="fi", home_unit="C"),
    Caller("auditor", frozenset({P, Who.AUDITOR}), staff="au", home_unit="C"),
    Caller("bureau", frozenset({P, Who.BUREAU_ADMIN}), staff="bu", home_unit="C"),
    Caller("terminal of another canteen", frozenset({Who.TERMINAL}), terminal="B"),
    Caller("partner", frozenset({Who.PARTNER}), partner=True),
    Caller("unit admin", frozenset({P, Who.UNIT_ADMIN}), staff="ua", unit=True),
    Caller("canteen manager", frozenset({P, Who.CANTEEN_MANAGER}), staff="cm", canteen=True),
    Caller("waste supervisor", frozenset({P, Who.WASTE_SUPERVISOR}), staff="ws", unit=True),
    Caller("terminal", frozenset({Who.TERMINAL}), terminal="A", owns=True),
]


# --- the world the matrix asks about -----------------------------------------------------------
@dataclass
class Targets:
    w: World
    ids: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.ids[key]


def matrix_world(ctx: Context) -> Targets:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=60000, cash=5000)
    add_staff(ctx, w)
    with ctx.db.begin() as conn:
        for key, unit in (
            ("a3", "A"),
            ("a4", "A"),
            ("a5", "A"),
            ("a6", "A"),
            ("a7", "A"),
            ("cmb", "B"),
            ("au", "C"),
            ("ws", "A"),
        ):
            w.people[key] = b.create_person(
                conn, w.region, w.units[unit], f"S{key}", f"职员{key}", standard_fen=60000
            )
        b.grant_role(conn, w.people["cmb"], "canteen_manager", canteen_id=w.canteens["B"])
        b.grant_role(conn, w.people["au"], "auditor")
        b.grant_role(conn, w.people["ws"], "waste_supervisor", unit_id=w.units["A"])
        for code in ("T-A8", "T-A9"):
            b.register_terminal(conn, w.region, w.canteens["A"], code, key=f"key-{code}")
        # Planned terminals the rollout API and page move on (install → accept → live …).
        planned = {
            k: b.register_terminal(conn, w.region, w.canteens["A"], k, status="planned")[0]
            for k in ("T-MXAPI", "T-MXPAGE")
        }
        # Regions to edit and retire; canteen A's extra managers, whose grants are revoked.
        for code in ("431099", "431098"):
            b.create_region(conn, code, f"测试乡{code}", "county", w.region)
        for key in ("a2", "a3", "a6", "a7"):
            b.grant_role(conn, w.people[key], "canteen_manager", canteen_id=w.canteens["A"])
        # a4 leaves through the API, a5 through the page: each with a card and some cash.
        for key in ("a4", "a5", "a6"):
            w.cards[key] = issue_card_conn(conn, ctx, w.people[key])
    fund(ctx, w, "a4", cash=100)
    fund(ctx, w, "a5", cash=100)
    from sqlalchemy import update

    from onecard.org.models import Person
    from web.pages import _HASH

    bank = gateway(ctx)
    assert isinstance(bank, SandboxBank)
    with ctx.db.begin() as conn:
        conn.execute(update(Person).values(password_hash=_HASH, must_change_password=False))
        conn.execute(
            update(Person).where(Person.id == w.people["au"]).values(totp_secret=BUREAU_TOTP)
        )
        # Everyone has a bound savings card (top-ups come from it, a leaver's cash goes to it).
        for key, pid in w.people.items():
            conn.execute(
                update(Person).where(Person.id == pid).values(bank_card_no=f"6217{pid:08d}")
            )
            bank.open_outside_account(f"6217{pid:08d}", key, balance_fen=100_000)
    # Two payments of a1 at terminal A: one to reverse, one to refund and rate.
    paid = pay(ctx, w.terminals["A"], PaymentRequest("mx-1", w.cards["a1"], meal="lunch"))
    pay(ctx, w.terminals["A"], PaymentRequest("mx-rev", w.cards["a1"], amount_fen=100))
    notices.issue_notices(ctx, SYSTEM, "2026Q1")
    # A reference price and a good of canteen A (its stock moves through API and page).
    catalogue.publish_references(
        ctx, SYSTEM, w.region, date(2026, 3, 1), [catalogue.ReferenceRow("矿泉水", 200, WATER)]
    )
    item_id = catalogue.save_good(
        ctx, SYSTEM, w.canteens["A"], catalogue.GoodSpec("G1", "矿泉水", 190, barcode=WATER)
    )
    urged = {k: rollout.issue_notice(ctx, SYSTEM, w.units["A"], "urge", k) for k in ("api", "page")}
    wasted = {k: waste.issue_notice(ctx, SYSTEM, w.canteens["A"], k) for k in ("api", "page")}
    with ctx.db.read() as conn:  # the bureau's admin inspects (the system is no inspector)
        bureau = Actor.load(conn, w.people["bu"], "Sbu", w.units["C"])
    inspection_id = waste.record_inspection(
        ctx, bureau, w.canteens["A"], date(2026, 3, 2), "lunch", "1", photo=PNG
    )
    preorder_id = menu_targets(ctx, w)
    surveyed = survey_targets(ctx, w)
    settlement.settle_quarter(ctx, SYSTEM, "2025Q4")  # a settled quarter has statements
    cc = community_targets(ctx, w)
    ir = interregion_targets(ctx, w)
    bank.open_outside_account("99990000", "某不明单位", 50000)
    bank.credit_from_outside("99990000", DINING_FUND_ACCOUNT, 1234, "伙食费")
    receipts = notices.import_receipts(ctx, SYSTEM, date(2026, 3, 10))
    statement = bank.statement_file(date(2026, 3, 10))
    with ctx.db.begin() as conn:  # a file read from the bank, to be fetched again
        file_id = conn.execute(
            insert(BankFile)
            .values(
                kind="statement",
                name="statement.csv",
                fmt="csv",
                sha256=hashlib.sha256(statement).hexdigest(),
                lines=1,
                amount_fen=1234,
                created_at=ctx.clock.now(),
                created_by="test",
                content=statement,
            )
            .returning(BankFile.id)
        ).scalar_one()
    with ctx.db.read() as conn:
        names = dict(conn.execute(select(Unit.id, Unit.name)).all())
        notice_id = conn.execute(
            select(FundingNotice.id).where(FundingNotice.unit_id == w.units["A"])
        ).scalar_one()
        regions = dict(conn.execute(select(Region.code, Region.id)).all())
        grant_of = {
            pid: gid
            for gid, pid in conn.execute(
                select(RoleGrant.id, RoleGrant.person_id).where(
                    RoleGrant.role_code == "canteen_manager",
                    RoleGrant.canteen_id == w.canteens["A"],
                )
            )
        }
        settlement_id = conn.execute(
            select(Settlement.id).where(Settlement.canteen_id == w.canteens["A"])
        ).scalar_one()
    for terminal in ("A", "B"):  # face pay on: both declare liveness detection
        face_service.set_liveness(ctx, SYSTEM, w.terminals[terminal].code, True)
    ecny_order = ecny_payment(ctx, w)
    from onecard.partners import service as partner_service

    partner_secret = partner_service.create(
        ctx, SYSTEM, "mx-partner", "测试合作方", ["directory:read"]
    )
    src = sourcing_targets(ctx, w)
    return Targets(
        w,
        {
            "order_no": ecny_order,
            "client_id": "mx-partner",
            "partner_secret": partner_secret,
            "unit_id": w.units["A"],
            "canteen_id": w.canteens["A"],
            "person_id": w.people["a1"],
            "card_no": w.cards["a1"],
            "payment_id": int(paid.data["payment_id"]),
            "txn_id": "mx-rev",
            "quarter": "2026Q1",
            "bank_serial": receipts.lines[0]["serial"],
            "key": "daily",
            "fmt": "xlsx",
            "kind": "notices",
            "unit_names": names,
            "file_id": file_id,
            "notice_id": notice_id,
            "region_id": regions["431099"],
            "region:retire": regions["431098"],
            "grant:api": grant_of[w.people["a2"]],
            "grant:unit": grant_of[w.people["a3"]],
            "grant:bureau": grant_of[w.people["a6"]],
            "grant:admins-page": grant_of[w.people["a7"]],
            "grant_id": grant_of[w.people["a2"]],
            "settlement_id": settlement_id,
            "terminal_id": planned["T-MXAPI"],
            "terminal:page": planned["T-MXPAGE"],
            "rollout_notice:api": urged["api"],
            "rollout_notice:page": urged["page"],
            "waste_notice:api": wasted["api"],
            "waste_notice:page": wasted["page"],
            **surveyed,
            "statement": statement,
            "item_id": item_id,
            "inspection_id": inspection_id,
            "sku": "MX1",
            "preorder_id": preorder_id,
            **cc,
            **ir,
            **src,
        },
    )


def menu_targets(ctx: Context, w: World) -> int:
    """A dish on canteen A's menu tomorrow (lunch and dinner), and a1's prepaid lunch
    pre-order: the one the owner cancels (cancelling again answers the same)."""
    from onecard.menus import service as menus
    from onecard.org.actors import Actor

    catalogue.save_dish(ctx, SYSTEM, w.canteens["A"], catalogue.DishSpec("MXD", "矩阵菜", 800))
    for meal in ("lunch", "dinner"):
        menus.set_menu(ctx, SYSTEM, w.canteens["A"], date(2026, 3, 11), meal, ["MXD"])
    a1 = Actor("a1", person_id=w.people["a1"], unit_id=w.units["A"])
    spec = menus.PreorderSpec(
        w.canteens["A"], date(2026, 3, 11), "lunch", (("MXD", 1),), "prepaid", "mx-pre"
    )
    return int(menus.place(ctx, a1, spec)["id"])


def sourcing_targets(ctx: Context, w: World) -> dict[str, Any]:
    """Canteen A's dish with a recipe, an ingredient, a supplier and a passed batch."""
    from onecard.sourcing import service as sourcing

    cid = w.canteens["A"]
    dish = catalogue.save_dish(ctx, SYSTEM, cid, catalogue.DishSpec("MXD", "矩阵菜", 800))
    ing = sourcing.add_ingredient(ctx, SYSTEM, cid, "矩阵食材", "kg", 1000)
    sourcing.save_recipe(ctx, SYSTEM, cid, dish, [(ing, 100)])
    sup = sourcing.add_supplier(ctx, SYSTEM, cid, "矩阵供应商", "JY0000000001")
    spec = sourcing.BatchSpec(ing, sup, "MX-B1", date(2026, 3, 9), "100", 1000, "pass")
    batch = sourcing.receive_batch(ctx, SYSTEM, cid, spec)
    return {
        "sourcing_dish": dish,
        "sourcing_ingredient": ing,
        "sourcing_supplier": sup,
        "batch_id": batch,
    }


def survey_targets(ctx: Context, w: World) -> dict[str, Any]:
    """Surveys canteen A's manager published for all diners: one every caller reads, one
    each to close through the API and the page, one each to answer through them."""
    from onecard.surveys import queries as survey_queries
    from onecard.surveys import service as surveys

    manager = Actor(
        "mx-cm",
        w.people["a2"],
        w.units["A"],
        frozenset({("canteen_manager", None, w.canteens["A"])}),
    )
    out: dict[str, Any] = {}
    for key in ("main", "api", "page", "answer-api", "answer-page"):
        spec = surveys.SurveySpec(
            title=f"矩阵问卷 {key}",
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 3, 31),
            canteen_ids=[w.canteens["A"]],
            questions=[surveys.QuestionSpec("stars", "总体满意度")],
        )
        sid = surveys.publish(ctx, manager, spec)
        out[f"survey:{key}"] = sid
        out[f"q:{key}"] = survey_queries.detail(ctx, sid, date(2026, 3, 10))["questions"][0]["id"]
    out["survey_id"] = out["survey:main"]
    return out


def community_targets(ctx: Context, w: World) -> dict[str, Any]:
    """A community canteen with a dish and a resident who ate in February (the pages'
    claim) and in March (the API's claim): each claim has its line to decide."""
    from onecard.community import claims as cclaims
    from onecard.community import queries as cq
    from onecard.community import service as cs
    from onecard.community.ids import check_digit
    from onecard.core.clock import from_local

    cc = cs.create_canteen(
        ctx,
        SYSTEM,
        region_id=w.region,
        code="MX-CC",
        name="矩阵社区食堂",
        operator="运营方",
        address="社区",
    )
    dish = cs.set_dish(ctx, SYSTEM, cc, "矩阵套餐", 1000)
    cs.fund_subsidies(ctx, SYSTEM, w.region, 100_000, "mx")
    body = "14010519500501001"
    resident = cs.register_resident(
        ctx,
        SYSTEM,
        region_id=w.region,
        name="矩阵居民",
        id_number=body + check_digit(body),
        categories={"aged_60": "身份证"},
    )
    cs.top_up(ctx, SYSTEM, resident, 10_000, "mx")
    assert isinstance(ctx.clock, FixedClock)
    now = ctx.clock.now()
    out: dict[str, Any] = {"cc_id": cc, "dish_id": dish, "resident_id": resident}
    for key, month, day in (("page", "2026-02", 10), ("api", "2026-03", 9)):
        ctx.clock.set(from_local(datetime(2026, int(month[-2:]), day, 12, 0)))
        cs.pay_meal(ctx, SYSTEM, canteen_id=cc, resident_id=resident, dish_id=dish, txn_id=key)
        claim = cclaims.build_claim(ctx, SYSTEM, cc, month)
        out[f"claim:{key}"] = claim
        out[f"line:{key}"] = cq.claim(ctx, claim).lines[0]["id"]
    ctx.clock.set(now)
    out["claim_id"], out["line_id"] = out["claim:api"], out["line:api"]
    return out


def interregion_targets(ctx: Context, w: World) -> dict[str, Any]:
    """A county keeping its own fund, an agreement it proposed to the city (the city's
    bureau accepts), and the quarter's statement the city confirmed already."""
    from onecard.interregion import service as irs
    from onecard.ledger.service import open_system_accounts
    from onecard.org import builders as ob

    with ctx.db.begin() as conn:
        county = ob.create_region(conn, "431088", "矩阵县", "county", w.region)
        conn.execute(update(Region).where(Region.id == county).values(own_fund=True))
        open_system_accounts(conn, county, top=False)
    terms = irs.AgreementIn(
        county, w.region, "visitor", "subsidy_first", date(2026, 1, 1), "1", "市"
    )
    agreement = irs.propose(ctx, SYSTEM, "home", terms)
    sid = irs.compute_statement(ctx, SYSTEM, county, w.region, "2026Q1")
    irs.confirm_statement(ctx, SYSTEM, sid, "host")
    # The page's own: a second agreement and the previous quarter's statement.
    page_agreement = irs.propose(ctx, SYSTEM, "home", terms)
    page_sid = irs.compute_statement(ctx, SYSTEM, county, w.region, "2025Q4")
    irs.confirm_statement(ctx, SYSTEM, page_sid, "host")
    return {
        "county": county,
        "agreement_id": agreement,
        "statement_id": sid,
        "agreement:page": page_agreement,
        "statement:page": page_sid,
    }


def ecny_payment(ctx: Context, w: World) -> str:
    """An approved e-CNY payment at terminal A (txn ``mx-ecny``): its order number."""
    from onecard.channels.ecny_sandbox import SandboxEcny
    from onecard.channels.factory import ecny_gateway as gateway
    from onecard.core.errors import Conflict
    from onecard.pay import ecny

    sbx = gateway(ctx)
    assert isinstance(sbx, SandboxEcny)
    with contextlib.suppress(Conflict):  # the PostgreSQL store outlives one test
        sbx.open_wallet("W-mx", "矩阵", 10**6)
    req = PaymentRequest("mx-ecny", sbx.pay_code("W-mx"), amount_fen=500)
    got = ecny.pay(ctx, w.terminals["A"], req)
    assert got.status == "succeeded"
    return got.order_no


# --- how each route is asked --------------------------------------------------------------------
Body = Callable[[Targets, Caller], Any]


@dataclass
class Call:
    params: dict[str, Any] = field(default_factory=dict)  # path parameters overridden
    query: str = ""
    json: Body | None = None
    form: Body | None = None
    content: Body | None = None
    files: Body | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ok: frozenset[int] = frozenset()  # an admitted caller's answers besides 2xx/3xx
    order: int = 0  # writes run by order, then table order
    ends_session: bool = False  # the caller signs in again after it


def j(value: Any) -> Body:
    return lambda t, c: value


def roster_csv(t: Targets, c: Caller) -> bytes:
    """One new colleague in the caller's own unit (a dry run)."""
    code = {"A": "U001", "B": "U002", "C": "U003"}[c.home_unit]
    row = {"工号": f"MX{c.home_unit}1", "姓名": "新同事", "单位": code}
    return _csv(ROSTER_COLUMNS, row)


def info_csv(t: Targets, c: Caller) -> bytes:
    """The caller's own unit's line of the information table (a dry run)."""
    return _csv(UNIT_INFO_COLUMNS, {"单位名称": t["unit_names"][t.w.units[c.home_unit]]})


def _csv(columns: tuple[str, ...], row: dict[str, str]) -> bytes:
    return (",".join(columns) + "\n" + ",".join(row.get(k, "") for k in columns) + "\n").encode()


API = "/api/v1"
FACE = [0.08] * 128  # a face descriptor's shape (no one's face)


def PHOTO() -> tuple[str, bytes, str]:
    from faces.photos import astronaut, jpeg

    return ("me.jpg", jpeg(astronaut(), max_side=300), "image/jpeg")


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # a clean plate's photo
CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/bureau/partners"): Call(
        form=j({"client_id": "mx-new-partner", "name": "新合作方", "scope": "directory:read"})
    ),
    ("POST", "/bureau/partners/{client_id}/revoke"): Call(order=5),
    ("POST", "/login"): Call(form=j({"staff_no": "Sc1", "password": "wrong"}), ok=frozenset({401})),
    ("POST", "/logout"): Call(order=99, ends_session=True),
    ("POST", "/login/password"): Call(
        form=j({"current": "wrong", "new": "x", "confirm": "y"}), ok=frozenset({422})
    ),
    ("POST", "/login/totp"): Call(form=j({"code": "000000"})),
    ("POST", f"{API}/terminal/payments"): Call(
        json=lambda t, c: {"txn_id": "mx-new", "credential": t.w.cards["b1"], "amount_fen": 1}
    ),
    ("POST", f"{API}/terminal/payments/{{txn_id}}/reversal"): Call(order=5),
    # Offline terminals: a terminal not enrolled yet is a 409, past the rule.
    ("GET", f"{API}/terminal/offline/working-set"): Call(ok=frozenset({409})),
    ("POST", f"{API}/terminal/offline/key"): Call(json=j({"public_key": "ab" * 32})),
    ("POST", f"{API}/terminal/offline/uploads"): Call(
        json=j({"records": [{"record": {}, "body_hash": "0" * 64, "signature": "00" * 64}]}),
        ok=frozenset({409}),
    ),
    ("POST", f"{API}/payments/{{payment_id}}/refunds"): Call(
        json=j({"request_id": "mx-refund", "amount_fen": 1, "reason": "test"})
    ),
    ("POST", f"{API}/me/phone-lost"): Call(order=90, ends_session=True),
    ("POST", "/me/phone-lost"): Call(order=90, ends_session=True),
    ("POST", f"{API}/me/topups"): Call(json=j({"amount_fen": 100})),
    ("POST", f"{API}/me/topups/ecny"): Call(
        json=j({"pay_code": "0" + "1" * 18, "amount_fen": 100})
    ),
    ("POST", f"{API}/terminal/ecny/payments"): Call(
        json=j({"txn_id": "mx-ecny-new", "pay_code": "0" + "1" * 18, "amount_fen": 1})
    ),
    ("GET", f"{API}/terminal/ecny/payments/{{txn_id}}"): Call(params={"txn_id": "mx-ecny"}),
    ("POST", f"{API}/ecny/orders/{{order_no}}/refunds"): Call(
        json=j({"refund_no": "mx-ecny-refund", "amount_fen": 1, "reason": "test"})
    ),
    ("POST", f"{API}/me/withdrawals"): Call(json=j({"amount_fen": 100}), ok=frozenset({409})),
    ("POST", f"{API}/me/cards/{{card_no}}/lost"): Call(order=1),
    ("POST", f"{API}/me/cards/{{card_no}}/unfreeze"): Call(order=2),
    ("POST", "/me/cards/{card_no}/lost"): Call(order=3),
    ("POST", "/me/cards/{card_no}/unfreeze"): Call(order=4),
    ("POST", "/me/rate/{payment_id}"): Call(
        form=j({"taste": 5, "hygiene": 5, "service": 5, "value": 5})
    ),
    ("POST", "/me/topup"): Call(form=j({"amount": "1.00"})),
    ("POST", f"{API}/terminal/face-payments"): Call(
        json=j({"txn_id": "mx-face", "liveness": True, "descriptor": FACE, "amount_fen": 1})
    ),
    ("POST", "/me/face"): Call(form=j({"consent": "yes"}), files=lambda t, c: {"photo": PHOTO()}),
    ("PUT", f"{API}/people/{{person_id}}/face"): Call(
        json=j({"consent": True, "descriptor": FACE})
    ),
    ("PUT", f"{API}/admin/terminals/{{code}}/face"): Call(
        params={"code": "T-A8"}, json=j({"liveness": True})
    ),
    ("POST", f"{API}/admin/people/{{person_id}}/cards"): Call(
        params={"person_id": "a3"}, json=j({})
    ),
    ("POST", f"{API}/admin/cards/{{card_no}}/lost"): Call(order=6),
    ("POST", f"{API}/admin/cards/{{card_no}}/unfreeze"): Call(order=7),
    ("POST", f"{API}/admin/cards/{{card_no}}/replace"): Call(
        params={"card_no": "card:a2"}, json=j({})
    ),
    ("POST", f"{API}/admin/cards/{{card_no}}/cancel"): Call(order=20),
    ("POST", f"{API}/admin/people/{{person_id}}/paycode/rotate"): Call(json=j({})),
    ("POST", f"{API}/admin/terminals"): Call(
        json=lambda t, c: {"canteen_id": t["canteen_id"], "code": "T-MX1"}
    ),
    ("POST", f"{API}/admin/terminals/{{code}}/revoke"): Call(params={"code": "T-A9"}),
    ("PUT", f"{API}/admin/canteens/{{canteen_id}}/rules"): Call(
        json=j({"serves_visitors": True, "serves_guests": True, "purse_order": "subsidy_first"})
    ),
    ("PUT", f"{API}/admin/canteens/{{canteen_id}}/meal-periods/{{code}}"): Call(
        params={"code": "lunch"},
        json=j(
            {
                "name": "午餐",
                "starts": "11:30:00",
                "ends": "13:30:00",
                "per_person_limit": 0,
                "prices": {"own": 300, "visitor": 500, "guest": 800},
            }
        ),
    ),
    ("POST", f"{API}/funding/notices"): Call(json=j({"quarter": "2026Q1", "dry_run": True})),
    ("POST", f"{API}/funding/receipts"): Call(json=j({"day": "2026-03-10", "dry_run": True})),
    ("POST", f"{API}/funding/receipts/{{bank_serial}}/assign"): Call(
        json=lambda t, c: {"unit_id": t["unit_id"]}
    ),
    ("POST", f"{API}/funding/transfers"): Call(json=j({"dry_run": True})),
    ("POST", f"{API}/funding/distributions"): Call(json=j({"quarter": "2026Q1", "dry_run": True})),
    ("POST", f"{API}/funding/people/{{person_id}}/leave"): Call(
        params={"person_id": "a4"}, json=j({}), order=10
    ),
    ("POST", f"{API}/funding/people/{{person_id}}/cash-refund"): Call(
        params={"person_id": "a4"}, json=j({"dry_run": True}), order=11
    ),
    ("PUT", f"{API}/funding/canteens/{{canteen_id}}/quality-rule"): Call(
        json=j({"bands": [{"min_score": 0, "share_bp": 10000}]})
    ),
    ("PUT", f"{API}/funding/canteens/{{canteen_id}}/scores/{{quarter}}"): Call(
        json=j({"score": 90})
    ),
    ("POST", f"{API}/funding/settlements"): Call(json=j({"quarter": "2026Q1", "dry_run": True})),
    ("POST", f"{API}/funding/year-end"): Call(json=j({"year": 2025, "dry_run": True})),
    ("POST", f"{API}/funding/returns"): Call(json=j({"dry_run": True})),
    # The top region always keeps its own fund: admitted, then refused as a conflict.
    ("POST", f"{API}/funding/region-funds"): Call(
        json=j({"region": "431000", "own": True}), ok=frozenset({409})
    ),
    ("POST", f"{API}/funding/reconciliations"): Call(json=j({"day": "2026-03-10"})),
    ("GET", f"{API}/funding/roster/template"): Call(query="unit_id={unit_id}"),
    ("POST", f"{API}/funding/unit-info/import"): Call(
        query="dry_run=true&filename=i.csv", content=info_csv, headers={"Content-Type": "text/csv"}
    ),
    ("POST", f"{API}/funding/roster/import"): Call(
        query="dry_run=true&filename=r.csv",
        content=roster_csv,
        headers={"Content-Type": "text/csv"},
    ),
    ("GET", "/till"): Call(query="canteen_id={canteen_id}"),
    ("GET", "/till/ratings"): Call(query="canteen_id={canteen_id}"),
    ("GET", "/till/report"): Call(query="canteen_id={canteen_id}"),
    ("GET", "/till/forecast"): Call(query="canteen_id={canteen_id}"),
    ("POST", "/till/pay"): Call(
        form=lambda t, c: {
            "canteen_id": t["canteen_id"],
            "credential": t.w.cards["b1"],
            "mode": "amount",
            "amount": "0.01",
        }
    ),
    ("POST", "/till/reverse"): Call(form=lambda t, c: {"canteen_id": t["canteen_id"]}),
    ("POST", "/till/ecny/check"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "txn_id": "web-none"}
    ),
    ("GET", "/till/ecny/payments"): Call(query="canteen_id={canteen_id}"),
    ("POST", "/till/ecny/refund"): Call(
        form=lambda t, c: {
            "canteen_id": t["canteen_id"],
            "order_no": "E-none",
            "request_id": "R-till-mx",
            "amount": "1.00",
        },
        ok=(200, 404),
    ),
    ("POST", "/till/ecny/refund/check"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "refund_no": "R-none"}, ok=(200, 404)
    ),
    # Without the cashier's attestation: admitted, then refused on the page (nothing written).
    ("POST", "/till/face"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "mode": "amount", "amount": "0.01"},
        ok=frozenset({422}),
    ),
    ("POST", "/unit/{unit_id}/canteens/{canteen_id}/rules"): Call(
        form=j({"purse_order": "subsidy_first", "serves_visitors": "true"})
    ),
    ("POST", "/unit/{unit_id}/canteens/{canteen_id}/periods"): Call(
        form=j(
            {
                "code": "dinner",
                "name": "晚餐",
                "starts": "17:30",
                "ends": "19:30",
                "own": "3",
                "visitor": "5",
                "guest": "8",
            }
        )
    ),
    ("POST", "/unit/{unit_id}/quality"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "quarter": "2026Q1", "score": 88}
    ),
    ("POST", "/unit/{unit_id}/quality/bands"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "bands": "0:100"}
    ),
    ("POST", "/unit/{unit_id}/import"): Call(
        form=lambda t, c: {
            "confirm": "",
            "payload": base64.b64encode(roster_csv(t, c)).decode(),
            "filename": "r.csv",
        }
    ),
    ("POST", "/unit/{unit_id}/people/{person_id}/cards"): Call(
        params={"person_id": "a6"}, form=lambda t, c: {"action": "lost", "card_no": t.w.cards["a6"]}
    ),
    ("POST", "/unit/{unit_id}/people/{person_id}/paycode"): Call(form=j({"action": "rotate"})),
    ("POST", "/unit/{unit_id}/people/{person_id}/leave"): Call(params={"person_id": "a5"}),
    ("POST", "/unit/{unit_id}/people/{person_id}/face"): Call(
        form=j({"consent": "paper"}), files=lambda t, c: {"photo": PHOTO()}
    ),
    ("POST", "/bureau/canteens/{canteen_id}/rollout"): Call(form=j({"status": "live"})),
    ("POST", "/bureau/terminals"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "code": "T-MX2"}
    ),
    ("POST", "/bureau/terminals/{code}/revoke"): Call(params={"code": "T-A8"}),
    ("POST", "/bureau/receipts/{bank_serial}/assign"): Call(
        form=lambda t, c: {"unit_id": t["unit_id"], "quarter": "2026Q1"}
    ),
    ("POST", "/bureau/runs/{kind}"): Call(form=j({"quarter": "2026Q1"})),
    ("POST", "/bureau/reconciliation"): Call(form=j({"day": "2026-03-10"})),
    ("POST", "/bureau/ecny/reconcile"): Call(form=j({"day": "2026-03-10"})),
    ("POST", "/bureau/ecny/refund"): Call(
        form=j({"order_no": "E-none", "refund_no": "R-mx", "amount": "1.00"}), ok=(200, 404)
    ),
    ("POST", "/bureau/ecny/check"): Call(form=j({"order_no": "E-none"}), ok=(200, 404)),
    ("POST", "/bureau/ecny/refund/check"): Call(form=j({"refund_no": "R-none"}), ok=(200, 404)),
    ("POST", "/bureau/reconciliation/statement"): Call(
        files=lambda t, c: {"file": ("statement.csv", t["statement"], "text/csv")}
    ),
    ("POST", "/bureau/reconciliation/assign"): Call(
        form=lambda t, c: {"serial": t["bank_serial"], "notice_id": t["notice_id"]}
    ),
    # The batch and return files need the bank's file exchange (ONECARD_BANK=files); here it
    # is the direct sandbox, so an admitted caller hears 409 not_file_exchange.
    ("POST", "/bureau/reconciliation/batch"): Call(
        form=j({"kind": "transfers", "fmt": "csv"}), ok=frozenset({409})
    ),
    ("POST", "/bureau/reconciliation/returns"): Call(
        files=lambda t, c: {"file": ("returns.csv", b"x", "text/csv")}, ok=frozenset({409})
    ),
    ("GET", "/bureau/reconciliation/sandbox-statement"): Call(query="day=2026-03-10"),
    ("POST", f"{API}/funding/bank/statements/import"): Call(
        query="filename=statement.csv",
        content=lambda t, c: t["statement"],
        headers={"Content-Type": "text/csv"},
    ),
    ("POST", f"{API}/funding/bank/returns/import"): Call(
        query="filename=returns.csv",
        content=j(b"x"),
        headers={"Content-Type": "text/csv"},
        ok=frozenset({409}),
    ),
    ("POST", f"{API}/funding/bank/batches"): Call(
        json=j({"kind": "transfers", "format": "csv"}), ok=frozenset({409})
    ),
    ("POST", "/me/security/sign-out-everywhere"): Call(order=98, ends_session=True),
    # --- organisation ---
    ("POST", f"{API}/org/regions"): Call(
        json=lambda t, c: {
            "code": "431097",
            "name": "新区",
            "level": "county",
            "parent_id": t.w.region,
        }
    ),
    ("PATCH", f"{API}/org/regions/{{region_id}}"): Call(json=j({"name": "改名乡"})),
    ("POST", f"{API}/org/regions/{{region_id}}/retire"): Call(
        params={"region_id": "id:region:retire"}, order=30
    ),
    ("POST", f"{API}/org/units"): Call(
        json=lambda t, c: {"code": "U901", "name": "新单位", "region_id": t.w.region}
    ),
    ("PATCH", f"{API}/org/units/{{unit_id}}"): Call(json=j({"contact": "张三"})),
    # Unit A still has people and money: an admitted caller hears 409 retire_refused.
    ("POST", f"{API}/org/units/{{unit_id}}/retire"): Call(ok=frozenset({409})),
    ("GET", f"{API}/org/canteens"): Call(query="unit_id={unit_id}"),
    ("POST", f"{API}/org/canteens"): Call(
        json=lambda t, c: {"code": "C901", "name": "新食堂", "unit_id": t["unit_id"]}
    ),
    ("PATCH", f"{API}/org/canteens/{{canteen_id}}"): Call(json=j({"opening_hours": "7-19"})),
    ("POST", f"{API}/org/canteens/{{canteen_id}}/retire"): Call(ok=frozenset({409})),
    ("GET", f"{API}/org/admins"): Call(query="unit_id={unit_id}"),
    ("POST", f"{API}/org/admins"): Call(
        json=lambda t, c: {"staff_no": "Sa2", "role": "unit_admin", "unit_id": t["unit_id"]},
        order=12,
    ),
    ("POST", f"{API}/org/grants/{{grant_id}}/revoke"): Call(params={"grant_id": "id:grant:api"}),
    ("POST", f"{API}/org/info-table/import"): Call(
        query="dry_run=true&filename=i.csv", content=info_csv, headers={"Content-Type": "text/csv"}
    ),
    ("POST", "/unit/{unit_id}/org"): Call(form=j({"contact": "李四"})),
    ("POST", "/unit/{unit_id}/org/canteens/{canteen_id}"): Call(form=j({"opening_hours": "7-20"})),
    ("POST", "/unit/{unit_id}/org/admins"): Call(
        form=lambda t, c: {"staff_no": "Sa3", "role": "unit_admin", "unit_id": t["unit_id"]}
    ),
    ("POST", "/unit/{unit_id}/org/grants/{grant_id}/revoke"): Call(
        params={"grant_id": "id:grant:unit"}
    ),
    ("POST", "/bureau/org/regions"): Call(
        form=lambda t, c: {
            "code": "431096",
            "name": "又一区",
            "level": "county",
            "parent_id": t.w.region,
        }
    ),
    ("POST", "/bureau/org/regions/{region_id}"): Call(form=j({"name": "再改名乡"})),
    ("POST", "/bureau/org/regions/{region_id}/retire"): Call(
        params={"region_id": "id:region:retire"}, ok=frozenset({409}), order=31
    ),
    ("POST", "/bureau/org/units"): Call(
        form=lambda t, c: {"code": "U902", "name": "又一单位", "region_id": t.w.region}
    ),
    ("POST", "/bureau/org/units/{unit_id}"): Call(form=j({"contact": "王五"})),
    ("POST", "/bureau/org/units/{unit_id}/retire"): Call(ok=frozenset({409})),
    ("POST", "/bureau/org/units/{unit_id}/canteens"): Call(
        form=j({"code": "C902", "name": "又一食堂"})
    ),
    ("POST", "/bureau/org/units/{unit_id}/admins"): Call(
        form=lambda t, c: {
            "staff_no": "MXN1",
            "name": "新管理员",
            "role": "unit_admin",
            "unit_id": t["unit_id"],
        }
    ),
    ("POST", "/bureau/org/units/{unit_id}/grants/{grant_id}/revoke"): Call(
        params={"grant_id": "id:grant:bureau"}
    ),
    ("POST", "/bureau/org/canteens/{canteen_id}"): Call(form=j({"opening_hours": "8-18"})),
    ("POST", "/bureau/org/canteens/{canteen_id}/retire"): Call(ok=frozenset({409})),
    ("POST", "/bureau/org/admins"): Call(
        form=lambda t, c: {
            "staff_no": "MXN2",
            "name": "又一管理员",
            "role": "unit_admin",
            "unit_id": t["unit_id"],
        }
    ),
    ("POST", "/bureau/org/grants/{grant_id}/revoke"): Call(
        params={"grant_id": "id:grant:admins-page"}
    ),
    ("POST", "/bureau/org/import"): Call(
        form=lambda t, c: {
            "payload": base64.b64encode(info_csv(t, c)).decode(),
            "filename": "i.csv",
        }
    ),
    ("POST", "/unit/{unit_id}/people/{person_id}/sessions/end"): Call(params={"person_id": "a3"}),
    # --- accounts: a wrong activation is the public's 401; a3 (no caller) is reset ---
    ("POST", "/activate"): Call(
        form=j({"login": "Sa3", "code": "WRONG-CODE1", "new": "Abcdefg12", "confirm": "Abcdefg12"}),
        ok=frozenset({401}),
    ),
    ("POST", f"{API}/accounts/activate"): Call(
        json=j({"login": "Sa3", "code": "WRONG-CODE1", "password": "Abcdefg12"}),
        ok=frozenset({401}),
    ),
    ("POST", "/unit/{unit_id}/people/{person_id}/activation-code"): Call(
        params={"person_id": "a3"}
    ),
    ("POST", "/unit/{unit_id}/people/{person_id}/reset"): Call(params={"person_id": "a3"}),
    ("POST", "/unit/{unit_id}/people/{person_id}/unlock"): Call(params={"person_id": "a3"}),
    ("POST", "/unit/{unit_id}/activation-codes"): Call(form=j({"format": "sheet"})),
    ("POST", f"{API}/admin/people/{{person_id}}/activation-code"): Call(params={"person_id": "a3"}),
    ("POST", f"{API}/admin/people/{{person_id}}/reset"): Call(params={"person_id": "a3"}),
    ("POST", f"{API}/admin/people/{{person_id}}/unlock"): Call(params={"person_id": "a3"}),
    ("POST", f"{API}/admin/units/{{unit_id}}/activation-codes"): Call(json=j({})),
    ("GET", f"{API}/funding/statements/canteens/{{canteen_id}}/{{quarter}}"): Call(
        params={"quarter": "2025Q4"}
    ),
    ("GET", "/bureau/settlements/{canteen_id}.{fmt}"): Call(query="quarter=2025Q4"),
    # --- rollout: the planned terminal T-MXAPI goes install → accept → live → revoke in
    # table order; the page moves T-MXPAGE; canteen A is already live (going live again
    # changes nothing); each acknowledgement has its own notice to unit A.
    ("POST", f"{API}/rollout/canteens/{{canteen_id}}/inspections"): Call(
        json=j({"inspected_on": "2026-01-05", "items": [{"item": "刷卡", "passed": True}]})
    ),
    ("POST", f"{API}/rollout/notices"): Call(
        json=lambda t, c: {"unit_id": t["unit_id"], "kind": "urge", "text": "请加快发卡"}
    ),
    ("POST", f"{API}/rollout/units/{{unit_id}}/notices/{{notice_id}}/acknowledge"): Call(
        params={"notice_id": "id:rollout_notice:api"}
    ),
    ("POST", "/bureau/rollout/notices"): Call(
        form=lambda t, c: {"unit_id": t["unit_id"], "kind": "praise", "text": "进度领先"}
    ),
    ("POST", "/bureau/rollout/canteens/{canteen_id}/terminals/{terminal_id}/{move}"): Call(
        params={"terminal_id": "id:terminal:page", "move": "installed"}
    ),
    ("POST", "/bureau/rollout/canteens/{canteen_id}/inspections"): Call(
        form=j({"inspected_on": "2026-01-05", "item": ["刷卡"], "passed": ["0"]})
    ),
    # The catalogue: goods at or under the reference, stock in, a file previewed.
    ("PUT", f"{API}/catalogue/canteens/{{canteen_id}}/dishes/{{sku}}"): Call(
        json=j({"name": "红烧肉", "price_fen": 800})
    ),
    ("PUT", f"{API}/catalogue/canteens/{{canteen_id}}/goods/{{sku}}"): Call(
        params={"sku": "G1"}, json=j({"name": "矿泉水", "price_fen": 150, "barcode": WATER})
    ),
    ("POST", f"{API}/catalogue/goods/{{item_id}}/stock"): Call(json=j({"kind": "in", "qty": 1})),
    ("POST", f"{API}/catalogue/reference-prices"): Call(
        json=j({"valid_from": "2026-03-01", "prices": [{"name": "牛奶", "price_fen": 300}]})
    ),
    ("POST", f"{API}/catalogue/reference-prices/import"): Call(
        query="valid_from=2026-03-01", content=j("商品名称,参考价（元）\n牛奶,3\n".encode())
    ),
    ("GET", f"{API}/catalogue/over-reference"): Call(query="canteen_id={canteen_id}"),
    ("PUT", f"{API}/catalogue/units/{{unit_id}}/shop-rule"): Call(
        json=j({"goods_from_subsidy": False})
    ),
    ("POST", "/shop/canteens/{canteen_id}/dishes"): Call(
        form=j({"sku": "MXP", "name": "番茄炒蛋", "price": "6"})
    ),
    ("POST", "/shop/canteens/{canteen_id}/goods"): Call(
        form=j({"sku": "G1", "name": "矿泉水", "price": "1.6", "barcode": WATER})
    ),
    ("POST", "/shop/goods/{item_id}/stock"): Call(form=j({"kind": "in", "qty": "1"})),
    ("POST", "/bureau/shop/references"): Call(
        form=j({"name": "牛奶", "price": "3", "valid_from": "2026-03-01"})
    ),
    ("POST", "/bureau/shop/import"): Call(
        form=j({"valid_from": "2026-03-01"}),
        files=lambda t, c: {"file": ("r.csv", "商品名称,参考价（元）\n牛奶,3\n".encode())},
    ),
    ("POST", "/unit/{unit_id}/rollout/notices/{notice_id}/ack"): Call(
        params={"notice_id": "id:rollout_notice:page"}
    ),
    # --- community canteens: the API decides March's claim, the pages February's ----------
    ("PUT", f"{API}/community/rules"): Call(json=j({"daily_cap_fen": 3000, "note": "mx"})),
    ("POST", f"{API}/community/residents"): Call(
        json=lambda t, c: {
            "region_id": t.w.region,
            "name": "新居民",
            "id_number": "11010519491231002X",
        }
    ),
    ("POST", f"{API}/community/residents/{{resident_id}}/topups"): Call(
        json=j({"amount_fen": 100, "key": "mx-api"})
    ),
    ("POST", f"{API}/community/canteens"): Call(
        json=lambda t, c: {
            "region_id": t.w.region,
            "code": "MX-CC2",
            "name": "又一社区食堂",
            "operator": "运营方",
            "address": "社区",
        }
    ),
    ("PUT", f"{API}/community/canteens/{{cc_id}}/dishes"): Call(
        json=j({"name": "爱心餐", "price_fen": 800, "love": True})
    ),
    ("POST", f"{API}/community/canteens/{{cc_id}}/meals"): Call(
        json=lambda t, c: {"resident_id": t["resident_id"], "dish_id": t["dish_id"], "txn_id": "m"}
    ),
    ("POST", f"{API}/community/canteens/{{cc_id}}/claims"): Call(json=j({"month": "2026-03"})),
    ("POST", f"{API}/community/canteens/{{cc_id}}/ratings"): Call(
        json=j({"year": 2025, "satisfaction_pct": 90})
    ),
    ("POST", f"{API}/community/claims/lines/{{line_id}}"): Call(json=j({"approve": True})),
    ("POST", f"{API}/community/claims/{{claim_id}}/approve"): Call(order=10),
    # --- cross-region dining: the city accepts, suspends, resumes, ends; the county
    # confirms the statement the city confirmed, then it is booked (nothing owed).
    ("POST", f"{API}/interregion/agreements"): Call(
        json=lambda t, c: {
            "side": "home",
            "home_region_id": t["county"],
            "host_region_id": t.w.region,
            "price_class": "own",
            "purse": "subsidy",
            "valid_from": "2026-01-01",
            "host_account_no": "1",
            "host_account_name": "市",
        }
    ),
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/accept"): Call(
        json=j({"side": "host"}), order=1
    ),
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/suspend"): Call(
        json=j({"side": "home"}), order=2
    ),
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/resume"): Call(
        json=j({"side": "host"}), order=3
    ),
    ("POST", f"{API}/interregion/agreements/{{agreement_id}}/end"): Call(
        json=j({"side": "home"}), order=4
    ),
    ("POST", f"{API}/interregion/statements"): Call(
        json=lambda t, c: {
            "home_region_id": t["county"],
            "host_region_id": t.w.region,
            "quarter": "2026Q1",
        }
    ),
    ("POST", f"{API}/interregion/statements/{{statement_id}}/confirm"): Call(
        json=j({"side": "home"}), order=5
    ),
    ("POST", f"{API}/interregion/statements/{{statement_id}}/book"): Call(order=6),
    ("GET", "/bureau/interregion/statements/{statement_id}.xlsx"): Call(
        params={"statement_id": "id:statement:page"}
    ),
    ("POST", "/bureau/interregion/agreements"): Call(
        form=lambda t, c: {
            "side": "home",
            "own_region_id": t["county"],
            "other_region_id": t.w.region,
            "price_class": "own",
            "purse": "subsidy",
            "valid_from": "2026-01-01",
            "host_account_no": "1",
            "host_account_name": "市",
        }
    ),
    ("POST", "/bureau/interregion/agreements/{agreement_id}/{action}"): Call(
        params={"agreement_id": "id:agreement:page", "action": "accept"},
        form=j({"side": "host"}),
        order=1,
    ),
    ("POST", "/bureau/interregion/statements"): Call(
        form=lambda t, c: {"pair": f"{t['county']}-{t.w.region}", "quarter": "2026Q1"}
    ),
    ("POST", "/bureau/interregion/statements/{statement_id}/confirm"): Call(
        params={"statement_id": "id:statement:page"}, form=j({"side": "home"}), order=5
    ),
    ("POST", "/bureau/interregion/statements/{statement_id}/book"): Call(
        params={"statement_id": "id:statement:page"}, order=6
    ),
    ("POST", "/bureau/community/claims"): Call(
        form=lambda t, c: {"canteen_id": t["cc_id"], "month": "2026-02"}
    ),
    ("GET", "/bureau/community/claims/{claim_id}"): Call(params={"claim_id": "id:claim:page"}),
    ("POST", "/bureau/community/claims/{claim_id}/lines/{line_id}"): Call(
        params={"claim_id": "id:claim:page", "line_id": "id:line:page"},
        form=j({"decision": "reject", "reason": "核对不符"}),
    ),
    ("POST", "/bureau/community/claims/{claim_id}/approve"): Call(
        params={"claim_id": "id:claim:page"}, order=10
    ),
    # --- waste supervision: weights replace each other; each caller checks in once.
    ("POST", f"{API}/waste/canteens/{{canteen_id}}/inspections"): Call(
        json=j({"inspected_on": "2026-03-01", "meal": "lunch", "leftover_kg": 3.5})
    ),
    ("POST", f"{API}/waste/canteens/{{canteen_id}}/weights"): Call(
        json=j({"day": "2026-03-01", "meal": "lunch", "leftover_kg": "2.25"})
    ),
    ("POST", f"{API}/me/clean-plates"): Call(
        json=j({"meal": "lunch", "photo_base64": base64.b64encode(PNG).decode()})
    ),
    ("POST", f"{API}/waste/notices"): Call(
        json=lambda t, c: {"canteen_id": t["canteen_id"], "text": "晚餐剩余过多"}
    ),
    ("POST", f"{API}/waste/notices/{{notice_id}}/acknowledge"): Call(
        params={"notice_id": "id:waste_notice:api"}
    ),
    ("POST", "/unit/{unit_id}/waste/notices/{notice_id}/ack"): Call(
        params={"notice_id": "id:waste_notice:page"}
    ),
    ("POST", "/bureau/waste/notices"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "text": "早餐剩余过多"}
    ),
    ("POST", "/unit/{unit_id}/waste/weights"): Call(
        form=lambda t, c: {
            "canteen_id": t["canteen_id"],
            "day": "2026-03-02",
            "meal": "lunch",
            "leftover_kg": "1.5",
        }
    ),
    ("POST", "/unit/{unit_id}/waste/score"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "quarter": "2026Q1", "assessed": 88}
    ),
    ("POST", "/waste/canteens/{canteen_id}/weights"): Call(
        form=lambda t, c: {"day": "2026-03-04", "meal": "lunch", "leftover_kg": "2"}
    ),
    ("POST", "/waste/inspections"): Call(
        form=lambda t, c: {
            "canteen_id": t["canteen_id"],
            "day": "2026-03-03",
            "meal": "lunch",
            "leftover_kg": "4",
        }
    ),
    ("POST", "/me/clean-plate"): Call(
        files=j({"meal": (None, "dinner"), "photo": ("plate.png", PNG, "image/png")})
    ),
    # --- dish ratings: the target meal has no dish lines (the item is a good): 422.
    ("POST", f"{API}/me/meals/{{payment_id}}/dishes/{{item_id}}/rating"): Call(
        json=j({"stars": 4}), ok=frozenset({422})
    ),
    ("POST", "/me/meals/{payment_id}/dishes/{item_id}"): Call(
        form=j({"stars": "4"}), ok=frozenset({422})
    ),
    ("POST", f"{API}/waste/canteens/{{canteen_id}}/quality-score"): Call(
        json=j({"quarter": "2026Q1", "assessed": 90})
    ),
    # --- menus and pre-orders: dinner tomorrow at canteen A, paid at pick-up -------------
    ("PUT", f"{API}/menus/canteens/{{canteen_id}}/days/{{day}}/{{meal}}"): Call(
        params={"day": "2026-03-12", "meal": "lunch"}, json=j({"skus": ["MXD"]})
    ),
    ("PUT", f"{API}/menus/canteens/{{canteen_id}}/rule"): Call(
        json=j({"cutoff": "18:00", "no_show": "release"})
    ),
    ("GET", f"{API}/menus/canteens/{{canteen_id}}/counts"): Call(query="day=2026-03-11"),
    ("POST", f"{API}/me/preorders"): Call(
        json=lambda t, c: {
            "request_id": "mx-api",
            "canteen_id": t["canteen_id"],
            "day": "2026-03-11",
            "meal": "dinner",
            "pay_mode": "at_pickup",
            "lines": [{"sku": "MXD", "qty": 1}],
        }
    ),
    # Nobody has a pre-order today: an admitted terminal hears 404.
    ("POST", f"{API}/terminal/preorders/pickup"): Call(
        json=lambda t, c: {"txn_id": "mx-pick", "credential": t.w.cards["a1"]},
        ok=frozenset({404}),
    ),
    ("GET", "/till/preorders"): Call(query="canteen_id={canteen_id}"),
    ("GET", "/till/preorders.xlsx"): Call(query="canteen_id={canteen_id}"),
    ("POST", "/me/menu/preorder"): Call(
        form=lambda t, c: {
            "canteen_id": t["canteen_id"],
            "day": "2026-03-11",
            "meal": "dinner",
            "request_id": "mx-page",
            "pay_mode": "at_pickup",
            "sku": "MXD",
            "qty": "1",
        }
    ),
    ("GET", "/till/menu"): Call(query="canteen_id={canteen_id}"),
    ("POST", "/till/menu"): Call(
        form=lambda t, c: {
            "canteen_id": t["canteen_id"],
            "day": "2026-03-12",
            "meal": "dinner",
            "sku": "MXD",
        }
    ),
    ("POST", "/till/menu/rule"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "cutoff": "18:00", "no_show": "release"}
    ),
    ("POST", "/till/pickup"): Call(
        form=lambda t, c: {"canteen_id": t["canteen_id"], "credential": t.w.cards["a1"]}
    ),
    # --- purchasing and traceability: each admitted caller adds its own rows.
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/ingredients"): Call(
        json=lambda t, c: {"name": f"食材{c.name}", "unit": "kg", "grams_per_unit": 1000}
    ),
    ("PUT", f"{API}/sourcing/canteens/{{canteen_id}}/recipes/{{dish_id}}"): Call(
        params={"dish_id": "id:sourcing_dish"},
        json=lambda t, c: {"lines": [{"ingredient_id": t["sourcing_ingredient"], "grams": 120}]},
    ),
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/suppliers"): Call(
        json=j({"name": "供应商", "licence_no": "JY0000000003"})
    ),
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/batches"): Call(
        json=lambda t, c: {
            "ingredient_id": t["sourcing_ingredient"],
            "supplier_id": t["sourcing_supplier"],
            "batch_no": "MX-API",
            "received_on": "2026-03-10",
            "quantity": "5",
            "unit_cost_fen": 100,
            "inspection": "pass",
        }
    ),
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/uses"): Call(
        json=lambda t, c: {
            "day": "2026-03-10",
            "meal": "lunch",
            "dish_id": t["sourcing_dish"],
            "batch_id": t["batch_id"],
            "quantity": "1",
        }
    ),
    ("POST", f"{API}/sourcing/canteens/{{canteen_id}}/purchase-list"): Call(
        json=lambda t, c: {
            "day": "2026-03-11",
            "plan": [{"dish_id": t["sourcing_dish"], "meal": "lunch", "portions": 10}],
        }
    ),
    ("GET", f"{API}/sourcing/canteens/{{canteen_id}}/meal-trace"): Call(
        query="day=2026-03-10&meal=lunch"
    ),
    ("GET", f"{API}/sourcing/canteens/{{canteen_id}}/meal-trace.xlsx"): Call(
        query="day=2026-03-10&meal=lunch"
    ),
    ("GET", "/bureau/sourcing/meal"): Call(query="canteen_id={canteen_id}&day=2026-03-10"),
    ("POST", "/sourcing/canteens/{canteen_id}/ingredients"): Call(
        form=lambda t, c: {"name": f"页面食材{c.name}", "unit": "kg", "grams_per_unit": "1000"}
    ),
    ("POST", "/sourcing/canteens/{canteen_id}/recipes"): Call(
        form=lambda t, c: {
            "dish_id": t["sourcing_dish"],
            "ingredient_id": t["sourcing_ingredient"],
            "grams": "90",
        }
    ),
    ("POST", "/sourcing/canteens/{canteen_id}/suppliers"): Call(
        form=lambda t, c: {"name": "页面供应商", "licence_no": "JY0000000002"}
    ),
    ("POST", "/sourcing/canteens/{canteen_id}/batches"): Call(
        form=lambda t, c: {
            "ingredient_id": t["sourcing_ingredient"],
            "supplier_id": t["sourcing_supplier"],
            "batch_no": "MX-PAGE",
            "received_on": "2026-03-10",
            "quantity": "5",
            "unit_cost": "1.00",
            "inspection": "pass",
        }
    ),
    ("POST", "/sourcing/canteens/{canteen_id}/uses"): Call(
        form=lambda t, c: {
            "day": "2026-03-10",
            "meal": "lunch",
            "dish_id": t["sourcing_dish"],
            "batch_id": t["batch_id"],
            "quantity": "1",
        }
    ),
    # --- surveys: each caller closes and answers its own copy of a survey once.
    ("POST", f"{API}/surveys"): Call(
        json=lambda t, c: {
            "title": "新问卷",
            "starts_on": "2026-03-10",
            "ends_on": "2026-03-20",
            "canteen_ids": [t["canteen_id"]],
            "questions": [{"kind": "stars", "text": "满意度"}],
        }
    ),
    ("POST", "/surveys"): Call(
        form=lambda t, c: {
            "title": "新问卷",
            "starts_on": "2026-03-10",
            "ends_on": "2026-03-20",
            "canteen_id": str(t["canteen_id"]),
            "q1_kind": "stars",
            "q1_text": "满意度",
            "q1_required": "1",
        }
    ),
    ("POST", f"{API}/surveys/{{survey_id}}/close"): Call(params={"survey_id": "id:survey:api"}),
    ("POST", "/surveys/{survey_id}/close"): Call(params={"survey_id": "id:survey:page"}),
    ("POST", f"{API}/me/surveys/{{survey_id}}/responses"): Call(
        params={"survey_id": "id:survey:answer-api"},
        json=lambda t, c: {
            "canteen_id": t["canteen_id"],
            "answers": [{"question_id": t["q:answer-api"], "value": 5}],
        },
    ),
    ("POST", "/me/surveys/{survey_id}"): Call(
        params={"survey_id": "id:survey:answer-page"},
        form=lambda t, c: {"canteen_id": str(t["canteen_id"]), f"q{t['q:answer-page']}": "4"},
    ),
}
STATIC_FILE = "/static/vendor/htmx.min.js"


def concrete(t: Targets, method: str, path: str, call: Call) -> str:
    values: dict[str, Any] = {k: v for k, v in t.ids.items() if not isinstance(v, dict)}
    for k, v in call.params.items():
        if isinstance(v, str) and v.startswith("card:"):
            values[k] = t.w.cards[v[5:]]
        elif isinstance(v, str) and v.startswith("id:"):
            values[k] = t.ids[v[3:]]
        elif k == "person_id" and isinstance(v, str):
            values[k] = t.w.people[v]
        else:
            values[k] = v
    if path == "/static":
        return STATIC_FILE
    url = path.format(**values)
    if call.query:
        url += "?" + call.query.format(**values)
    return url


EXTRA = APIRouter()


@EXTRA.get("/api/v1/undeclared")
def _undeclared(actor: ActorDep) -> dict[str, str]:
    return {"ok": "yes"}


# --- the tests --------------------------------------------------------------------------------
def test_every_route_has_a_declared_rule(ctx: Context) -> None:
    app = create_app(ctx)
    served = {(m, p) for m, p, _ in permissions.app_routes(app)}
    missing = sorted(served - set(RULES))
    assert not missing, f"routes without a rule in web/permissions.py RULES: {missing}"
    stale = sorted(set(RULES) - served)
    assert not stale, f"rules for routes that do not exist: {stale}"


def test_an_undeclared_route_is_refused_to_everyone(ctx: Context) -> None:
    """A route added without a rule is closed (403), even to the bureau, and the
    enumeration names it."""
    app = create_app(ctx)
    app.include_router(EXTRA)
    permissions.install(app)
    assert ("GET", "/api/v1/undeclared") in permissions.undeclared(app)
    w = build_world(ctx)
    staff = add_staff(ctx, w)
    with TestClient(app) as client:
        sign_in(client, ctx, staff["bu"])
        assert client.get("/api/v1/undeclared").status_code == 403
        assert client.get("/api/v1/funding/audit").status_code == 200


def test_the_docs_show_the_table() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert permissions.markdown() in doc, (
        "docs/api.md's permission table differs: paste `python -m onecard.web.permissions`"
    )


def partner_signed(
    t: Targets, ctx: Context, n: int, method: str, url: str, kw: dict[str, Any]
) -> None:
    """Sign the request as the partner system (``partners.signing``): over the exact body
    where the matrix sends JSON or raw content (a form is encoded by the client: signed
    over no body — no route taking a form admits a partner, and none checks the
    signature but the partner routes)."""
    import json as jsonlib
    from datetime import UTC

    from onecard.partners import signing

    if "json" in kw:
        kw["content"] = jsonlib.dumps(kw.pop("json"), ensure_ascii=False).encode()
        kw["headers"]["Content-Type"] = "application/json"
    body = kw["content"] if isinstance(kw.get("content"), bytes) else b""
    path, _, query = url.partition("?")
    ts = int(ctx.clock.now().replace(tzinfo=UTC).timestamp())
    nonce = f"mx-{n:08d}"
    text = signing.canonical(method, path, query, ts, nonce, body)
    sig = signing.sign(t["partner_secret"], text)
    kw["headers"]["Authorization"] = signing.authorization("mx-partner", ts, nonce, sig)


def _refused(status: int, location: str) -> bool:
    return status in (401, 403, 404) or (status == 303 and location.startswith("/login?next="))


def _admitted(status: int, location: str, call: Call) -> bool:
    if status in call.ok:
        return True
    if _refused(status, location):
        return False
    return 200 <= status < 400 or status in call.ok


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.name.replace(" ", "-"))
def test_the_matrix(ctx: Context, caller: Caller) -> None:
    t = matrix_world(ctx)
    app = create_app(ctx)
    routes = sorted(
        {(m, p) for m, p, _ in permissions.app_routes(app)},
        key=lambda mp: (mp[0] != "GET", CALLS.get(mp, Call()).order, list(RULES).index(mp)),
    )
    wrong: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        # Every caller holds the CSRF token a page gives (CSRF is not what is tested here).
        headers = {"X-CSRF-Token": csrf_of(client.get("/login").text)}

        def again() -> None:
            if caller.staff:
                token, _ = sign_in(client, ctx, f"S{caller.staff}")
                headers["X-CSRF-Token"] = token

        again()
        if caller.terminal:
            code = t.w.terminals[caller.terminal].code
            headers["Authorization"] = f"Terminal {code}:{t.w.keys[caller.terminal]}"
        for n, (method, path) in enumerate(routes):
            call = CALLS.get((method, path), Call())
            url = concrete(t, method, path, call)
            kw: dict[str, Any] = {"headers": {**headers, **call.headers}}
            if call.json is not None:
                kw["json"] = call.json(t, caller)
            elif call.form is not None:
                kw["data"] = call.form(t, caller)
                if call.files is not None:  # a multipart form: its fields and a file
                    kw["files"] = call.files(t, caller)
            elif call.content is not None:
                kw["content"] = call.content(t, caller)
            if call.files is not None:  # with the form's fields, if any
                kw["files"] = call.files(t, caller)
            if caller.partner:
                partner_signed(t, ctx, n, method, url, kw)
            r = client.request(method, url, follow_redirects=False, **kw)
            where = r.headers.get("location", "")
            expect = caller.admitted(RULES[(method, path)])
            ok = _admitted(r.status_code, where, call) if expect else _refused(r.status_code, where)
            if not ok:
                said = r.text[:160].replace("\n", " ")
                wrong.append(
                    f"{method} {url}: {'admit' if expect else 'refuse'} expected, "
                    f"got {r.status_code} {where} {said}"
                )
            if call.ends_session:
                assert isinstance(ctx.clock, FixedClock)
                ctx.clock.advance(seconds=31)  # a TOTP code is good once: the next one
                again()
    assert not wrong, f"{caller.name}:\n" + "\n".join(wrong)
