"""Calling payers through their adapters, outside any database transaction.

Transient faults are retried in place (exponential backoff with jitter, bounded), always
with the step's stored request and idempotency key; what is still failing after that is handed
back to the state machine, which waits for a later lease or dead-letters the step. An error an
adapter was not meant to raise (a bug, a body its library refuses) is such a failure too: it counts
as an attempt and is not retried in place, so it ends in the dead-letter state, never in a loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from adapters.registry import AdapterPool
from adapters.sdk import (
    AdapterError,
    AdjustmentNotice,
    AssessmentNotice,
    PayerAdapter,
    PermanentError,
    ReversalNotice,
    Reverses,
    ShareRequest,
    TransientError,
    VoidNotice,
)
from gateway.observability.metrics import payer_call
from gateway.orchestration.steps import Outcome, PayerCall, RetryPolicy

log = logging.getLogger("ltc_gateway.payers")
T = TypeVar("T")


class PayerCalls:
    def __init__(self, pool: AdapterPool, policy: RetryPolicy) -> None:
        self.pool = pool
        self.policy = policy

    async def _retrying(
        self, party: str, what: str, attempt: Callable[[], Awaitable[T]], budget: int | None = None
    ) -> tuple[T | None, Exception | None, int]:
        """The result, or the error that was not worth (or no longer worth) retrying; calls made.
        ``budget``: the most calls to make now (what is left of a step's attempts)."""
        calls = 0
        limit = max(
            1,
            self.policy.attempts_per_lease if budget is None else min(budget, self.policy.attempts_per_lease),
        )
        try:
            while True:
                calls += 1
                try:
                    result = await attempt()
                except TransientError:
                    payer_call(party, what, "transient")
                    if calls >= limit:
                        raise
                    await asyncio.sleep(self._backoff(calls))
                    continue
                except PermanentError:
                    payer_call(party, what, "permanent")
                    raise
                payer_call(party, what, "ok")
                return result, None, calls
        except AdapterError as error:
            log.warning(
                "payer call failed", extra={"payer_code": party, "operation": what, "error": str(error)}
            )
            return None, error, calls
        except Exception as error:  # not the adapter contract: an attempt that failed, not retried now
            payer_call(party, what, "error")
            log.warning(
                "payer call failed unexpectedly",
                extra={"payer_code": party, "operation": what, "error": f"{type(error).__name__}: {error}"},
            )
            return None, error, max(1, calls)

    def _backoff(self, failed: int) -> float:
        """The wait after ``failed`` calls: exponential with jitter, bounded (tenacity's
        ``wait_exponential_jitter``, written out: building a tenacity retrier for every call cost
        more CPU than the call's client)."""
        policy = self.policy
        try:
            wait = policy.initial_seconds * 2 ** (failed - 1) + random.uniform(0, policy.initial_seconds)
        except OverflowError:
            wait = policy.max_seconds
        return max(0.0, min(wait, policy.max_seconds))

    async def step(self, call: PayerCall) -> Outcome:
        """Submit a share (or fetch a pending decision) and say what came back."""
        try:
            adapter = self.pool.get(call.party, call.adapter)
            request = ShareRequest.from_wire(call.request)
        except Exception as error:  # AdapterError, or a stored request this adapter cannot read
            return Outcome(error=error, calls=1)
        if call.operation == "fetch":
            decision, failure, calls = await self._retrying(
                call.party, "fetch_decision", lambda: adapter.fetch_decision(call.idempotency_key)
            )
        else:
            decision, failure, calls = await self._retrying(
                call.party,
                "submit_share",
                lambda: adapter.submit_share(request),
                self.policy.max_attempts - call.attempts,
            )
        return Outcome(decision=decision, error=failure, calls=calls)

    async def deliver(
        self, kind: str, party: str, adapter_config: dict[str, Any] | None, payload: dict[str, Any]
    ) -> tuple[Exception | None, int]:
        """Deliver an outbox message: the error if it did not get through, and the calls made."""
        try:
            adapter: PayerAdapter = self.pool.get(party, adapter_config)
            if kind == "assessment":
                notice = AssessmentNotice(**payload)
                _, failure, calls = await self._retrying(
                    party, "deliver_assessment", lambda: adapter.deliver_assessment(notice)
                )
            elif kind == "adjustment":
                adjustment = AdjustmentNotice(**{**payload, "lines": tuple(payload["lines"])})
                _, failure, calls = await self._retrying(
                    party, "submit_adjustment", lambda: adapter.submit_adjustment(adjustment)
                )
            elif kind == "void":
                withdrawn = VoidNotice.from_wire(payload)
                _, failure, calls = await self._retrying(
                    party, "submit_void", lambda: adapter.submit_void(withdrawn)
                )
            elif kind == "reversal":
                reversal = ReversalNotice(**payload)
                if not isinstance(adapter, Reverses):
                    return PermanentError(f"payer {party}'s adapter does not reverse submissions"), 1
                reverser: Reverses = adapter
                _, failure, calls = await self._retrying(
                    party, "reverse_share", lambda: reverser.reverse_share(reversal)
                )
            else:
                return PermanentError(f"unknown outbox message kind {kind!r}"), 0
        except (AdapterError, TypeError) as error:
            return PermanentError(f"cannot deliver: {error}"), 1
        except Exception as error:  # counts as an attempt; dead-lettered after the configured many
            return error, 1
        return failure, calls
