"""Diner and till stories: the till takes a card and a payment code, the diner sees the
payment and rates it once; reversal; lost cards; top-up; the public directory."""

from __future__ import annotations

import re
from datetime import UTC

from sqlalchemy import select

from onecard.core.context import Context
from onecard.org.models import Person
from onecard.pay import paycode
from onecard.pay.models import Payment
from web.pages import Staff, TestClient, sign_in
from world import World, purse


def _pay(
    client: TestClient, token: str, canteen_id: int, credential: str, **extra: str | list[str]
) -> str:
    data: dict[str, str | list[str]] = {
        "csrf_token": token,
        "canteen_id": str(canteen_id),
        "credential": credential,
    }
    data.update(extra or {"mode": "meal", "meal": "lunch"})
    r = client.post("/till/pay", data=data, headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    return r.text


def _code_of(ctx: Context, w: World, who: str) -> str:
    with ctx.db.read() as conn:
        token, secret = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == w.people[who])
        ).one()
    now = ctx.clock.now().replace(tzinfo=UTC).timestamp()
    return paycode.make_code(ctx.settings.region_no, token, secret, now)


def test_a_visitor_pays_lunch_at_the_till_and_rates_it_once(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """A clerk of unit B shows a payment code at canteen A's till at lunch; pays the
    visitor price; sees it on their phone and rates the meal once."""
    token, where = sign_in(client, ctx, "Scm")
    assert where == "/till"
    page = client.get("/till")
    assert "财政局机关食堂" in page.text
    out = _pay(client, token, w.canteens["A"], _code_of(ctx, w, "b1"))
    assert 'data-result="approved"' in out
    assert "李娜" in out and "市人民医院" in out
    assert "¥5.00" in out  # visitor lunch at canteen A
    assert 'id="day-count">1<' in out

    diner = TestClient(client.app)
    dtoken, _ = sign_in(diner, ctx, "Sb1")
    home = diner.get("/me").text
    assert "财政局机关食堂" in home
    pid = re.search(r'href="/me/rate/(\d+)"', home)
    assert pid, home
    form = diner.get(f"/me/rate/{pid.group(1)}")
    assert form.status_code == 200
    scores = {"taste": "5", "hygiene": "4", "service": "4", "value": "3"}
    done = diner.post(
        f"/me/rate/{pid.group(1)}", data={**scores, "comment": "红烧肉不错", "csrf_token": dtoken}
    )
    assert done.status_code == 200
    assert "谢谢您的评价" in done.text
    again = diner.post(f"/me/rate/{pid.group(1)}", data={**scores, "csrf_token": dtoken})
    assert again.status_code == 422
    assert "已评价" in again.text or "评价过" in again.text
    assert "4.0" in diner.get("/canteens").text  # (5+4+4+3)/4 on the public directory
    ratings = client.get(f"/till/ratings?canteen_id={w.canteens['A']}")
    assert "红烧肉不错" in ratings.text and "4.00" in ratings.text
    assert diner.get("/till/ratings").status_code == 403


def test_a_diner_cannot_rate_someone_elses_meal(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Scm")
    _pay(client, token, w.canteens["A"], w.cards["a1"])
    with ctx.db.read() as conn:
        pid = conn.execute(select(Payment.id)).scalar_one()
    other = TestClient(client.app)
    sign_in(other, ctx, "Sb1")
    assert other.get(f"/me/rate/{pid}").status_code == 404


def test_a_refusal_is_shown_with_its_reason_and_moves_nothing(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    before = purse(ctx, w, "c1")
    token, _ = sign_in(client, ctx, "Scm")
    out = _pay(client, token, w.canteens["A"], w.cards["c1"])  # c1 has no money
    assert 'data-result="refused"' in out
    assert "余额不足" in out
    assert purse(ctx, w, "c1") == before
    bad = _pay(client, token, w.canteens["A"], "12ab")
    assert 'data-result="refused"' in bad


def test_the_till_reverses_its_last_payment(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    before = purse(ctx, w, "a1")
    token, _ = sign_in(client, ctx, "Scm")
    _pay(client, token, w.canteens["A"], w.cards["a1"], mode="amount", amount="12.5")
    assert sum(purse(ctx, w, "a1")) == sum(before) - 1250
    r = client.post(
        "/till/reverse",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"])},
        headers={"HX-Request": "true"},
    )
    assert 'data-result="reversed"' in r.text
    assert purse(ctx, w, "a1") == before
    again = client.post(
        "/till/reverse",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"])},
        headers={"HX-Request": "true"},
    )
    assert 'data-result="refused"' in again.text


def test_a_till_is_only_for_its_canteen(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Scm")
    assert client.get(f"/till?canteen_id={w.canteens['B']}").status_code == 403
    r = client.post(
        "/till/pay",
        data={
            "csrf_token": token,
            "canteen_id": str(w.canteens["B"]),
            "credential": w.cards["a1"],
            "mode": "meal",
            "meal": "lunch",
        },
    )
    assert r.status_code == 403
    diner = TestClient(client.app)
    sign_in(diner, ctx, "Sa1")
    assert diner.get("/till").status_code == 403


def test_a_diner_reports_a_card_lost_and_unfreezes_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, "Sa1")
    card = w.cards["a1"]
    r = client.post(f"/me/cards/{card}/lost", data={"csrf_token": token})
    assert r.status_code == 200 and "已挂失" in r.text
    till = TestClient(client.app)
    ttoken, _ = sign_in(till, ctx, "Scm")
    assert "挂失" in _pay(till, ttoken, w.canteens["A"], card)
    r = client.post(f"/me/cards/{card}/unfreeze", data={"csrf_token": token})
    assert "已解挂" in r.text
    # Someone else's card is "not found" here, as an unknown number: a diner learns nothing
    # about which card numbers exist.
    assert (
        client.post(f"/me/cards/{w.cards['b1']}/lost", data={"csrf_token": token}).status_code
        == 404
    )


def test_pages_of_the_diner_render(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, "Sa1")
    for path, text in (
        ("/me", "补贴"),
        ("/me/code", 'id="paycode"'),
        ("/me/transactions", "账户明细"),
        ("/me/topup", "充值"),
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert text in r.text, path
    assert "Subsidy" in client.get("/me?lang=en").text


def test_a_self_top_up_through_the_sandbox_bank(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    before = purse(ctx, w, "a1")
    token, _ = sign_in(client, ctx, "Sa1")
    r = client.post("/me/topup", data={"amount": "50", "csrf_token": token})
    assert r.status_code == 200, r.text
    assert "充值成功" in r.text
    assert purse(ctx, w, "a1") == (before[0], before[1] + 5000)
    bad = client.post("/me/topup", data={"amount": "-3", "csrf_token": token})
    assert bad.status_code == 422


def test_the_public_directory_needs_no_sign_in(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    r = client.get("/canteens")
    assert r.status_code == 200
    assert "财政局机关食堂" in r.text and "人民医院职工食堂" in r.text
    assert "五岭大道1号" in r.text
    assert "5.00" in r.text  # canteen A's visitor lunch


def test_the_till_sells_by_item_lines(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from sqlalchemy import insert

    from onecard.catalogue.models import Item

    with ctx.db.begin() as conn:
        conn.execute(
            insert(Item),
            [
                {
                    "canteen_id": w.canteens["A"],
                    "sku": "D1",
                    "name": "红烧肉",
                    "kind": "dish",
                    "price_fen": 800,
                    "market_price_fen": None,
                },
                {
                    "canteen_id": w.canteens["A"],
                    "sku": "G1",
                    "name": "矿泉水",
                    "kind": "goods",
                    "price_fen": 150,
                    "market_price_fen": 200,
                },
            ],
        )
    before = sum(purse(ctx, w, "a1"))
    token, _ = sign_in(client, ctx, "Scm")
    assert "红烧肉" in client.get("/till").text
    out = _pay(
        client,
        token,
        w.canteens["A"],
        w.cards["a1"],
        mode="items",
        sku=["D1", "G1"],
        qty=["1", "2"],
    )
    assert 'data-result="approved"' in out
    assert sum(purse(ctx, w, "a1")) == before - 1100


def test_a_till_with_many_items_takes_every_field_the_page_sends(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """The till's page sends a ``sku`` and a ``qty`` field for every item it offers (0
    for most), whatever the mode: with more items than a qty has digits the form must
    still be read (it was a 422 for any canteen with 4 items or more). A qty of 4
    digits is still refused, nothing paid."""
    from sqlalchemy import insert

    from onecard.catalogue.models import Item

    skus = [f"D{i}" for i in range(1, 9)]
    with ctx.db.begin() as conn:
        conn.execute(
            insert(Item),
            [
                {"canteen_id": w.canteens["A"], "sku": s, "name": f"菜{s}", "kind": "dish"}
                | {"price_fen": 100 * (i + 1), "market_price_fen": None}
                for i, s in enumerate(skus)
            ],
        )
    before = sum(purse(ctx, w, "a1"))
    token, _ = sign_in(client, ctx, "Scm")
    zeros = ["0"] * len(skus)
    out = _pay(client, token, w.canteens["A"], w.cards["a1"], mode="amount", amount="2.50")
    assert 'data-result="approved"' in out
    out = _pay(
        client, token, w.canteens["A"], w.cards["a1"], mode="amount", amount="1.00", sku=skus
    )
    assert 'data-result="approved"' in out
    lines = _pay(
        client,
        token,
        w.canteens["A"],
        w.cards["a1"],
        mode="items",
        sku=skus,
        qty=["1", "0", "2", *zeros[3:]],
    )
    assert 'data-result="approved"' in lines, lines
    assert sum(purse(ctx, w, "a1")) == before - 250 - 100 - (100 + 2 * 300)
    r = client.post(
        "/till/pay",
        data={"csrf_token": token, "canteen_id": str(w.canteens["A"])}
        | {"credential": w.cards["a1"], "mode": "items", "sku": skus, "qty": ["1000", *zeros[1:]]},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 422
    assert sum(purse(ctx, w, "a1")) == before - 250 - 100 - 700
