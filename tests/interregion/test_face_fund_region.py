"""Face pay searches every region whose people a canteen takes for a card or a code
(issue 17 §1–§2): a township that shares its county's (or the city's) fund is one
gallery with it, so its staff are found at the county's canteens and the other way
round, as their cards are accepted there; another fund region's people only under a
dining agreement that covers them."""

from __future__ import annotations

import json
from datetime import date, time
from typing import Any

import pytest
from sqlalchemy import update

from faces.photos import descriptor
from interregion.test_interregion_dining import SYSTEM, County, agree, county_world, ledger_ok
from onecard.core.context import Context
from onecard.faces import gallery
from onecard.faces import service as faces
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org import builders as b
from onecard.org.models import Region
from onecard.pay.cards import issue_card_conn
from onecard.pay.decide import TerminalIdentity
from onecard.pay.face_pay import FacePayment, face_pay
from onecard.pay.interregion import FundMap, Terms, diners
from onecard.pay.service import PaymentRequest, pay
from world import World


def township(
    ctx: Context, parent: int, fund_region: int | None, code: str, name: str
) -> tuple[int, int, int, TerminalIdentity, str]:
    """A township below ``parent`` keeping no fund of its own: one unit, one person
    funded from ``fund_region``'s money, one canteen (serving visitors) with a face
    terminal. Returns (region, unit, person, terminal, card)."""
    with ctx.db.begin() as conn:
        rid = b.create_region(conn, code, name, "township", parent)
        unit = b.create_unit(conn, rid, f"T{code}", f"{name}政府")
        pid = b.create_person(conn, rid, unit, f"S{code}", f"{name}干部")
        card = issue_card_conn(conn, ctx, pid)
        cid = b.create_canteen(conn, rid, unit, f"TC{code}", f"{name}食堂", operation="self")
        prices = {"own": 300, "visitor": 500, "guest": 800}
        b.add_meal_period(conn, cid, "lunch", "午餐", time(11, 30), time(13, 30), prices)
        tid, _ = b.register_terminal(conn, rid, cid, f"T-{code}", key=f"key-{code}")
        if fund_region is not None:
            bank = system_account(conn, "bank_clearing", fund_region)
            subsidy = account_id(conn, "person", pid, "subsidy")
            post(
                conn,
                region_id=fund_region,
                kind="test_fund",
                key=f"fund:{code}",
                legs=[Leg(bank, -2000), Leg(subsidy, 2000)],
                actor="test",
                booked_at=ctx.clock.now(),
            )
    terminal = TerminalIdentity(tid, f"T-{code}", rid, cid)
    faces.set_liveness(ctx, SYSTEM, terminal.code, True)
    return rid, unit, pid, terminal, card


def county_terminal(ctx: Context, c: County) -> TerminalIdentity:
    from sqlalchemy import select

    from onecard.org.models import Canteen

    with ctx.db.begin() as conn:
        cid = int(conn.execute(select(Canteen.id).where(Canteen.code == "K-C1")).scalar_one())
        prices = {"own": 300, "visitor": 500, "guest": 800}
        b.add_meal_period(conn, cid, "lunch", "午餐", time(11, 30), time(13, 30), prices)
        tid, _ = b.register_terminal(conn, c.region, cid, "T-K1", key="key-K1")
    terminal = TerminalIdentity(tid, "T-K1", c.region, cid)
    faces.set_liveness(ctx, SYSTEM, terminal.code, True)
    return terminal


def by_face(ctx: Context, terminal: TerminalIdentity, txn: str, who: str) -> dict[str, Any]:
    fp = FacePayment(txn, True, descriptor=tuple(descriptor(who)), meal="lunch")
    return dict(json.loads(face_pay(ctx, terminal, fp).body))


def by_card(ctx: Context, terminal: TerminalIdentity, txn: str, card: str) -> dict[str, Any]:
    return dict(pay(ctx, terminal, PaymentRequest(txn, card, amount_fen=100)).data)


@pytest.fixture
def cw(ctx: Context) -> tuple[Context, World, County]:
    w, c = county_world(ctx)
    return ctx, w, c


def test_a_township_sharing_the_citys_fund_pays_by_face_where_its_card_pays(cw: Any) -> None:
    ctx, w, _ = cw
    _, _, tp, tterm, tcard = township(ctx, w.region, w.region, "431002", "北湖乡")
    faces.enrol(ctx, SYSTEM, tp, descriptor=list(descriptor("astronaut")), consent=True)
    faces.enrol(ctx, SYSTEM, w.people["a1"], descriptor=list(descriptor("grace")), consent=True)
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, True)
    # The township's person at the city's canteen A, and the city's at the township's.
    assert by_card(ctx, w.terminals["A"], "card-t", tcard)["result"] == "approved"
    got = by_face(ctx, w.terminals["A"], "face-t", "astronaut")
    assert got["result"] == "approved", got
    assert (got["payer"]["name"], got["diner_class"]) == ("北湖乡干部", "visitor")
    from world import fund

    fund(ctx, w, "a1", subsidy=2000)
    got = by_face(ctx, tterm, "face-a1", "grace")
    assert got["result"] == "approved", got
    assert (got["payer"]["name"], got["diner_class"]) == ("张伟", "visitor")
    ledger_ok(ctx)


def test_a_township_sharing_a_countys_fund_is_one_gallery_with_the_county(cw: Any) -> None:
    ctx, w, c = cw
    _, tunit, tp, tterm, tcard = township(ctx, c.region, c.region, "431022", "仁义镇")
    kterm = county_terminal(ctx, c)
    faces.enrol(ctx, SYSTEM, tp, descriptor=list(descriptor("astronaut")), consent=True)
    faces.enrol(ctx, SYSTEM, c.people["k1"], descriptor=list(descriptor("grace")), consent=True)
    # The township's person at the county's canteen, by card and by face; the county's
    # person at the township's canteen.
    assert by_card(ctx, kterm, "card-t", tcard)["result"] == "approved"
    got = by_face(ctx, kterm, "face-t", "astronaut")
    assert (got["result"], got["payer"]["name"]) == ("approved", "仁义镇干部"), got
    got = by_face(ctx, tterm, "face-k1", "grace")
    assert (got["result"], got["payer"]["name"]) == ("approved", "赵县一"), got
    # At the city's canteen: neither by card nor by face without an agreement …
    assert by_card(ctx, w.terminals["A"], "card-t-city", tcard)["result"] == "refused"
    faces.set_liveness(ctx, SYSTEM, w.terminals["A"].code, True)
    got = by_face(ctx, w.terminals["A"], "face-t-city", "astronaut")
    assert (got["result"], got.get("payer")) == ("refused", None)
    # … and by both under one covering the township's unit (the county's fund region's).
    agree(ctx, w, c, unit_ids=[tunit])
    assert by_card(ctx, w.terminals["A"], "card-t-city2", tcard)["result"] == "approved"
    got = by_face(ctx, w.terminals["A"], "face-t-city2", "astronaut")
    assert (got["result"], got["payer"]["name"]) == ("approved", "仁义镇干部"), got
    # The county's k1 is not covered (unit K): not searched at the city's canteen.
    got = by_face(ctx, w.terminals["A"], "face-k1-city", "grace")
    assert (got["result"], got.get("payer")) == ("refused", None)
    ledger_ok(ctx)


def test_a_township_given_its_own_fund_leaves_the_countys_gallery(cw: Any) -> None:
    ctx, _, c = cw
    rid, _, tp, _, _ = township(ctx, c.region, None, "431023", "太和镇")
    kterm = county_terminal(ctx, c)
    faces.enrol(ctx, SYSTEM, tp, descriptor=list(descriptor("astronaut")), consent=True)
    # A face no one has (refused, nothing posted) builds the county's cached gallery,
    # the township's person in it.
    assert by_face(ctx, kterm, "unknown", "grace")["result"] == "refused"
    assert gallery.gallery_for(ctx, frozenset({c.region, rid})).size == 1
    with ctx.db.begin() as conn:
        conn.execute(update(Region).where(Region.id == rid).values(own_fund=True))
        from onecard.ledger.service import open_system_accounts

        open_system_accounts(conn, rid, top=False)
    # Its card is now another fund region's at the county's canteen: so is its face.
    got = by_face(ctx, kterm, "after", "astronaut")
    assert (got["result"], got.get("payer")) == ("refused", None)


def test_enrolment_in_a_township_drops_the_fund_regions_cached_gallery(ctx: Context) -> None:
    with ctx.db.begin() as conn:
        city = b.create_region(conn, "431000", "郴州市")
        town = b.create_region(conn, "431002", "北湖乡", "township", city)
        unit = b.create_unit(conn, town, "T1", "乡政府")
        pid = b.create_person(conn, town, unit, "S1", "乡干部")
    both = frozenset({city, town})
    assert gallery.gallery_for(ctx, both).size == 0
    faces.enrol(ctx, SYSTEM, pid, descriptor=list(descriptor("astronaut")), consent=True)
    g = gallery.gallery_for(ctx, both)  # dropped at once, not after RECHECK_S
    assert (g.size, g.regions, int(g.person_ids[0])) == (1, both, pid)
    assert g.matrix.flags["C_CONTIGUOUS"] and g.matrix.dtype.name == "float32"
    assert gallery.gallery_for(ctx, both) is g  # cached


# --- the rule, pure ----------------------------------------------------------------------
def _terms(tid: int, home: int, host: int, **kw: Any) -> Terms:
    return Terms(
        tid,
        home,
        host,
        kw.get("units"),
        kw.get("canteens"),
        "visitor",
        "subsidy_first",
        kw.get("since", date(2026, 1, 1)),
        kw.get("until"),
    )


def test_diners_are_the_fund_regions_and_the_agreements_in_force_here() -> None:
    # city 1 (townships 2, 3 share it); county 4 (own fund, township 5 shares it);
    # county 6 (own fund).
    fm = FundMap({1: 1, 2: 1, 3: 1, 4: 4, 5: 4, 6: 6}, frozenset())
    day = date(2026, 11, 30)
    assert diners(fm, (), 2, 10, day).own == frozenset({1, 2, 3})
    assert diners(fm, (), 5, 11, day).own == frozenset({4, 5})
    terms = (
        _terms(1, 4, 1, units=frozenset({40})),
        _terms(2, 4, 1, units=frozenset({41}), canteens=frozenset({10})),
        _terms(3, 6, 1, canteens=frozenset({99})),  # not at canteen 10
        _terms(4, 6, 4),  # hosted by county 4, not the city
        _terms(5, 4, 1, since=date(2027, 1, 1)),  # not yet in force
    )
    got = diners(fm, terms, 3, 10, day)
    assert got.partners == ((frozenset({4, 5}), frozenset({40, 41})),)
    assert diners(fm, terms, 3, 12, day).partners == ((frozenset({4, 5}), frozenset({40})),)
    assert diners(fm, terms, 5, 11, day).partners == ((frozenset({6}), None),)
    # Every agreement read by ``diners`` is read by the decision core's ``terms_for`` the
    # same way: what ``diners`` lets in for a unit, ``covers`` does.
    for t in terms:
        assert t.covers(40, 10, day) == (
            t.serves(10, day) and (t.unit_ids is None or 40 in t.unit_ids)
        )
