"""Dish ratings through the API and the pages: the diner rates a meal's dishes (a second
try is a clear 409, nothing changed; someone else's meal 403), sees the week's
nutrition; the canteen manager and the bureau see rankings, comments and Excel."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from dishworld import menu
from onecard.core.context import Context
from onecard.feedback.models import DishRating
from onecard.pay.service import PaymentRequest, pay
from onecard.web.app import create_app
from web.pages import Staff, TestClient, add_staff, csrf_of, sign_in
from world import World, build_world, fund


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=5000, cash=1000)
    return world


@pytest.fixture
def staff(ctx: Context, w: World) -> Staff:
    return add_staff(ctx, w)


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=True) as c:
        yield c


def meal(ctx: Context, w: World) -> tuple[int, dict[str, int]]:
    ids = menu(ctx, w)
    out = pay(
        ctx,
        w.terminals["A"],
        PaymentRequest("api-1", w.cards["a1"], items=(("D1", 1), ("D2", 2), ("G1", 1))),
    )
    return int(out.data["payment_id"]), ids


def ratings(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(DishRating)).scalar_one())


def test_the_api_rates_once_and_only_the_payer(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    pid, ids = meal(ctx, w)
    token, _ = sign_in(client, ctx, staff["a1"])
    h = {"X-CSRF-Token": token}
    got = client.get(f"/api/v1/me/meals/{pid}/dishes")
    assert got.status_code == 200, got.text
    assert [(x["name"], x["rateable"]) for x in got.json()["lines"]] == [
        ("红烧肉", True),
        ("米饭", True),
        ("矿泉水", False),
    ]
    url = f"/api/v1/me/meals/{pid}/dishes/{ids['D1']}/rating"
    r = client.post(url, json={"stars": 4, "comment": "好吃"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "id": r.json()["id"],
        "payment_id": pid,
        "item_id": ids["D1"],
        "stars": 4,
        "comment": "好吃",
    }
    again = client.post(url, json={"stars": 1}, headers=h)
    assert again.status_code == 409 and again.json()["error"]["code"] == "dish_already_rated"
    for bad in ({"stars": 0}, {"stars": 6}, {"stars": 3, "comment": "x" * 201}, {}):
        assert client.post(url, json=bad, headers=h).status_code == 422
    goods = client.post(
        f"/api/v1/me/meals/{pid}/dishes/{ids['G1']}/rating", json={"stars": 3}, headers=h
    )
    assert goods.status_code == 422 and goods.json()["error"]["code"] == "not_a_dish"
    assert ratings(ctx) == 1
    nutrition = client.get("/api/v1/me/nutrition").json()
    assert nutrition["lines"] == 2 and nutrition["nutrients"][0]["key"] == "energy_kj"
    assert nutrition["portions"] == 3
    for far in ("0001-01-01", "9999-12-31"):
        assert client.get(f"/api/v1/me/nutrition?day={far}").json()["lines"] == 0
        assert client.get(f"/me/nutrition?day={far}").status_code == 200
    # Someone else: refused, nothing changed.
    with TestClient(create_app(ctx), raise_server_exceptions=True) as other:
        token_b, _ = sign_in(other, ctx, staff["b1"])
        assert other.get(f"/api/v1/me/meals/{pid}/dishes").status_code == 403
        r = other.post(
            f"/api/v1/me/meals/{pid}/dishes/{ids['D2']}/rating",
            json={"stars": 5},
            headers={"X-CSRF-Token": token_b},
        )
        assert r.status_code == 403
    assert ratings(ctx) == 1


def test_the_meal_page_rates_each_dish_and_refuses_a_second_try(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    pid, ids = meal(ctx, w)
    sign_in(client, ctx, staff["a1"])
    home = client.get("/me")
    assert f'href="/me/meals/{pid}"' in home.text
    page = client.get(f"/me/meals/{pid}")
    assert page.status_code == 200 and "红烧肉" in page.text and "商品不参与评价" in page.text
    token = csrf_of(page.text)
    r = client.post(
        f"/me/meals/{pid}/dishes/{ids['D1']}",
        data={"stars": "5", "comment": "很香", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith(f"?rated={ids['D1']}")
    done = client.get(r.headers["location"])
    assert 'id="dish-rated"' in done.text and "很香" in done.text
    again = client.post(
        f"/me/meals/{pid}/dishes/{ids['D1']}",
        data={"stars": "1", "comment": "再评", "csrf_token": token},
    )
    assert again.status_code == 409 and "已经评价过了" in again.text
    assert ratings(ctx) == 1
    assert client.get("/me/nutrition").status_code == 200


def test_the_manager_and_the_bureau_see_rankings_comments_and_excel(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    from dishworld import diner
    from onecard.feedback import dishes

    pid, ids = meal(ctx, w)
    dishes.rate_dish(ctx, diner(ctx, w, "a1"), pid, ids["D1"], 3, "偏咸")
    dishes.rate_dish(ctx, diner(ctx, w, "a1"), pid, ids["D2"], 5)
    sign_in(client, ctx, staff["cm"])
    page = client.get(f"/dishes/canteens/{w.canteens['A']}")
    assert page.status_code == 200 and "偏咸" in page.text
    assert page.text.index("米饭") < page.text.index("红烧肉")  # best first
    book = client.get(f"/dishes/canteens/{w.canteens['A']}/ratings.xlsx")
    assert book.status_code == 200
    sheets = load_workbook(io.BytesIO(book.content)).worksheets
    assert [ws.max_row for ws in sheets] == [3, 2]
    api = client.get(f"/api/v1/dishes/canteens/{w.canteens['A']}/ratings")
    assert [r["dish"] for r in api.json()["rankings"]] == ["米饭", "红烧肉"]
    # Another canteen's manager may not; the city-wide view is the bureau's.
    assert client.get(f"/dishes/canteens/{w.canteens['B']}").status_code == 403
    assert client.get("/api/v1/dishes/ratings").status_code == 403
    # Start after end: an empty period; longer than 366 days: the 366 ending on end.
    empty = client.get(
        f"/api/v1/dishes/canteens/{w.canteens['A']}/ratings?start=2026-03-10&end=2026-03-01"
    )
    assert empty.status_code == 200 and empty.json()["rankings"] == []
    long = client.get(
        f"/api/v1/dishes/canteens/{w.canteens['A']}/ratings?start=2000-01-01&end=2026-03-10"
    ).json()
    assert (long["start"], long["end"]) == ("2025-03-10", "2026-03-10")
    assert len(long["rankings"]) == 2
    for far in ("0001-01-01", "9999-12-31"):  # no payment then, nothing breaks
        got = client.get(f"/api/v1/dishes/canteens/{w.canteens['A']}/ratings?end={far}")
        assert got.status_code == 200 and got.json()["rankings"] == []
        assert client.get(f"/dishes/canteens/{w.canteens['A']}?start={far}").status_code == 200
    with TestClient(create_app(ctx), raise_server_exceptions=True) as bureau:
        sign_in(bureau, ctx, staff["bu"])
        page = bureau.get("/bureau/dishes")
        assert page.status_code == 200 and "财政局机关食堂" in page.text
        assert bureau.get("/bureau/dishes.xlsx").status_code == 200
        every = bureau.get("/api/v1/dishes/ratings").json()
        assert [r["count"] for r in every["rankings"]] == [1, 1]
        assert [c["comment"] for c in every["comments"]] == ["偏咸"]
        assert bureau.get("/api/v1/dishes/ratings.xlsx").status_code == 200
