"""The cross-region page acts (issue 17 §2): the county's bureau (a bureau held for the
county only) and the city's bureau propose, accept, suspend, resume and end an
agreement, make the quarter's statement, confirm it each, and book it — through the page's
forms (POST with the CSRF token, then a redirect); the wrong bureau is refused with
nothing changed, bad input is shown on the page in its language."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select, update
from test_interregion_dining import HOST_ACCOUNT, County, bank_with_money, county_world, lunch

from onecard.core.context import Context
from onecard.interregion import queries
from onecard.interregion.models import Agreement, Statement
from onecard.org import builders as b
from onecard.org.models import Person
from onecard.web.app import create_app
from web.pages import BUREAU_TOTP, TestClient, add_staff, sign_in
from world import World

PAGE = "/bureau/interregion"


def county_bureau(ctx: Context, c: County) -> str:
    """A bureau admin held for the county only (its staff number)."""
    with ctx.db.begin() as conn:
        pid = b.create_person(conn, c.region, c.units["K"], "Skb", "县管理局")
        b.grant_role(conn, pid, "bureau_admin", region_id=c.region)
        hashed = conn.execute(select(Person.password_hash).where(Person.staff_no == "Sbu"))
        conn.execute(
            update(Person)
            .where(Person.id == pid)
            .values(
                password_hash=hashed.scalar_one(),
                must_change_password=False,
                totp_secret=BUREAU_TOTP,
            )
        )
    return "Skb"


class Browser:
    """A signed-in client that posts the page's forms with its CSRF token."""

    def __init__(self, app: Any, ctx: Context, staff_no: str) -> None:
        self.c = TestClient(app)
        self.c.__enter__()
        self.token, _ = sign_in(self.c, ctx, staff_no)

    def get(self, url: str = PAGE) -> Any:
        return self.c.get(url)

    def post(self, url: str, **data: Any) -> Any:
        return self.c.post(url, data={"csrf_token": self.token, **data}, follow_redirects=False)

    def close(self) -> None:
        self.c.__exit__(None, None, None)


def proposal(w: World, c: County, **kw: Any) -> dict[str, Any]:
    return {
        "side": "home",
        "own_region_id": c.region,
        "other_region_id": w.region,
        "unit_codes": "K001",
        "canteen_codes": "",
        "price_class": "visitor",
        "purse": "subsidy_first",
        "valid_from": "2026-01-01",
        "valid_to": "",
        "host_account_no": HOST_ACCOUNT,
        "host_account_name": "郴州市机关事务管理局",
        **kw,
    }


def status_of(ctx: Context, aid: int) -> str:
    with ctx.db.read() as conn:
        return str(conn.execute(select(Agreement.status).where(Agreement.id == aid)).scalar_one())


def statement_row(ctx: Context) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(select(Statement.__table__)).one()


def buttons(html: str, row: str) -> list[tuple[str, str]]:
    """(action, side) of the buttons in the table row ``row`` (its id)."""
    m = re.search(rf'<tr id="{row}">(.*?)</tr>', html, re.S)
    assert m, f"no row {row}"
    return re.findall(r'data-act="(\w+)" data-side="(\w*)"', m.group(1))


def test_both_bureaus_agree_clear_and_book_on_the_page(ctx: Context) -> None:
    w, c = county_world(ctx)
    add_staff(ctx, w)
    kb_no = county_bureau(ctx, c)
    app = create_app(ctx)
    kb, bu, ua = Browser(app, ctx, kb_no), Browser(app, ctx, "Sbu"), Browser(app, ctx, "Sua")

    page = kb.get()
    assert page.status_code == 200 and 'id="propose-form"' in page.text
    # The county's bureau proposes for its own side only: the county, as the eating side.
    assert re.findall(r'name="own_region_id".*?</select>', page.text, re.S)[0].count("<option") == 1
    r = kb.post(f"{PAGE}/agreements", **proposal(w, c))
    assert (r.status_code, r.headers["location"]) == (303, f"{PAGE}?msg=proposed#agreements")
    (a,) = queries.agreements(ctx)
    aid = a["id"]
    assert (a["unit_ids"], a["canteen_ids"], a["proposed_by"]) == ([c.units["K"]], None, "home")
    page = kb.get(f"{PAGE}?msg=proposed")
    assert "协议已提出，待对方确认" in page.text
    assert buttons(page.text, f"agreement-{aid}") == [("end", "home")]  # no accept: ours
    assert buttons(bu.get().text, f"agreement-{aid}") == [("accept", "host"), ("end", "home")]

    # The county's bureau may not accept its own proposal, for either side.
    for side in ("home", "host"):
        r = kb.post(f"{PAGE}/agreements/{aid}/accept", side=side)
        assert r.status_code == 403 and 'id="ir-error"' in r.text, side
    assert "协议须由另一方确认" in kb.post(f"{PAGE}/agreements/{aid}/accept", side="home").text
    # A unit's admin is no bureau: refused before the route.
    assert ua.post(f"{PAGE}/agreements/{aid}/accept", side="host").status_code == 403
    assert ua.get().status_code == 403
    # Finance reads the page without a single form, and may not act.
    fi = Browser(app, ctx, "Sfi")
    page = fi.get()
    assert page.status_code == 200 and 'action="/bureau/interregion' not in page.text
    assert fi.post(f"{PAGE}/agreements/{aid}/accept", side="host").status_code == 403
    fi.close()
    assert status_of(ctx, aid) == "proposed"

    r = bu.post(f"{PAGE}/agreements/{aid}/accept", side="host")
    assert r.status_code == 303 and "msg=accept" in r.headers["location"]
    assert status_of(ctx, aid) == "accepted"

    # Lunch across the line, then the quarter's statement by the county's bureau.
    assert lunch(ctx, w, c, "k1", "A", "page-1")["amount_fen"] == 500
    page = kb.get()
    assert f'<option value="{c.region}-{w.region}">' in page.text
    assert '<option value="2026Q1" selected>' in page.text
    r = kb.post(f"{PAGE}/statements", pair=f"{c.region}-{w.region}", quarter="2026Q1")
    assert r.status_code == 303 and "msg=computed" in r.headers["location"]
    s = statement_row(ctx)
    assert (s.gross_fen, s.payments, s.status) == (500, 1, "open")
    page = kb.get()
    assert "5.00" in page.text
    assert buttons(page.text, f"statement-{s.id}") == [("confirm", "home")]
    assert buttons(bu.get().text, f"statement-{s.id}") == [
        ("confirm", "home"),
        ("confirm", "host"),
    ]
    assert kb.get(f"{PAGE}/statements/{s.id}.xlsx").status_code == 200

    # The county confirms its side; the city's side is not the county's to confirm.
    assert kb.post(f"{PAGE}/statements/{s.id}/confirm", side="host").status_code == 403
    r = kb.post(f"{PAGE}/statements/{s.id}/confirm", side="home")
    assert r.status_code == 303 and "msg=confirm#" in r.headers["location"]
    r = kb.post(f"{PAGE}/statements/{s.id}/confirm", side="home")
    assert r.status_code == 409 and "本方已确认" in r.text
    assert kb.post(f"{PAGE}/statements/{s.id}/book").status_code == 409  # not yet confirmed
    r = bu.post(f"{PAGE}/statements/{s.id}/confirm", side="host")
    assert r.status_code == 303 and "msg=confirmed#" in r.headers["location"]
    page = kb.get()
    assert "县管理局" in page.text and "2026-03-10 12:00" in page.text  # Beijing time
    assert buttons(page.text, f"statement-{s.id}") == [("book", "")]

    # The county's bureau books (its bank pays); the order goes to the bank.
    bank_with_money(ctx).open_outside_account(HOST_ACCOUNT, "郴州市机关事务管理局")
    r = kb.post(f"{PAGE}/statements/{s.id}/book")
    assert r.status_code == 303 and "msg=booked#" in r.headers["location"]
    s = statement_row(ctx)
    assert (s.status, s.order_id) == ("booked", f"IR{s.id}-1")
    page = kb.get()
    assert f"<code>IR{s.id}-1</code>" in page.text and "待银行回执" in page.text
    assert buttons(page.text, f"statement-{s.id}") == []
    # Computing the booked quarter again changes nothing (the same figures).
    kb.post(f"{PAGE}/statements", pair=f"{c.region}-{w.region}", quarter="2026Q1")
    assert statement_row(ctx).status == "booked"

    # Suspend (the city), resume (the county), end (the city): either side may.
    for who, action, status in (
        (bu, "suspend", "suspended"),
        (kb, "resume", "accepted"),
        (bu, "end", "ended"),
    ):
        side = "home" if who is kb else "host"
        r = who.post(f"{PAGE}/agreements/{aid}/{action}", side=side)
        assert r.status_code == 303, r.text
        assert status_of(ctx, aid) == status
    r = kb.post(f"{PAGE}/agreements/{aid}/resume", side="home")
    assert r.status_code == 409 and "当前状态不允许此操作" in r.text
    assert buttons(kb.get().text, f"agreement-{aid}") == []
    for cl in (kb, bu, ua):
        cl.close()


def test_bad_input_is_shown_on_the_page_and_nothing_is_made(ctx: Context) -> None:
    w, c = county_world(ctx)
    add_staff(ctx, w)
    kb = Browser(create_app(ctx), ctx, county_bureau(ctx, c))

    def agreements() -> int:
        with ctx.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(Agreement)).scalar_one())

    r = kb.post(f"{PAGE}/agreements", **proposal(w, c, valid_to="2025-12-31"))
    assert r.status_code == 422 and "valid_to 早于 valid_from" in r.text
    assert 'value="2025-12-31"' in r.text  # what was typed is kept
    r = kb.post(f"{PAGE}/agreements", **proposal(w, c, unit_codes="K001, ZZZ9"))
    assert r.status_code == 422 and "单位编码不存在：ZZZ9" in r.text
    r = kb.post(f"{PAGE}/agreements", **proposal(w, c, unit_codes="U001"))  # the city's unit
    assert r.status_code == 422 and "不存在" in r.text
    r = kb.post(f"{PAGE}/agreements", **proposal(w, c, valid_from="3月1日"))
    assert r.status_code == 422 and "生效日期应为日期" in r.text
    r = kb.post(f"{PAGE}/agreements", **proposal(w, c, host_account_no=" "))
    assert r.status_code == 422 and "收款账户" in r.text
    # Proposing for the city's side is not the county's bureau's to do.
    city = proposal(w, c, own_region_id=w.region, other_region_id=c.region, unit_codes="U001")
    r = kb.post(f"{PAGE}/agreements", **city)
    assert r.status_code == 403 and "无权执行此操作" in r.text
    # In English, the error is in English.
    r = kb.post(f"{PAGE}/agreements?lang=en", **proposal(w, c, unit_codes="ZZZ9"))
    assert r.status_code == 422 and "Unit code does not exist: ZZZ9" in r.text
    r = kb.post(f"{PAGE}/agreements?lang=en", **proposal(w, c, valid_to="2025-12-31"))
    assert r.status_code == 422 and "Invalid request" in r.text and "早于" not in r.text
    assert agreements() == 0

    r = kb.post(f"{PAGE}/statements", pair=f"{c.region}-{w.region}", quarter="2026Q5")
    assert r.status_code == 422
    r = kb.post(f"{PAGE}/statements", pair=f"{w.region}-{w.region}", quarter="2026Q1")
    assert r.status_code in (403, 422)
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Statement)).scalar_one() == 0
    # A missing CSRF token changes nothing either.
    r = kb.c.post(f"{PAGE}/agreements", data=proposal(w, c), follow_redirects=False)
    assert r.status_code == 403 and agreements() == 0
    kb.close()
