"""The OpenAPI 3.1 description, generated from the application's own routes: each endpoint's
contract (``gateway.api.contract``: roles, success status, request and response schemas, query
parameters, problem statuses, headers) and docstring. Request schemas are ``schemas/*.schema.json``
(examples in ``schemas/examples/``), answers ``schemas/responses/*.schema.json`` (examples inline);
JSON Schema 2020-12, which OpenAPI 3.1 takes as it is."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import schemas
from gateway import __version__
from gateway.api.contract import PATH_PARAMETERS, TITLES, WHY, Contract, of, problem_example, problems_for

# Routes that are not part of the API: the staff pages, static files, and the descriptions themselves.
NOT_DESCRIBED_PREFIXES = ("/ui", "/portal", "/static", "/docs", "/openapi")  # pages, not the API
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; errors[].pointer names each field at fault",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}
HEADERS = {
    "Idempotency-Replayed": {
        "description": "true when this is the kept answer of an earlier request with the same "
        "Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "seconds to wait before sending the same request again",
        "schema": {"type": "integer", "minimum": 1},
    },
    "Location": {
        "description": "where the created or started resource is read",
        "schema": {"type": "string"},
    },
    "X-Request-ID": {
        "description": "the request's id (the one sent, or a new one), in every log line about it",
        "schema": {"type": "string"},
    },
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Send the same key to retry safely: the same request replays the first answer "
    "(Idempotency-Replayed: true); the same key with another request is a 409. Keys belong to the "
    "caller's party and role. A refused request changed nothing and may be sent again under its key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


# a path never holds a control character (gateway.api.limits refuses one with 422)
ANY = {"type": "string", "minLength": 1, "pattern": "^[^\\u0000-\\u001f\\u007f]*$"}
TEXT_EXAMPLES = {  # answers that are not JSON: an example where it is short text
    "text/csv": "payer_code,claim_id,line_no,amount_fen,source\n",
    "text/plain": 'ltc_http_requests_total{method="POST",route="/v1/claims",status="202"} 1.0\n',
}


def describable(route: Any) -> bool:
    return isinstance(route, Route) and not route.path.startswith(NOT_DESCRIBED_PREFIXES)


def routes_of(routes: list[Any]) -> set[tuple[str, str]]:
    """Every (path, method) the application serves that the description must cover."""
    return {
        (route.path, method.lower())
        for route in routes
        if describable(route)
        for method in (route.methods or set()) - {"HEAD"}
    }


def rebase(node: Any, name: str) -> Any:
    """A contract as a component: its ``#/…`` references re-rooted where it now lives, and its
    references to sibling answers (``run.schema.json``) pointed at their components."""
    if isinstance(node, dict):
        result = {}
        for k, v in node.items():
            if k == "$ref" and v.startswith("#/"):
                result[k] = f"#/components/schemas/{name}/" + v[2:]
            elif k == "$ref" and v.endswith(".schema.json"):
                result[k] = "#/components/schemas/response." + v.removesuffix(".schema.json")
            else:
                result[k] = rebase(v, name)
        return result
    if isinstance(node, list):
        return [rebase(v, name) for v in node]
    return node


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    kept = {k: v for k, v in document.items() if k not in ("$schema", "$id", "examples")}
    result: dict[str, Any] = rebase(kept, name)
    return result


def request_examples(name: str) -> list[Any]:
    """schemas/examples/<name>.json: example request bodies for schemas/<name>.schema.json."""
    path = resources.files(schemas).joinpath("examples", f"{name}.json")
    if not path.is_file():
        return []
    found: list[Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def _success(c: Contract, idempotent: bool, used: set[str]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if c.response:
        document = schemas.load(f"responses/{c.response}")
        used.add(f"response.{c.response}")
        content["application/json"] = {
            "schema": {"$ref": f"#/components/schemas/response.{c.response}"},
            "example": document["examples"][0],
        }
    for media in c.produces:
        content[media] = {"schema": {"type": "string", "contentMediaType": media}}
        if media in TEXT_EXAMPLES:
            content[media]["example"] = TEXT_EXAMPLES[media]
    answers: dict[str, Any] = {}
    for n, status in enumerate(c.status):
        headers: dict[str, Any] = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
        if c.location and status in (201, 202):
            headers["Location"] = {"$ref": "#/components/headers/Location"}
        if idempotent:
            headers["Idempotency-Replayed"] = {"$ref": "#/components/headers/Idempotency-Replayed"}
        note = "" if n == 0 else " (also)"
        answers[str(status)] = {
            "description": f"{_meaning(status)}{note}",
            "headers": headers,
            "content": content,
        }
    return answers


def _meaning(status: int) -> str:
    return {
        200: "OK",
        201: "Created",
        202: "Accepted: the work goes on in the background",
        503: "Not ready",
    }.get(status, "success")


def operation_of(route: Route, method: str, c: Contract, used: set[str]) -> dict[str, Any]:
    endpoint = route.endpoint
    name = getattr(endpoint, "__name__", "endpoint")
    doc = (endpoint.__doc__ or name).strip()
    roles = sorted(str(r) for r in c.roles)
    path_params = re.findall(r"{(\w+)}", route.path)
    idempotent = c.idempotent and method == "post"
    parameters: list[dict[str, Any]] = [
        {
            "name": p,
            "in": "path",
            "required": True,
            "schema": dict(c.path.get(p) or PATH_PARAMETERS.get(p) or ANY),
        }
        for p in path_params
    ]
    parameters += [
        {"name": q, "in": "query", "required": False, "schema": dict(schema)} for q, schema in c.query.items()
    ]
    if idempotent:
        parameters.append({"$ref": "#/components/parameters/Idempotency-Key"})
    operation: dict[str, Any] = {
        "operationId": f"{name}_{method}" if len(route.methods or ()) > 2 else name,
        "tags": [route.path.split("/")[2] if route.path.startswith("/v1/") else "operations"],
        "summary": doc.splitlines()[0],
        "description": doc + (f"\n\nRoles: {', '.join(roles)}." if roles else "\n\nOpen to anyone."),
        "parameters": parameters,
        "responses": _success(c, idempotent, used),
    }
    for status in problems_for(c, path_params, method.upper()):
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/{status}"}
    if roles:
        operation["security"] = [{"bearer": []}]
    if c.body or c.media:
        content: dict[str, Any] = {}
        for kind in c.media or ("application/json",):
            if c.body and kind == "application/json":
                content[kind] = {"schema": {"$ref": f"#/components/schemas/{c.body}"}}
                examples = request_examples(c.body)
                if examples:
                    content[kind]["example"] = examples[0]
                used.add(c.body)
            else:
                content[kind] = {"schema": {"type": "string"}}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def describe(routes: list[Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for route in routes:
        if not describable(route):
            continue
        c = of(route.endpoint)
        if c is None:
            continue  # undescribed: the contract test names it
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = operation_of(route, method.lower(), c, used)
    for name in list(used):  # answers that refer to other answers
        if name.startswith("response."):
            text = json.dumps(schemas.load("responses/" + name.removeprefix("response.")))
            used |= {"response." + n for n in re.findall(r'"\$ref": "([\w-]+)\.schema\.json"', text)}
    components = {
        "problem": PROBLEM_SCHEMA,
        **{
            name: component(
                schemas.load(
                    name.replace("response.", "responses/", 1) if name.startswith("response.") else name
                ),
                name,
            )
            for name in sorted(used)
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ltc-gateway",
            "version": __version__,
            "description": "One assessment and one claim, coordinated across the tiers of long-term care. "
            "Authenticate with `Authorization: Bearer <api key>`; every error is application/problem+json. "
            "What a REST payer implements is described at /openapi/payer.json.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                str(status): {
                    "description": f"{TITLES[status]}: {WHY[status]}",
                    **(
                        {"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}}
                        if status == 503
                        else {}
                    ),
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/problem"},
                            "example": problem_example(status),
                        }
                    },
                }
                for status in sorted(WHY)
            },
            "parameters": {"Idempotency-Key": IDEMPOTENCY_KEY},
            "headers": HEADERS,
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


async def docs(request: Request) -> Response:
    """The interactive API reference (Swagger UI, served from the installed swagger-ui-py bundle)."""
    page = resources.files("gateway.api").joinpath("templates", "docs.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
