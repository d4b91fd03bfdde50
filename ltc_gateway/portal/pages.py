"""The portal's routes, mounted by the composition root (``ltc_gateway.app``)."""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ltc_gateway.portal import batches, claims, signin, webhooks

routes = [
    Route("/portal/login", signin.login_page, methods=["GET"]),
    Route("/portal/login", signin.login, methods=["POST"]),
    Route("/portal/logout", signin.logout, methods=["POST"]),
    *claims.routes,
    *batches.routes,
    *webhooks.routes,
    Mount("/portal/static", StaticFiles(packages=[("ltc_gateway.portal", "static")]), name="portal-static"),
]
