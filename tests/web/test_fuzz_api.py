"""schemathesis against the OpenAPI document, in-process: 0 server errors, 0 violations.

Every operation of ``/openapi.json`` is fuzzed as three callers — a terminal, a diner and
the bureau — with schemathesis' positive and negative cases, a fixed seed
(``derandomize``) and a bounded number of examples, against the ASGI app (no server, no
network). Each answer must not be a 5xx and must conform to the document: its status is
one the operation documents, its content type is documented, its body matches the
documented schema, and invalid input (negative cases) is refused with a 4xx. So the
document has to say what the API really does, including the error shape for every status.

Bounded to stay inside ``make test``: ``EXAMPLES`` per operation and mode; marked slow.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import insert

from onecard.catalogue.models import Item
from onecard.core.context import Context
from onecard.faces import service as face_service
from onecard.org.actors import Actor
from onecard.web.app import create_app
from web.pages import TestClient, add_staff, sign_in
from world import build_world, fund

EXAMPLES = 12
POSITIVE_CHECKS = [
    not_a_server_error,
    positive_data_acceptance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [*POSITIVE_CHECKS, negative_data_rejection]

pytestmark = pytest.mark.slow
KNOWN_SKU = "FZ1"


def _identities(ctx: Context, app: Any) -> dict[str, dict[str, str]]:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=60000, cash=1000)
    staff = add_staff(ctx, w)
    face_service.set_liveness(ctx, Actor.system("test"), w.terminals["A"].code, True)
    with ctx.db.engine.begin() as conn:  # the one item valid item lines name (KNOWN_SKU)
        conn.execute(
            insert(Item).values(
                canteen_id=w.canteens["A"], sku=KNOWN_SKU, name="馒头", kind="dish", price_fen=50
            )
        )
    out = {"terminal": {"Authorization": f"Terminal {w.terminals['A'].code}:{w.keys['A']}"}}
    for name, who in (("diner", "a1"), ("bureau", "bu")):
        with TestClient(app) as client:
            sign_in(client, ctx, staff[who])
            out[name] = {"Cookie": f"onecard_session={client.cookies['onecard_session']}"}
    return out


def plain_integers(value: Any) -> Any:
    """``1161.0`` → ``1161``. OpenAPI 3.1's ``integer`` (JSON Schema 2020-12) admits a
    whole number written as a float, and schemathesis sends some; the API deliberately
    takes only integers written as integers (``StrictInt``: a client that computes fen
    in floating point is refused, docs/api.md "Errors"). That one difference is not a
    finding, so valid cases are sent with their integers written plainly."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_integers(v) for v in value]
    return value


@cache
def face_photo() -> str:
    """A picture's content is beyond a schema (a face must be in it, else 422
    ``no_face``): valid cases that send a picture send a real one, a small JPEG of the
    astronaut (tests/faces/photos.py)."""
    from faces.photos import astronaut, jpeg

    return base64.b64encode(jpeg(astronaut(), max_side=200)).decode()


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def _fuzz(op: Any, mode: GenerationMode, headers: dict[str, str]) -> Callable[[], None]:
    checks = NEGATIVE_CHECKS if mode == GenerationMode.NEGATIVE else POSITIVE_CHECKS

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if mode == GenerationMode.POSITIVE and isinstance(case.body, dict | list):
            case.body = plain_integers(case.body)
        positive = mode == GenerationMode.POSITIVE and isinstance(case.body, dict)
        if positive and isinstance(case.body.get("image_b64"), str):
            case.body["image_b64"] = face_photo()
        if positive and isinstance(case.body.get("items"), list):
            # Which skus a canteen sells is beyond a schema (an unknown one is 422, nothing
            # written): valid cases name the one item the canteen has.
            for line in case.body["items"]:
                if isinstance(line, dict) and "sku" in line:
                    line["sku"] = KNOWN_SKU
        case.call_and_validate(headers=headers, checks=checks)

    return run


@pytest.mark.parametrize("who", ["terminal", "diner", "bureau"])
def test_the_api_keeps_its_document(ctx: Context, who: str) -> None:
    app = create_app(ctx)
    headers = _identities(ctx, app)[who]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    with TestClient(app):  # the app's lifespan runs around the whole fuzzing
        for op in _operations(schema):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz(op, mode, headers)()
                except Unsatisfiable:
                    continue  # no invalid input exists (no parameters, or free strings only)
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
                    failures.append(f"{op.method.upper()} {op.path} [{mode.value}]: {exc}")
    assert not failures, f"{len(failures)} failing:\n\n" + "\n\n".join(failures)
