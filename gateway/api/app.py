"""The gateway's HTTP routes and the Starlette application around routes: middleware, problem
answers, embedded workers. The assembled service (these routes with reconciliation's and the staff
UI's) is built in the composition root, ``ltc_gateway.app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.api import claim_batches, documents, openapi, ops, payer_openapi, simulations, v1, webhooks
from gateway.api.contract import contract
from gateway.api.headers import SecurityHeadersMiddleware
from gateway.api.limits import BodyLimitMiddleware, ControlCharacterMiddleware
from gateway.api.problems import database_unavailable, http_error, server_error, service_error
from gateway.bootstrap import Gateway
from gateway.errors import ServiceError
from gateway.observability import metrics
from gateway.observability.logging import RequestIdMiddleware
from gateway.orchestration.worker import Worker
from gateway.simulation import jobs
from gateway.storage.database import UNAVAILABLE


def gateway_routes() -> list[BaseRoute]:
    """The gateway's own routes: operations, metrics, the contract and its docs, v1, documents."""
    return [
        *ops.routes,
        Route("/metrics", contract(produces=("text/plain",))(metrics.metrics), methods=["GET"]),
        Route("/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/openapi/payer.json", payer_openapi.payer_openapi, methods=["GET"]),
        Route("/docs", openapi.docs, methods=["GET"]),
        # Swagger UI's files, from the installed bundle: nothing is fetched from the internet
        Mount("/docs/assets", StaticFiles(packages=[("swagger_ui", "static")]), name="docs-assets"),
        Mount("/static", StaticFiles(packages=[("gateway.api", "static")]), name="static"),
        *claim_batches.routes,  # before v1's /v1/claims/{claim_id}
        *v1.routes,
        *simulations.routes,
        *documents.routes,
        *webhooks.routes,
    ]


def application(
    gateway: Gateway, routes: Sequence[BaseRoute], *, embedded_workers: int | None = None
) -> Starlette:
    """An application serving ``routes``; with ``embedded_workers`` the same process also runs the
    fan-out (single machine)."""
    if embedded_workers is None:
        embedded_workers = gateway.settings.embedded_workers

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                Worker.from_settings(gateway.sessions, gateway.catalogue, gateway.settings).run(stop)
            )
            for _ in range(embedded_workers)
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await asyncio.to_thread(jobs.stop_all, gateway)  # simulations stop, stored as failed

    app = Starlette(
        routes=list(routes),
        middleware=[
            Middleware(SecurityHeadersMiddleware),  # outermost: on every answer, a 413 too
            Middleware(RequestIdMiddleware),
            Middleware(metrics.MetricsMiddleware),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=gateway.settings.max_body_bytes,
                larger={claim_batches.PATH: gateway.settings.max_batch_bytes},
            ),
            Middleware(ControlCharacterMiddleware),
        ],
        exception_handlers={
            ServiceError: service_error,
            HTTPException: http_error,
            **dict.fromkeys(UNAVAILABLE, database_unavailable),
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
