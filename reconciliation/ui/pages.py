"""The staff pages. A reconciler signs in with their own API key, which opens a server-side
session (``reconciliation.ui.sessions``: the cookie holds a random token, never the key); every
form carries a CSRF token and every POST is checked for it and for our origin. Every page and
action goes through the same use cases as the API (``reconciliation.queue``,
``reconciliation.run``). Messages after an action travel in the session, never in the URL.

The runs pages are ``reconciliation.ui.run_pages``; the work queue's, ``queue_pages``; its
exports, ``exports``."""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from reconciliation.ui import batch_pages, bureau_pages, fund_pages, oversight_pages, routing_pages, signin
from reconciliation.ui import simulation as simulation_pages
from reconciliation.ui.exports import queue_csv, queue_xlsx
from reconciliation.ui.queue_pages import bulk_resolve, mismatch_page, queue_page, resolve
from reconciliation.ui.run_pages import run_page, runs_page, start_run

routes = [
    *signin.routes,
    Route("/ui/", runs_page, methods=["GET"]),
    Route("/ui/runs", start_run, methods=["POST"]),
    Route("/ui/runs/{day}", run_page, methods=["GET"]),
    Route("/ui/queue", queue_page, methods=["GET"]),
    Route("/ui/queue.csv", queue_csv, methods=["GET"]),
    Route("/ui/queue.xlsx", queue_xlsx, methods=["GET"]),
    Route("/ui/queue/resolve", bulk_resolve, methods=["POST"]),
    Route("/ui/mismatches/{id}", mismatch_page, methods=["GET"]),
    Route("/ui/mismatches/{id}/resolve", resolve, methods=["POST"]),
    *batch_pages.routes,
    *simulation_pages.routes,
    *bureau_pages.routes,
    *fund_pages.routes,
    *oversight_pages.routes,
    *routing_pages.routes,
    Mount("/ui/static", StaticFiles(packages=[("reconciliation.ui", "static")]), name="staff-static"),
]
