"""Which business dates a reconciliation may run for.

A run reads the ledger up to its date and a settlement window before it; a date far outside the
data has nothing to reconcile, and one near the calendar's ends made that date arithmetic raise
OverflowError (a server error on the API, a traceback on the command line). The range: from
``EARLIEST`` (before the first long-term care pilots of 2016, so before any data the gateway can
hold) to the day after today's settlements fall due (Beijing today + the settlement window + 1,
the date ``reconcile generate`` plants its night on): a later date would see no more than that
one does."""

from __future__ import annotations

from datetime import date, timedelta

from gateway.domain.model import Fault

EARLIEST = date(2000, 1, 1)


def latest_business_date(today: date, window_days: int) -> date:
    """``today``: the Beijing date now."""
    return today + timedelta(days=window_days + 1)


def business_date_faults(
    day: date, today: date, window_days: int, pointer: str = "/business_date"
) -> list[Fault]:
    latest = latest_business_date(today, window_days)
    if day < EARLIEST or day > latest:
        return [
            (pointer, f"must lie from {EARLIEST} to {latest} (today in Beijing + the window + 1), not {day}")
        ]
    return []
