"""The OpenAPI 3.1 document, built from the table of operations (one source of the truth)."""

from __future__ import annotations

import re
from typing import Any

from backline import __version__
from backline.web.api.operations import OPERATIONS

__all__ = ["document"]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `field` names the field at fault, if one is.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
    "required": ["title", "status", "detail"],
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in operation.params.items()
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in operation.query.items()
        ]
        responses: dict[str, Any] = {
            "401": _problem("No valid bearer token"),
            "422": _problem("A value is not acceptable; `field` names it"),
            "503": _problem("The database cannot be reached"),
        }
        if operation.status == 204:
            responses["204"] = {"description": "Done"}
        else:
            responses[str(operation.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": operation.response or {}}},
            }
        if operation.params:
            responses["404"] = _problem("Not found")
        if operation.writes:
            responses["403"] = _problem("A read-only token may not change anything")
            responses["409"] = _problem("It conflicts with what is there")
        if operation.body is not None:
            responses["400"] = _problem("The body is not JSON")
            # Under `serve`, bodies over 64 KiB are refused before the API sees them, in plain
            # text; under `admin serve`, the API refuses bodies over 4 MiB itself.
            responses["413"] = {
                "description": "The body is too large",
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}
                    },
                },
            }
        entry: dict[str, Any] = {
            "operationId": operation.name,
            "summary": operation.summary,
            "tags": [operation.tag],
            "parameters": parameters,
            "responses": responses,
        }
        if operation.body is not None:
            schema = dict(operation.body)
            schema.setdefault("additionalProperties", False)
            if operation.required:
                schema["required"] = list(operation.required)
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
        paths.setdefault("/api" + operation.path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "backline",
            "version": __version__,
            "description": "Numbers, clients, channels, settings, the call log and the audit "
            "log of a backline service. Every change is recorded in the audit log.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def path_names(path: str) -> list[str]:
    return re.findall(r"{([a-z_]+)}", path)
