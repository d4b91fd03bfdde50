"""The OpenAPI 3.1 description, generated from the application's own routes: each endpoint's
roles, docstring and request schema (``schemas/*.schema.json``, JSON Schema 2020-12, which
OpenAPI 3.1 takes as it is), with the problem+json answers every endpoint may give."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import schemas
from gateway import __version__

E = TypeVar("E")

PROBLEM = {
    "description": "RFC 9457 problem details naming the field",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/problem"}}},
}
BINARY = {"type": "string", "format": "binary"}  # a document answer (PDF, HTML, XLSX, CSV)
SUCCESS = {"GET": "200", "PUT": "200", "POST": "200"}
CREATED = {"post_provider", "post_assessment", "post_statement", "post_rerun", "post_batch"}
ACCEPTED = {"post_claim"}
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


def documented(
    *, answer: str | None = None, query: str | None = None, omit: tuple[str, ...] = ()
) -> Callable[[E], E]:
    """Describe more of an endpoint than its route tells: ``answer`` names the JSON Schema of its
    success body (its ``examples`` become the response's example); ``query``, a schema whose
    properties (but ``omit``) are its query parameters."""

    def mark(endpoint: E) -> E:
        endpoint.answer_schema = answer  # type: ignore[attr-defined]
        endpoint.query_schema = (query, omit)  # type: ignore[attr-defined]
        return endpoint

    return mark


def _query_parameters(name: str, omit: tuple[str, ...]) -> list[dict[str, Any]]:
    properties = schemas.load(name)["properties"]
    return [
        {
            "name": key,
            "in": "query",
            "required": False,
            "description": spec.get("description", ""),
            "schema": {k: v for k, v in spec.items() if k != "description"},
        }
        for key, spec in properties.items()
        if key not in omit
    ]


def _schema(name: str) -> dict[str, Any]:
    """A contract as a component: its own ``#/$defs/…`` references re-rooted where it now lives."""

    def rebase(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    f"#/components/schemas/{name}/" + v[2:]
                    if k == "$ref" and v.startswith("#/")
                    else rebase(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rebase(v) for v in node]
        return node

    result: dict[str, Any] = rebase(
        {k: v for k, v in schemas.load(name).items() if k not in ("$schema", "$id")}
    )
    return result


# a path never holds a control character (gateway.api.limits refuses one with 422)
PATH_PARAMETER = {"type": "string", "minLength": 1, "pattern": "^[^\\u0000-\\u001f\\u007f]*$"}


def describe(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for route in routes:
        if (
            not isinstance(route, Route)
            or route.path.startswith("/ui")
            or route.path in ("/openapi.json", "/docs")
        ):
            continue
        endpoint = route.endpoint
        roles = sorted(str(r) for r in getattr(endpoint, "roles", ()))
        body = getattr(endpoint, "body_schema", None)
        media = getattr(endpoint, "body_media", ())
        for method in sorted((route.methods or set()) - {"HEAD"}):
            name = getattr(endpoint, "__name__", "endpoint")
            doc = (endpoint.__doc__ or name).strip()
            status = "201" if name in CREATED else "202" if name in ACCEPTED else SUCCESS[method]
            operation: dict[str, Any] = {
                "operationId": f"{name}_{method.lower()}" if len(route.methods or ()) > 2 else name,
                "summary": doc.splitlines()[0],
                "description": doc + (f"\n\nRoles: {', '.join(roles)}." if roles else "\n\nOpen to anyone."),
                "parameters": [
                    {"name": p, "in": "path", "required": True, "schema": PATH_PARAMETER}
                    for p in re.findall(r"{(\w+)}", route.path)
                ]
                + [
                    {"name": q, "in": "query", "required": False, "schema": schema, "description": text}
                    for q, schema, text in getattr(endpoint, "query_parameters", ())
                ],
                "responses": {
                    status: {
                        "description": "success",
                        "content": {
                            kind: {"schema": {"type": "object"} if kind == "application/json" else BINARY}
                            for kind in getattr(endpoint, "response_media", ("application/json",))
                        },
                    },
                    "default": PROBLEM,
                },
            }
            answer = getattr(endpoint, "answer_schema", None)
            if answer:
                used.add(answer)
                success: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{answer}"}}
                if schemas.load(answer).get("examples"):
                    success["example"] = schemas.load(answer)["examples"][0]
                operation["responses"][status]["content"]["application/json"] = success
            query, omit = getattr(endpoint, "query_schema", (None, ()))
            if query:
                operation["parameters"].extend(_query_parameters(query, omit))
                operation["responses"]["400"] = PROBLEM
            if roles:
                operation["security"] = [{"bearer": []}]
                operation["responses"]["401"] = PROBLEM
                operation["responses"]["403"] = PROBLEM
            if body or media:
                content: dict[str, Any] = {}
                for kind in media or ("application/json",):
                    content[kind] = (
                        {"schema": {"$ref": f"#/components/schemas/{body}"}}
                        if body and kind == "application/json"
                        else {"schema": {"type": "string"}}
                    )
                if body:
                    used.add(body)
                operation["requestBody"] = {"required": True, "content": content}
                operation["responses"]["422"] = PROBLEM
            paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ltc-gateway",
            "version": __version__,
            "description": "One assessment and one claim, coordinated across the tiers of long-term care.",
        },
        "paths": paths,
        "components": {
            "schemas": {"problem": PROBLEM_SCHEMA, **{name: _schema(name) for name in sorted(used)}},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an ltc-gateway API key"}
            },
        },
    }


def _cached(app: Any) -> dict[str, Any]:
    """Described once per application: routes do not change while it runs."""
    if getattr(app.state, "openapi", None) is None:
        app.state.openapi = describe(list(app.routes))
    spec: dict[str, Any] = app.state.openapi
    return spec


async def openapi(request: Request) -> Response:
    """This description."""
    return JSONResponse(_cached(request.app))


pages = Environment(loader=PackageLoader("gateway.api", "templates"), autoescape=select_autoescape(["html"]))


async def docs(request: Request) -> Response:
    """The API reference, rendered from the OpenAPI description (no script, no external asset)."""
    spec = _cached(request.app)
    html = pages.get_template("docs.html").render(
        spec=spec, pretty=lambda v: json.dumps(v, ensure_ascii=False, indent=2)
    )
    return HTMLResponse(html)
