"""The OpenAPI description says what the API really sends: every error is a problem-details
document (``application/problem+json``), and every keyed operation may answer 401, 403 for a
change made with a read key, 422 for a bad request and 503 while a database is away."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
COMMON = {
    "401": "no API key, or an unknown or revoked one",
    "422": "a parameter or the body is invalid; `field` names it",
    "503": "a database did not answer; retry",
}
OPEN_PATHS = {"/health"}


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
                _document(operation, keyed=path not in OPEN_PATHS, writes=method != "get")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(operation: dict[str, Any], keyed: bool, writes: bool) -> None:
    responses = operation.setdefault("responses", {})
    extra = dict(COMMON) if keyed else {"422": COMMON["422"]}
    if writes:
        extra["403"] = "a read-only key cannot change anything"
    for code, description in extra.items():
        responses.setdefault(code, {"description": description})
    for code, response in responses.items():
        if int(code) >= 400:
            response["content"] = {"application/problem+json": {"schema": PROBLEM_REF}}
