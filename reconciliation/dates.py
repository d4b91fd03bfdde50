"""Which business dates a reconciliation may run for.

A run reads the ledger up to its date and a settlement window before it; a date far outside the
data has nothing to reconcile, and one near the calendar's ends made that date arithmetic raise
OverflowError (a server error on the API, a traceback on the command line). The range: from
``EARLIEST`` (before the first long-term care pilots of 2016, so before any data the gateway can
hold) to ``AHEAD`` after today in Beijing. A claim does not end in the future, so a run ahead of
today only looks at expectations falling due (``reconcile generate`` plants its night
``LTC_SETTLEMENT_WINDOW_DAYS`` + 1 days ahead, and tests walk nights on from there); a year is
ample for that and still refuses a date no data can belong to."""

from __future__ import annotations

from datetime import date, timedelta

from gateway.domain.model import Fault

EARLIEST = date(2000, 1, 1)
AHEAD = timedelta(days=366)


def business_date_faults(day: date, today: date, pointer: str = "/business_date") -> list[Fault]:
    """``today``: the Beijing date now."""
    latest = today + AHEAD
    if day < EARLIEST or day > latest:
        return [(pointer, f"must lie from {EARLIEST} to {latest} (a year from today in Beijing), not {day}")]
    return []
