"""Webhook settings in the portal (``gateway.services.webhooks``, as ``/v1/webhooks``): the
provider's endpoints, adding one (its signing secret shown this once, on the answer page, never
kept in the session), deleting one, and an endpoint's delivery log."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.domain.webhooks import EVENT_TYPES
from gateway.errors import NotFound, ServiceError
from gateway.services import webhooks
from ltc_gateway.portal import web
from ltc_gateway.portal.claims import _problem, _within


async def _page(request: Request, status: int = 200, **values: Any) -> Response:
    principal = request.state.portal.principal
    listed = await _within(request, lambda s: webhooks.list_endpoints(s, principal))
    values.setdefault("form", {"url": "", "event_types": list(EVENT_TYPES)})
    return web.render(
        request, "webhooks.html", status=status, hooks=listed["webhooks"], events=EVENT_TYPES, **values
    )


async def webhooks_page(request: Request) -> Response:
    if await web.signed_in(request) is None:
        return web.to_login()
    return await _page(request)


async def add(request: Request) -> Response:
    signed = await web.signed_form(request)
    if isinstance(signed, Response):
        return signed
    principal, form = signed
    settings = request.app.state.gateway.settings
    body = {"url": str(form.get("url", "")).strip(), "event_types": [e for e in EVENT_TYPES if form.get(e)]}
    t = web.translator(web.lang(request))
    try:
        view = await _within(request, lambda s: webhooks.register(s, principal, body, settings))
    except ServiceError as error:
        return await _page(request, status=422, problem=_problem(error, t), form=body)
    return await _page(request, status=201, created=view, message=t("webhook_added"))


async def remove(request: Request) -> Response:
    signed = await web.signed_form(request)
    if isinstance(signed, Response):
        return signed
    principal, _ = signed
    webhook_id = request.path_params["webhook_id"]
    t = web.translator(web.lang(request))
    try:
        await _within(request, lambda s: webhooks.delete(s, principal, webhook_id))
    except NotFound:
        return web.render(request, "not_found.html", status=404)
    return await web.after(request, "/portal/webhooks", "message", t("webhook_deleted"))


async def deliveries(request: Request) -> Response:
    principal = await web.signed_in(request)
    if principal is None:
        return web.to_login()
    webhook_id = request.path_params["webhook_id"]
    query = [(k, v) for k, v in request.query_params.multi_items() if k == "cursor"]
    try:
        log = await _within(request, lambda s: webhooks.deliveries(s, principal, webhook_id, query))
    except ServiceError:
        return web.render(request, "not_found.html", status=404)
    return web.render(request, "deliveries.html", log=log)


routes = [
    Route("/portal/webhooks", webhooks_page, methods=["GET"]),
    Route("/portal/webhooks", add, methods=["POST"]),
    Route("/portal/webhooks/{webhook_id}/delete", remove, methods=["POST"]),
    Route("/portal/webhooks/{webhook_id}/deliveries", deliveries, methods=["GET"]),
]
