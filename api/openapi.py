"""The OpenAPI description says what the API really sends: every error is a problem-details
document (``application/problem+json``); every keyed operation may answer 401, and 503 while a
database is away; an operation that changes something, 403 for a read key; one with path or
query parameters or a body, 422 for an invalid one; one with a body, 400 for a body that does
not parse, 413 for one over the size limit and 415 for one that is not JSON. ``/health``
answers its 503 in its own shape, which is documented as such."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM = "application/problem+json"
KEYED = {
    "401": "no API key, or an unknown or revoked one",
    "503": "a database did not answer; retry",
}
INVALID = {"422": "a parameter or the body is invalid; `field` names it"}
WRITES = {"403": "a read-only key cannot change anything"}
BODY = {
    "400": "the body does not parse: not JSON, or not UTF-8",
    "413": "the body is larger than the server's limit (ISANFARM_MAX_BODY_BYTES)",
    "415": "the body is not `application/json` (text, a form, none declared)",
}
OPEN_PATHS = {"/health"}
#: Operations whose 503 is their own report (`status` 'degraded'), not a problem document.
OWN_503 = {"/health", "/health/dependencies"}


def document_problems(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema()
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                _document(path, method, operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    has_body = "requestBody" in operation
    parameters = [p for p in operation.get("parameters", []) if p["in"] != "header"]
    extra: dict[str, str] = {}
    if path not in OPEN_PATHS:
        extra |= KEYED
    if parameters or has_body:
        extra |= INVALID
    if method != "get":
        extra |= WRITES
    if has_body:
        extra |= BODY
    for code, description in extra.items():
        responses.setdefault(code, {"description": description})
    if "422" in responses and "422" not in extra and not parameters and not has_body:
        del responses["422"]  # FastAPI's default, for an operation that cannot answer it
    for code, response in responses.items():
        if int(code) < 400:
            continue
        if code == "503" and path in OWN_503:
            own = response.get("content", {})
            if path not in OPEN_PATHS:  # the key check needs the registry
                own[PROBLEM] = {"schema": PROBLEM_REF}
            response["content"] = own
        else:
            response["content"] = {PROBLEM: {"schema": PROBLEM_REF}}
