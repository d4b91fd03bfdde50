"""The runs page: recent nights with their counts and per-payer totals, and starting a run,
which works in the background (as the API's does) while its page shows the phase and progress
until it is done; in the line-by-line phase, the lines done of its lines (``run_lines``: on
PostgreSQL in the run's row, so any process serving the page shows them)."""

from __future__ import annotations

import logging
import threading
from datetime import date
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.audit import actor_of
from gateway.errors import Invalid, ServiceError
from gateway.storage.tables import ReconciliationRunRow
from reconciliation.matching import MismatchKind
from reconciliation.report import run_view
from reconciliation.run_lines import LINES
from reconciliation.ui.chart import chart
from reconciliation.ui.i18n import refusal, translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import after as _after
from reconciliation.ui.signin import current_principal as _principal
from reconciliation.ui.signin import signed_form as _signed_form

log = logging.getLogger("ltc_gateway.reconciliation")


def _payer_totals(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest finished run's totals per payer, with their sum."""
    for run in runs:
        if run["status"] == "done" and run["totals"]:
            rows = run["totals"]
            keys = ("expected_fen", "settled_fen", "difference_fen")
            return [*rows, {"payer_code": None, **{k: sum(r[k] for r in rows) for k in keys}}]
    return []


async def runs_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            rows = session.scalars(
                select(ReconciliationRunRow).order_by(ReconciliationRunRow.business_date.desc()).limit(30)
            )
            return [run_view(r) for r in rows]

    runs = await run_in_threadpool(load)
    totals = _payer_totals(runs)
    return _render(
        request,
        "runs.html",
        principal,
        runs=runs,
        kinds=[k.value for k in MismatchKind],
        chart=chart(list(reversed(runs)), translator(_lang(request))),
        today=gateway.today().isoformat(),
        payer_totals=totals,
        totals_date=next((r["business_date"] for r in runs if r["status"] == "done" and r["totals"]), None),
    )


async def start_run(request: Request) -> Response:
    """The run is leased here (so a date already running is refused at once) and works on in a
    thread; the answer is its progress page."""
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    from reconciliation.api import reconciliation_for

    lang = _lang(request)
    try:
        day = date.fromisoformat(form.get("business_date", "").strip())
    except ValueError:
        return await _after(request, "/ui/", "problem", refusal(Invalid([("/business_date", "")]), lang))
    reconciliation = reconciliation_for(request.app.state.gateway)
    actor = actor_of(principal)
    try:
        await run_in_threadpool(reconciliation.start, day, actor=actor)
    except ServiceError as error:
        return await _after(request, "/ui/", "problem", refusal(error, lang))

    engine = request.app.state.gateway.engine

    def lines(phase: str, done: int, of: int) -> None:
        LINES.report(engine, day, phase, done, of)

    def work() -> None:
        try:
            reconciliation.run(day, actor=actor, lines=lines)
        except Exception:  # the run row records the failure; its page shows it
            log.exception("the run for %s started from the console failed", day)
        finally:
            LINES.forget(day)

    threading.Thread(target=work, daemon=True, name=f"reconcile-{day}").start()
    text = translator(lang)("run_started", date=day.isoformat())
    return await _after(request, f"/ui/runs/{day.isoformat()}", "message", text)


async def run_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway
    try:
        day = date.fromisoformat(request.path_params["day"])
    except ValueError:
        return RedirectResponse("/ui/", status_code=303)

    def load() -> dict[str, Any] | None:
        with gateway.sessions.begin() as session:
            row = session.scalar(
                select(ReconciliationRunRow).where(ReconciliationRunRow.business_date == day)
            )
            return run_view(row) if row else None

    run = await run_in_threadpool(load)
    if run is None:
        return RedirectResponse("/ui/", status_code=303)
    working = run["status"] == "running"
    return _render(
        request,
        "run.html",
        principal,
        run=run,
        refresh=working,
        kinds=[k.value for k in MismatchKind],
        rows=_rows_done(run),
        lines=LINES.of(day, run),
        payer_totals=_payer_totals([run]),
    )


def _rows_done(run: dict[str, Any]) -> int | None:
    """Rows the run has worked through so far: the payer-line keys classified, once known."""
    kinds = run["counts"].get("kinds")
    return sum(kinds.values()) if kinds else None
