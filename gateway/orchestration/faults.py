"""How a worker rides out a database fault: it logs it, waits (doubling, capped) and goes on; the
claims it was advancing are resumed from their stored state, as after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger("ltc_gateway.worker")

FIRST_WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 30.0


def fault_wait(faults: int) -> float:
    """The wait after ``faults`` faults in a row."""
    return min(MAX_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2 ** min(max(0, faults - 1), 16))


async def wait_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    """Sleep, or less if the worker is asked to stop meanwhile."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def log_fault(what: str, error: BaseException, faults: int, **extra: str) -> float:
    """Log a database fault; the seconds to wait before trying again."""
    wait = fault_wait(faults)
    first_line = next(iter(str(error).splitlines()), "")  # SQLAlchemy adds the statement below
    log.warning(
        f"database fault while {what}; trying again in {wait:g} s",
        extra={**extra, "error": f"{type(error).__name__}: {first_line}"},
    )
    return wait
