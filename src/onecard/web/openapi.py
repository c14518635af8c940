"""The OpenAPI document says every answer the API can give, not only the happy one.

Contract: ``install(app)`` replaces ``app.openapi`` with FastAPI's document completed
here, once, from what the edges really do (``web/app.py``, ``web/errors.py``,
``web/permissions.py``) — so no route has to repeat it:

- every error status has the one error shape (``ErrorOut``: ``error.code``,
  ``error.message``, ``error.request_id`` and, per code, ``fields`` / ``rows`` /
  ``checks``) and the ``X-Request-ID`` header; a 503 also ``Retry-After``;
- every operation may answer 500 ``internal_error`` and 503 (the database cannot do it
  now); one that needs a caller (its declared rule admits no one anonymous) 401 and 403;
  one that names something in its path, or writes, 404; a write 409; one with
  parameters or a body 422 (FastAPI's own ``HTTPValidationError`` never leaves: our
  handler answers in the error shape); one with a JSON body 400 (unparseable), 413 (too
  large) and 415 (not JSON);
- statuses a route declares itself (``responses=``) are kept, their schema made the
  error shape;
- every string a client sends (parameters and request bodies, through their components)
  says it holds no NUL (``not: {pattern: "[\\u0000]"}``), and so does every name in an
  input object (``propertyNames``), which ``web.nul_guard`` refuses with 422 — a string
  with its own pattern, enum or format already says what it holds.

``tests/web/test_fuzz_api.py`` runs schemathesis against this document: an answer with
an undocumented status, content type or body shape fails it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from onecard.pay.schemas import ErrorOut
from onecard.web.permissions import RULES, Who

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
REQUEST_ID = {
    "description": "the request's id (the client's own X-Request-ID when it sent a sane one)",
    "schema": {"type": "string"},
}
RETRY_AFTER = {"description": "seconds to wait before retrying", "schema": {"type": "string"}}
WRITES = ("post", "put", "patch", "delete")

WHY = {
    400: "the body could not be parsed (`malformed_body`)",
    401: "not signed in, or no valid terminal key (`auth_required`, `terminal_unauthorized`)",
    402: "refused by a business rule",
    403: "the caller's role or scope does not cover this (`forbidden`, `terminal_revoked`)",
    404: "no such object, or not the caller's to see (`not_found`, …)",
    409: "the state does not allow it, or an idempotency key was reused (`…_conflict`)",
    413: "the body is too large (`body_too_large`)",
    415: "the body must be application/json (`unsupported_media_type`)",
    422: "invalid input; `fields` names each bad field, `rows` each bad row of a file",
    500: "a bug: logged with the request id (`internal_error`)",
    503: "not now, nothing was done; retry (`service_unavailable`, …)",
}


def install(app: FastAPI) -> None:
    plain = app.openapi
    done: set[int] = set()  # FastAPI caches its document: complete each one once

    def completed() -> dict[str, Any]:
        schema = plain()
        if id(schema) not in done:
            complete(schema)
            done.add(id(schema))
        return schema

    app.openapi = completed  # type: ignore[method-assign]


def complete(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _error_schemas(components)
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                _complete_operation(path, method, op)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    _no_nul_in_inputs(schema, components)


def _error_schemas(components: dict[str, Any]) -> None:
    defs = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in defs.pop("$defs", {}).items():
        components[name] = sub
    components["ErrorOut"] = defs


def statuses(path: str, method: str, op: dict[str, Any]) -> set[int]:
    """The statuses the edges can give for this operation, besides its own."""
    rule = RULES.get((method.upper(), path))
    out = {500, 503}
    if rule is None or Who.ANYONE not in rule.whos():
        out |= {401, 403}
    if "{" in path or method in WRITES:
        out.add(404)
    if method in WRITES:
        out.add(409)
    if op.get("parameters") or "requestBody" in op:
        out.add(422)
    body = op.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        out |= {400, 413, 415}
    elif body:
        out.add(413)
    return out


def _complete_operation(path: str, method: str, op: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    for status in statuses(path, method, op) | {int(s) for s in responses if s.isdigit()}:
        if status < 400:
            continue
        answer = responses.setdefault(str(status), {"description": WHY.get(status, "error")})
        answer["content"] = {"application/json": {"schema": ERROR_REF}}
        headers = answer.setdefault("headers", {})
        headers["X-Request-ID"] = REQUEST_ID
        if status == 503:
            headers["Retry-After"] = RETRY_AFTER


NO_NUL = {"pattern": "[\\u0000]"}
REF_PREFIX = "#/components/schemas/"


def _no_nul_in_inputs(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Mark every input string as NUL-free (see the module docstring)."""
    seen: set[str] = set()
    roots: list[Any] = []
    for item in schema.get("paths", {}).values():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            roots.extend(p.get("schema") for p in op.get("parameters", ()))
            for media in op.get("requestBody", {}).get("content", {}).values():
                roots.append(media.get("schema"))
    stack = [r for r in roots if isinstance(r, dict)]
    while stack:
        node = stack.pop()
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            name = ref.removeprefix(REF_PREFIX)
            if name not in seen and name in components:
                seen.add(name)
                stack.append(components[name])
            continue
        if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(node):
            node["not"] = NO_NUL
        if node.get("type") == "object" and "propertyNames" not in node:
            node["propertyNames"] = {"not": NO_NUL}
        for key, value in node.items():
            if key == "not":
                continue
            if isinstance(value, dict):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, dict))
