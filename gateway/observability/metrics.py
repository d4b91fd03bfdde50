"""Prometheus metrics: HTTP requests and latencies, payer call outcomes (counted where they
happen), and gauges read from the database at scrape time (claims by state, queue depth, open
mismatches), so every API process reports the same shared state."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from gateway.asgi_middleware import HttpMiddleware
from gateway.storage.database import UNAVAILABLE
from gateway.storage.tables import ClaimRow, MismatchRow, OutboxRow, PayerStepRow

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "ltc_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=REGISTRY
)
HTTP_SECONDS = Histogram(
    "ltc_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PAYER_CALLS = Counter(
    "ltc_payer_calls",
    "Calls to payers through their adapters",
    ["payer", "operation", "outcome"],
    registry=REGISTRY,
)


def payer_call(payer_code: str, operation: str, outcome: str) -> None:
    """outcome: ok, transient, permanent."""
    PAYER_CALLS.labels(payer_code, operation, outcome).inc()


WEBHOOK_DELIVERIES = Counter(
    "ltc_webhook_deliveries", "Webhook deliveries to providers' endpoints", ["outcome"], registry=REGISTRY
)


def webhook_delivery(outcome: str) -> None:
    """outcome: delivered, failed (retried later), refused (a private target), dead."""
    WEBHOOK_DELIVERIES.labels(outcome).inc()


class DatabaseCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterable[Any]:
        claims = GaugeMetricFamily("ltc_claims", "Claims by status", labels=["status"])
        steps = GaugeMetricFamily(
            "ltc_payer_steps", "Payer steps of current rounds by status", labels=["status"]
        )
        outbox = GaugeMetricFamily("ltc_outbox_messages", "Messages to payers by status", labels=["status"])
        due = GaugeMetricFamily("ltc_queue_depth", "Claims waiting for a worker (due now)")
        mismatches = GaugeMetricFamily(
            "ltc_reconciliation_mismatches", "Work queue items by kind and status", labels=["kind", "status"]
        )
        up = GaugeMetricFamily("ltc_database_up", "Whether the database answered this scrape")
        try:
            self._read(claims, steps, outbox, due, mismatches)
        except UNAVAILABLE:  # the process's own metrics still answer, and say so
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, claims, steps, outbox, due, mismatches)

    def _read(
        self,
        claims: GaugeMetricFamily,
        steps: GaugeMetricFamily,
        outbox: GaugeMetricFamily,
        due: GaugeMetricFamily,
        mismatches: GaugeMetricFamily,
    ) -> None:
        with self.sessions.begin() as session:
            for status, n in session.execute(select(ClaimRow.status, func.count()).group_by(ClaimRow.status)):
                claims.add_metric([status], n)
            current = select(PayerStepRow.status, func.count()).join(
                ClaimRow,
                (ClaimRow.claim_id == PayerStepRow.claim_id) & (ClaimRow.round == PayerStepRow.round),
            )
            for status, n in session.execute(current.group_by(PayerStepRow.status)):
                steps.add_metric([status], n)
            for status, n in session.execute(
                select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
            ):
                outbox.add_metric([status], n)
            waiting = session.scalar(
                select(func.count())
                .select_from(ClaimRow)
                .where(ClaimRow.status.in_(("received", "coordinating")), ClaimRow.lease_owner.is_(None))
            )
            due.add_metric([], waiting or 0)
            grouped = select(MismatchRow.kind, MismatchRow.status, func.count()).group_by(
                MismatchRow.kind, MismatchRow.status
            )
            for kind, status, n in session.execute(grouped):
                mismatches.add_metric([kind, status], n)


def route_of(app: Any, scope: Scope) -> str:
    """The route template (``/v1/claims/{claim_id}``), so label values stay few. A path that is
    its own template (no parameters: ``/v1/claims``) is remembered by the app, so the busiest
    routes are not matched against every route again on each request."""
    known: dict[tuple[str, str], str] = _STATIC.setdefault(app, {}) if app is not None else {}
    at = (scope.get("method", ""), scope.get("path", ""))
    if at in known:
        return known[at]
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            path = str(getattr(route, "path", "other"))
            if path == at[1]:  # as few as the app's routes without parameters
                known[at] = path
            return path
    return "unmatched"


_STATIC: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], str]] = weakref.WeakKeyDictionary()


class MetricsMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_of(scope.get("app"), scope)
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - started)


def exposition(sessions: sessionmaker[Session]) -> bytes:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(sessions))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # `serve --workers N`: every process writes its counters to files there; a scrape, whichever
        # process answers it, adds them all up (else successive scrapes alternate 7 / 13).
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)
        return generate_latest(shared) + generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(registry)


async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    from starlette.concurrency import run_in_threadpool

    body = await run_in_threadpool(exposition, request.app.state.gateway.sessions)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
