"""A provider's webhooks (docs/webhooks.md): its endpoints, their delivery logs, replays."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.endpoint import Call, endpoint
from gateway.domain.numbers import INT32
from gateway.services import webhooks
from gateway.services.keys import Role

WEBHOOK_ID = {
    "webhook_id": {"type": "integer", "minimum": 1, "maximum": INT32, "description": "a webhook's id"}
}
DELIVERY_ID = {
    "delivery_id": {"type": "integer", "minimum": 1, "maximum": INT32, "description": "a delivery's id"}
}
PAGE = {
    "limit": {
        "type": "integer",
        "minimum": 1,
        "maximum": webhooks.MAX_LIMIT,
        "default": webhooks.DEFAULT_LIMIT,
    },
    "cursor": {
        "type": "string",
        "pattern": "^[0-9]{1,10}$",
        "description": "the previous page's next_cursor",
    },
}


@endpoint(Role.PROVIDER, body="webhook", status=201, response="webhook", answers=(409,), location=True)
def post_webhook(call: Call) -> Response:
    """Register a webhook endpoint for the provider's claim events; the answer holds its signing
    secret, shown this once. At most LTC_WEBHOOK_MAX_ENDPOINTS live endpoints (409 beyond)."""
    view = webhooks.register(call.session, call.principal, call.body, call.gateway.settings)
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/webhooks/{view['webhook_id']}"})


@endpoint(Role.PROVIDER, response="webhooks")
def get_webhooks(call: Call) -> Response:
    """The provider's live webhook endpoints (never their secrets)."""
    return JSONResponse(webhooks.list_endpoints(call.session, call.principal))


@endpoint(Role.PROVIDER, response="webhook", path=WEBHOOK_ID)
def delete_webhook(call: Call) -> Response:
    """Delete a webhook endpoint: nothing more is sent to it; its delivery log stays readable.
    Deleting it again answers the same."""
    return JSONResponse(webhooks.delete(call.session, call.principal, call.param("webhook_id")))


@endpoint(Role.PROVIDER, response="webhook-deliveries", path=WEBHOOK_ID, query=PAGE, answers=(400,))
def get_webhook_deliveries(call: Call) -> Response:
    """An endpoint's delivery log, newest first: event, attempts, last status code, next attempt,
    dead-lettered; a page at a time (follow ``next_cursor``)."""
    query = call.request.query_params.multi_items()
    return JSONResponse(webhooks.deliveries(call.session, call.principal, call.param("webhook_id"), query))


@endpoint(Role.PROVIDER, status=201, response="webhook-delivery", path=DELIVERY_ID, answers=(409,))
def post_replay(call: Call) -> Response:
    """Send a sent or dead-lettered delivery again (the same event id): a new delivery, due now."""
    return JSONResponse(
        webhooks.replay(call.session, call.principal, call.param("delivery_id")), status_code=201
    )


routes = [
    Route("/v1/webhooks", post_webhook, methods=["POST"]),
    Route("/v1/webhooks", get_webhooks, methods=["GET"]),
    Route("/v1/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
    Route("/v1/webhooks/{webhook_id}/deliveries", get_webhook_deliveries, methods=["GET"]),
    Route("/v1/webhooks/deliveries/{delivery_id}/replay", post_replay, methods=["POST"]),
]
