"""Group commit of a worker's moves: the claims in flight whose payers answered while the last
group was being written are moved together, in one transaction (``gateway.storage.group_commit``).

Each claim's move is the same as alone (``moves.next_call``, ``moves.apply_and_continue``), with a
``Transaction`` of its own over the group's session, so what it queues and dead-letters is
handled after commit as for a transaction of its own. The group's claims and members are locked
in one statement, in member order (``moves.lock_group``): two workers' groups then never wait on
each other in a cycle.

A group that fails as a whole (one move raised, a deadlock with a callback, a lost connection)
is rolled back, and each of its moves is made again alone, as the worker made every move before
groups: a bad claim fails alone, and no payer answer is lost (each is still in memory, and a
claim whose answer is never recorded sends the same stored request again on its next lease).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gateway.domain.catalogue import ServiceCatalogue
from gateway.orchestration.moves import apply_and_continue, apply_outcome, lock_group, next_call
from gateway.orchestration.steps import Outcome, PayerCall, RetryPolicy, Stop
from gateway.orchestration.transaction import Transaction

log = logging.getLogger("ltc_gateway.worker")


@dataclass(frozen=True, slots=True)
class Move:
    """A claim's next move: its first (``call`` None: what to send first), or the answer to a call."""

    claim_id: uuid.UUID
    call: PayerCall | None = None
    outcome: Outcome | None = None


Moved = PayerCall | Stop
Opened = Callable[[int], Any]  # a context manager of n Transactions over one session, committed on exit


class MoveGroups:
    """``run``: the moves of a group, each one's next call or stop, in order (for ``Batcher``)."""

    def __init__(
        self, opened: Opened, catalogue: ServiceCatalogue, policy: RetryPolicy, lease: timedelta
    ) -> None:
        self.opened = opened
        self.catalogue, self.policy, self.lease = catalogue, policy, lease
        self.fallbacks = 0  # groups made again move by move (for tests and metrics)

    def run(self, moves: list[Move]) -> list[Moved | Exception]:
        if len(moves) == 1:
            return [self._alone(moves[0])]
        try:
            return list(self._together(moves))
        except Exception:
            log.warning("a group of %d moves failed; each is made alone", len(moves), exc_info=True)
            self.fallbacks += 1
            return [self._alone(move) for move in moves]

    def _together(self, moves: list[Move]) -> list[Moved]:
        results: list[Moved | None] = [None] * len(moves)
        with self.opened(len(moves)) as txs:
            locked = lock_group({move.claim_id: tx for move, tx in zip(moves, txs, strict=True)})
            rank = {
                claim_id: n for n, claim_id in enumerate(locked)
            }  # a claim not found: last, to fail alone
            order = sorted(range(len(moves)), key=lambda i: rank.get(moves[i].claim_id, len(rank)))
            for i in order:
                # the moves before it written out, as the lock query of a move alone would flush them
                # (a move's statements that run ``unflushed`` rely on it: a member's next place)
                txs[i].session.flush()
                results[i] = self._move(txs[i], moves[i])
        assert all(result is not None for result in results)
        return results  # type: ignore[return-value]

    def _move(self, tx: Transaction, move: Move) -> Moved:
        if move.call is None:
            return next_call(tx, move.claim_id, self.catalogue, self.lease, self.policy)
        assert move.outcome is not None
        return apply_and_continue(tx, move.call, move.outcome, self.catalogue, self.policy, self.lease)

    def _alone(self, move: Move) -> Moved | Exception:
        try:
            if move.call is None:
                with self.opened(1) as (tx,):
                    return self._move(tx, move)
            return self._continue(move)
        except Exception as error:  # to its claim's caller, as a move alone raises it
            return error

    def _continue(self, move: Move) -> Moved:
        try:
            with self.opened(1) as (tx,):
                return self._move(tx, move)
        except Exception:
            # keep the payer's answer even when the next request cannot be built now
            claim = {"claim_id": str(move.claim_id)}
            log.warning("next move failed; answer recorded alone", extra=claim, exc_info=True)
            assert move.call is not None and move.outcome is not None
            with self.opened(1) as (tx,):
                stop = apply_outcome(tx, move.call, move.outcome, self.catalogue, self.policy)
            if stop is not None:
                return stop
            with self.opened(1) as (tx,):
                return self._move(tx, Move(move.claim_id))
