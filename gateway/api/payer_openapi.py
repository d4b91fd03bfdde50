"""The payer side's OpenAPI description (``/openapi/payer.json``): what a REST payer implements
for the bundled REST adapter (``adapters.rest``), at its default paths and with the gateway's
field names (a payer file may rename both). Its message schemas are generated from the SDK's wire
dataclasses (``adapters.wire_schema``), so they cannot drift from what the adapter sends."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters import wire_schema
from adapters.payer_http import RETRYABLE
from adapters.rest import DEFAULT_PATHS
from gateway import __version__

ERRORS = {
    "409": "The Idempotency-Key was used with another body: refused, the step is dead-lettered (permanent).",
    "4XX": "Any other 4xx is permanent: the step is dead-lettered for a person to look at.",
    "5XX": f"Transient, like {', '.join(str(s) for s in sorted(RETRYABLE))}: retried with the same key.",
}
KEY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "The message's idempotency_key: the same on every retry of a step. The same key with "
    "the same body must get the same answer; with another body, a 409.",
    "schema": {"type": "string", "minLength": 1},
}


def _answers(ok: dict[str, Any]) -> dict[str, Any]:
    free = {"description": "", "content": {"application/json": {"schema": {}}}}
    return {"200": ok, **{status: {**free, "description": why} for status, why in ERRORS.items()}}


def _post(summary: str, message: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": message.replace("-", "_"),
            "summary": summary,
            "parameters": [KEY_HEADER],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{message}"},
                        "example": wire_schema.EXAMPLES[message],
                    }
                },
            },
            "responses": _answers(ok),
        }
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema}"},
                "example": wire_schema.EXAMPLES[schema],
            }
        },
    }


ACKNOWLEDGED = {
    "description": "Received (any 2xx; the body, if any, is not read)",
    "content": {"application/json": {"schema": {"type": "object"}, "example": {"accepted": True}}},
}


def describe() -> dict[str, Any]:
    decision = _json(
        "decision", "The payer's decision: decided now, or pending (asked again, or called back)"
    )
    paths = {
        DEFAULT_PATHS["shares"]: _post("Adjudicate one payer's share of a claim", "share-request", decision),
        DEFAULT_PATHS["decision"]: {
            "get": {
                "operationId": "fetch_decision",
                "summary": "The decision on a share sent earlier (polled while it is pending)",
                "parameters": [
                    {"name": "idempotency_key", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": _answers(decision),
            }
        },
        DEFAULT_PATHS["assessments"]: _post(
            "A notice of assessment: sent once to every payer the member is covered by",
            "assessment-notice",
            ACKNOWLEDGED,
        ),
        DEFAULT_PATHS["adjustments"]: _post(
            "A revision's adjustment notice: top-ups (+) and recoveries (−) per line for this payer",
            "adjustment-notice",
            ACKNOWLEDGED,
        ),
        DEFAULT_PATHS["voids"]: _post(
            "A void notice: the provider withdrew the claim; what this payer paid is recovered per line and "
            "month, and a fixed-benefit month that another live claim covers is named as moved to it",
            "void-notice",
            ACKNOWLEDGED,
        ),
        DEFAULT_PATHS["statement"]: {
            "get": {
                "operationId": "pull_statement",
                "summary": "The payer's settlement statement of a business date (for reconciliation)",
                "parameters": [
                    {
                        "name": "business_date",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "date"},
                    }
                ],
                "responses": _answers(_json("statement", "What the payer settled on that date")),
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ltc-gateway: what a REST payer implements",
            "version": __version__,
            "description": "The endpoints the gateway's REST adapter calls on a payer, with the gateway's "
            "default paths and field names; a payer file's `paths` and `field_map` adapt both. Money is "
            "integer fen. Authentication is the payer's choice (bearer, a header, or basic; the secret "
            "from the gateway's environment). Check an endpoint with `ltc-gateway adapter-check PAYER`.\n\n"
            "A claim's revision reaches a payer as a new share (its next `round`) and, for what was "
            "already paid, an adjustment notice. A claim its provider withdraws reaches every payer "
            "that was asked for a share as a void notice (what it paid, recovered per line). A fixed-benefit "
            "month granted through the withdrawn claim that another live claim of the member covers is not "
            "recovered: the notice's `fixed_moved` names the claim that holds it from now on, and the payer "
            "grants that month to no other claim (one it grants again anyway is set aside, not paid, and "
            "flagged for the bureau).",
        },
        "servers": [{"url": "https://payer.example/ltc", "description": "the payer's base_url"}],
        "paths": paths,
        "components": {"schemas": wire_schema.schemas()},
    }


async def payer_openapi(request: Request) -> Response:
    """The payer side's description."""
    if getattr(request.app.state, "payer_openapi", None) is None:
        request.app.state.payer_openapi = describe()
    return JSONResponse(request.app.state.payer_openapi)
