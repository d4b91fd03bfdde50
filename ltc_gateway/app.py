"""The assembled service: the gateway's routes, reconciliation's API and the staff UI in one
Starlette application (``gateway.api.app.application``: the same middleware and problem answers
for all of them)."""

from __future__ import annotations

from starlette.applications import Starlette

from gateway.api.app import application, gateway_routes
from gateway.bootstrap import Gateway
from ltc_gateway.portal import pages as portal_pages
from reconciliation import api as reconciliation_api
from reconciliation.ui import pages as staff_pages
from reconciliation.ui.sessions import check_settings as check_staff_settings


def create_app(gateway: Gateway, *, embedded_workers: int | None = None) -> Starlette:
    """The API and the staff UI; with ``embedded_workers`` the same process also runs the fan-out
    (single machine)."""
    check_staff_settings(gateway.settings)
    routes = [*gateway_routes(), *reconciliation_api.routes, *staff_pages.routes, *portal_pages.routes]
    return application(gateway, routes, embedded_workers=embedded_workers)
