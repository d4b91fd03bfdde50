"""The fan-out's step model: the states of a payer step, the retry policy, a step's idempotency
key, and what a move hands the worker (a ``PayerCall`` to make outside any transaction, or a
``Stop``) and what the worker hands back (the call's ``Outcome``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from adapters.sdk import Decision
from gateway.domain.claims import ClaimStatus


class StepStatus(StrEnum):
    WAITING = "waiting"  # planned, nothing sent yet
    SUBMITTED = "submitted"  # request stored; sent, or about to be (resent unchanged after a crash)
    PENDING = "pending"  # the payer will decide later (callback, or polled)
    DECIDED = "decided"  # the payer's share is recorded
    REFUSED = "refused"  # the payer's decision broke a rule and was not recorded
    DEAD = "dead"  # a permanent fault, or too many attempts: waits for a rerun
    REPLACED = "replaced"  # superseded by a rerun
    VOIDED = "voided"  # the claim was withdrawn: what this payer paid is recovered
    RETURNED = "returned"  # the payer returned the claim unadjudicated, with a reason


OPEN_STEPS = (StepStatus.WAITING.value, StepStatus.SUBMITTED.value, StepStatus.PENDING.value)
FAILED_STEPS = (StepStatus.DEAD.value, StepStatus.REFUSED.value)
# the claims the fan-out still has work for: the ones workers lease
ACTIVE_CLAIM_STATUSES = (ClaimStatus.RECEIVED.value, ClaimStatus.COORDINATING.value)
# claims that are no longer anyone's to change: withdrawn (a corrected version replaces a claim in
# place, in a new round: docs/corrections.md)
CLOSED_CLAIM_STATUSES = (ClaimStatus.VOIDED.value,)


@dataclass(frozen=True)
class RetryPolicy:
    attempts_per_lease: int = 4
    initial_seconds: float = 0.5
    max_seconds: float = 8.0
    lease_retry_seconds: float = 30.0
    max_attempts: int = 20
    pending_poll_seconds: float = 300.0

    def backoff(self, attempts: int) -> timedelta:
        """The wait before the next lease tries again, after ``attempts`` calls in all: the first
        wait is ``lease_retry_seconds``, doubling with each further lease's worth of calls (a lease
        makes up to ``attempts_per_lease`` in place), capped at an hour."""
        leases = max(1, -(-attempts // max(1, self.attempts_per_lease)))
        return timedelta(seconds=min(3600.0, self.lease_retry_seconds * 2 ** min(leases - 1, 12)))


@dataclass(frozen=True)
class PayerCall:
    """One payer call the worker makes outside any transaction."""

    claim_id: uuid.UUID
    step_id: int
    operation: str  # submit | fetch
    party: str  # the payer that settles the step: its administrator, if routed
    adapter: dict[str, Any] | None
    request: dict[str, Any]
    idempotency_key: str
    attempts: int = 0  # calls made to the payer for this step so far


@dataclass(frozen=True)
class Stop:
    status: str  # the claim's status when the worker leaves it


@dataclass
class Outcome:
    decision: Decision | None = None
    error: Exception | None = None
    calls: int = 0
    notes: list[str] = field(default_factory=list)


class InconsistentStep(RuntimeError):
    """A step's stored state contradicts what the fan-out wrote (a bug, or a row edited by hand):
    the move rolls back, and in a worker counts as a failed attempt of the step."""


def step_key(claim_id: uuid.UUID, round_: int, seq: int, attempt: int = 1) -> str:
    key = f"{claim_id}:{round_}:{seq}"
    return key if attempt == 1 else f"{key}:rerun{attempt - 1}"
