"""The OpenAPI document says what the API really answers (``web/openapi.py``); the
fuzzing in ``test_fuzz_api.py`` holds the API to it. These are the quick checks."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from onecard.core.context import Context
from onecard.pay.schemas import CREDENTIAL_PATTERN
from onecard.pay.service import credential_shape_ok
from onecard.web.app import create_app
from web.pages import TestClient, add_staff, sign_in
from world import build_world

OPS = ("get", "post", "put", "patch", "delete")


def _document(ctx: Context) -> dict[str, Any]:
    with TestClient(create_app(ctx)) as client:
        r = client.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def test_every_error_is_documented_in_the_one_shape(ctx: Context) -> None:
    doc = _document(ctx)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in OPS:
                continue
            where = f"{method.upper()} {path}"
            codes = {int(s) for s in op["responses"] if s.isdigit()}
            assert {500, 503} <= codes, where
            if op.get("parameters") or "requestBody" in op:
                assert 422 in codes, where
            if path.startswith("/api/v1/") and path != "/api/v1/channels/bank/notify":
                assert {401, 403} <= codes, where
            for code in codes - set(range(100, 400)):
                answer = op["responses"][str(code)]
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, where
                assert "X-Request-ID" in answer["headers"], where


def test_a_payment_names_exactly_one_way_to_price_it(ctx: Context) -> None:
    schema = _document(ctx)["components"]["schemas"]["PaymentIn"]
    titles = [branch["title"] for branch in schema["oneOf"]]
    assert titles == ["by meal period", "by open amount", "by item lines"]
    assert schema["properties"]["credential"]["pattern"] == CREDENTIAL_PATTERN


def test_statements_and_templates_say_their_file_types(ctx: Context) -> None:
    paths = _document(ctx)["paths"]
    statement = paths["/api/v1/funding/statements/units/{unit_id}/{quarter}"]["get"]
    assert set(statement["responses"]["200"]["content"]) == {
        "application/json",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    roster = paths["/api/v1/funding/roster/import"]["post"]
    assert "text/csv" in roster["requestBody"]["content"]


@settings(max_examples=400, derandomize=True, database=None)
@given(
    st.text(alphabet=st.sampled_from(list("0123456789 8\t\n\x1c\xa0\u3000\ufeffa１")), max_size=26)
)
def test_the_documented_credential_pattern_is_the_services_check(text: str) -> None:
    assert bool(re.search(CREDENTIAL_PATTERN, text)) == credential_shape_ok(text)


def test_a_body_that_cannot_be_read_as_json_is_400_malformed_body(ctx: Context) -> None:
    """Bytes that are not even text (a JSON syntax error is a 422 with its field)."""
    w = build_world(ctx)
    staff = add_staff(ctx, w)
    with TestClient(create_app(ctx)) as client:
        sign_in(client, ctx, staff["a1"])
        r = client.post(
            "/api/v1/me/topups",
            content=b'{"amount_fen": \x80}',
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "malformed_body"


def _body_schemas(doc: dict[str, Any]) -> Any:
    comps = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            schema = op.get("requestBody", {}).get("content", {}).get("application/json")
            if method not in OPS or schema is None:
                continue
            ref = schema["schema"].get("$ref") or next(
                (a["$ref"] for a in schema["schema"].get("anyOf", ()) if "$ref" in a), None
            )
            if ref:
                yield f"{method.upper()} {path}", comps[ref.rsplit("/", 1)[1]]


def test_every_json_body_names_all_it_takes_and_no_nul(ctx: Context) -> None:
    """A body with unnamed extra fields would take arbitrary text the API never reads
    (``web.nul_guard`` refuses a NUL anywhere in it): every body model forbids extras."""
    doc = _document(ctx)
    bodies = list(_body_schemas(doc))
    assert bodies
    for where, body in bodies:
        assert body.get("additionalProperties") is False, where
        assert body["propertyNames"] == {"not": {"pattern": "[\\u0000]"}}, where
    refund = doc["components"]["schemas"]["RefundIn"]["properties"]
    assert refund["reason"]["not"] == {"pattern": "[\\u0000]"}
    assert "not" not in refund["request_id"]  # its own pattern says it already
