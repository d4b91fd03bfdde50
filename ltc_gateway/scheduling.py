"""The nightly reconciliation on a clock, for a single machine (``ltc-gateway schedule``); cron,
systemd timers or a Kubernetes CronJob can call ``ltc-gateway reconcile`` instead (deploy/).

Several schedulers may run (one per machine, or a restarted one): a business date is reconciled
once. The run row of the date is the lock — created once (a unique date) and leased while a run
works — so a second scheduler finds the date done, or busy, and leaves it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from gateway.bootstrap import Gateway
from gateway.domain.beijing_time import BEIJING
from gateway.errors import Conflict

log = logging.getLogger("ltc_gateway.schedule")


def reconcile_once(gateway: Gateway, business_date: date) -> str:
    """``ran``, or why not: ``done`` (another scheduler finished it) or ``busy`` (one is on it)."""
    from reconciliation.api import reconciliation_for

    try:
        reconciliation_for(gateway).run(business_date, rerun=False, actor="scheduler")
    except Conflict as conflict:
        return "done" if "already done" in conflict.detail else "busy"
    return "ran"


def next_time(now: datetime, at: time) -> datetime:
    """The next moment the clock (Beijing time) shows ``at``."""
    local = now.astimezone(BEIJING)
    candidate = datetime.combine(local.date(), at, BEIJING)
    return candidate if candidate > local else candidate + timedelta(days=1)


def run_schedule(
    gateway: Gateway,
    at: time,
    stop: threading.Event,
    now: Callable[[], datetime] = lambda: datetime.now(BEIJING),
) -> None:
    """Every day at ``at``, reconcile the business date that just ended (yesterday, Beijing)."""
    while not stop.is_set():
        due = next_time(now(), at)
        if stop.wait(max(0.0, (due - now()).total_seconds())):
            return
        business_date = due.date() - timedelta(days=1)
        try:
            outcome = reconcile_once(gateway, business_date)
            log.info(
                "scheduled reconciliation", extra={"business_date": str(business_date), "outcome": outcome}
            )
        except Exception:
            log.exception("scheduled reconciliation failed", extra={"business_date": str(business_date)})
