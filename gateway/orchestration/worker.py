"""Workers lease claims that have work to do and advance them through their payer steps, and
deliver the outbox. Any number may run at once, on one machine or many: a lease is taken with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer anyway) and expires, so the
claims of a worker that died are picked up by the others and resumed from their stored requests.

Database moves run in threads so that one worker overlaps the payer calls of up to
``concurrency`` claims; it leases another claim as soon as one leaves, so a claim waiting on a
slow payer holds up no other. The moves of the claims whose payers answered while the last group
was being written are written together, one transaction a group (``move_groups``).

A database fault does not end a worker: it logs it, waits and goes on (``faults``). Asked to stop,
it leaves what is still in flight after a few seconds to the next lease, as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.registry import AdapterPool
from gateway.config import Settings
from gateway.domain.catalogue import ServiceCatalogue
from gateway.orchestration.calls import PayerCalls
from gateway.orchestration.faults import log_fault, wait_or_stop
from gateway.orchestration.inbox import Inbox
from gateway.orchestration.move_groups import Move, MoveGroups
from gateway.orchestration.moves import move_failed
from gateway.orchestration.outbox import (
    Message,
    flag_dead,
    lease_messages,
    settle_delivered,
    settle_message,
)
from gateway.orchestration.steps import ACTIVE_CLAIM_STATUSES, RetryPolicy, Stop
from gateway.orchestration.transaction import Kept, Lessee, Transaction
from gateway.orchestration.webhook_delivery import DeliveryPolicy, WebhookDispatcher
from gateway.storage.database import is_unavailable
from gateway.storage.group_commit import Batcher
from gateway.storage.tables import ClaimRow, utcnow

log = logging.getLogger("ltc_gateway.worker")

Sent = tuple[Message, Exception | None, int]  # a message, what went wrong (if anything), calls made


def due_claims(now: datetime, limit: int) -> Select[uuid.UUID]:
    """The claims due for a move, oldest first, locked and skipping those another worker is
    leasing (PostgreSQL). Read through ``ix_claims_due`` (next_attempt_at, where it is set: claims
    that are final have none), in its order, so the scan stops after ``limit`` due claims; the
    lease condition stays for claims whose lease outlived their next_attempt_at."""
    return (
        select(ClaimRow.claim_id)
        .where(
            ClaimRow.next_attempt_at <= now,
            ClaimRow.status.in_(ACTIVE_CLAIM_STATUSES),
            or_(ClaimRow.lease_expires_at.is_(None), ClaimRow.lease_expires_at < now),
        )
        .order_by(ClaimRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        attempts_per_lease=settings.payer_retry_attempts,
        initial_seconds=settings.payer_retry_initial_seconds,
        max_seconds=settings.payer_retry_max_seconds,
        lease_retry_seconds=settings.step_retry_seconds,
        max_attempts=settings.step_max_attempts,
        pending_poll_seconds=settings.pending_poll_seconds,
    )


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        catalogue: ServiceCatalogue,
        *,
        policy: RetryPolicy | None = None,
        lease_seconds: int = 60,
        poll_seconds: float = 0.5,
        batch: int = 20,
        concurrency: int = 8,
        worker_id: str | None = None,
        pool: AdapterPool | None = None,
        shutdown_seconds: float = 5.0,
        webhooks: WebhookDispatcher | None = None,
    ) -> None:
        self.sessions = sessions
        self.catalogue = catalogue
        self.policy = policy or RetryPolicy()
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.pool = pool or AdapterPool()
        self.calls = PayerCalls(self.pool, self.policy)
        self.kept = Kept()  # facts that never change, kept across this worker's transactions
        self._inbox: Inbox | None = None  # while the pipeline runs
        self.shutdown_seconds = shutdown_seconds  # see pipeline
        self._stop: asyncio.Event | None = None
        self.webhooks = webhooks  # providers' webhooks, delivered beside the fan-out
        # the moves of the claims in flight, written in groups (gateway.orchestration.move_groups)
        self.groups = MoveGroups(self.transactions, catalogue, self.policy, self.lease)
        self.moves: Batcher[Move] = Batcher(self.groups.run, max_batch=max(1, concurrency), lanes=2)

    @contextlib.contextmanager
    def transactions(self, n: int) -> Iterator[list[Transaction]]:
        """``n`` transactions of the fan-out in one database transaction (a group of moves)."""
        inbox = self._inbox
        # while the pipeline runs, what a transaction queues is sent from here, without a lease of its own
        lessee = Lessee(self.worker_id, self.lease) if inbox is not None else None
        with self.sessions.begin() as session:
            txs = [Transaction(session, kept=self.kept, lessee=lessee) for _ in range(n)]
            yield txs
        # committed
        dead: list[int] = []
        for tx in txs:
            for claim_id, key in tx.noticed:
                self.kept.noticed.setdefault(claim_id, set()).add(key)
            if inbox is not None and (tx.taken or tx.queued):
                inbox.hand(tx.taken, tx.queued)
            dead += tx.dead
        if dead:
            try:
                flag_dead(self.sessions, dead)
            except Exception as error:  # dead all the same (and counted in /metrics)
                log_fault("flagging dead messages", error, 1)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.transactions(1) as (tx,):
            yield tx

    @classmethod
    def from_settings(
        cls, sessions: sessionmaker[Session], catalogue: ServiceCatalogue, settings: Settings
    ) -> Worker:
        return cls(
            sessions,
            catalogue,
            policy=retry_policy(settings),
            lease_seconds=settings.worker_lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
            concurrency=settings.worker_concurrency,
            webhooks=WebhookDispatcher(sessions, DeliveryPolicy.from_settings(settings)),
        )

    # --- claims ------------------------------------------------------------------------------

    def lease_claims(self, limit: int | None = None) -> list[uuid.UUID]:
        now = utcnow()
        expires = now + self.lease
        with self.transaction() as tx:
            ids = list(tx.session.scalars(due_claims(now, limit or self.batch)))
            if ids:
                # a leased claim is next due when its lease runs out: the claims in flight leave
                # the due range of ``ix_claims_due``, so the lease query reads only due claims
                tx.session.execute(
                    update(ClaimRow)
                    .where(ClaimRow.claim_id.in_(ids))
                    .values(lease_owner=self.worker_id, lease_expires_at=expires, next_attempt_at=expires)
                )
        return ids

    async def advance(self, claim_id: uuid.UUID) -> str:
        """Take the claim as far as it goes now; its status afterwards."""
        try:
            move = await self.moves.submit(Move(claim_id))
            while not isinstance(move, Stop):
                outcome = await self.calls.step(move)
                move = await self.moves.submit(Move(claim_id, move, outcome))
            return str(move.status)
        finally:
            self.kept.forget(claim_id)

    async def _advance_safely(self, claim_id: uuid.UUID) -> None:
        # after a database fault the claim is resumed from its stored state while its lease lasts;
        # then whichever worker leases it next resumes it
        loop, faults, claim = asyncio.get_running_loop(), 0, {"claim_id": str(claim_id)}
        until = loop.time() + self.lease.total_seconds()
        while self._stop is None or not self._stop.is_set():
            try:
                status = await self.advance(claim_id)
                log.info("claim advanced", extra={**claim, "status": status})
                return
            except Exception as error:
                if not is_unavailable(error):
                    log.exception("claim could not be advanced; retrying later", extra=claim)
                    await asyncio.to_thread(self._release, claim_id, error)
                    return
                faults += 1
                wait = log_fault("advancing a claim", error, faults, **claim)
                if loop.time() + wait >= until:
                    return
                await wait_or_stop(wait, self._stop)

    def _release(self, claim_id: uuid.UUID, error: Exception) -> None:
        try:
            with self.transaction() as tx:
                move_failed(tx, claim_id, self.worker_id, f"{type(error).__name__}: {error}", self.policy)
        except Exception as fault:  # its lease runs out instead
            log_fault("releasing a claim", fault, 1, claim_id=str(claim_id))

    # --- outbox ------------------------------------------------------------------------------

    def _lease_messages(self, limit: int | None = None) -> list[Message]:
        with self.transaction() as tx:
            return lease_messages(
                tx, self.worker_id, self.lease, limit or self.batch, self.policy.max_attempts
            )

    async def _send(self, message: Message) -> Sent:
        error, calls = await self.calls.deliver(message.kind, message.party, message.adapter, message.payload)
        return message, error, calls

    def _settle(self, sent: list[Sent]) -> None:
        """Record how deliveries went, several in one transaction."""
        policy = self.policy
        with self.transaction() as tx:
            settle_delivered(tx, [(message.id, calls) for message, error, calls in sent if error is None])
            for message, error, calls in sent:
                if error is not None:
                    settle_message(tx, message.id, error, calls, policy.backoff, policy.max_attempts)

    async def _deliver(self, message: Message) -> None:
        sent = await self._send(message)
        await asyncio.to_thread(self._settle, [sent])

    # --- loop --------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Lease a batch of claims and messages and work them; how many were worked on."""
        claims = await asyncio.to_thread(self.lease_claims)
        messages = await asyncio.to_thread(self._lease_messages)
        gate = asyncio.Semaphore(self.concurrency)

        async def bounded(work: Awaitable[None]) -> None:
            async with gate:
                await work

        await asyncio.gather(
            *(bounded(self._advance_safely(c)) for c in claims),
            *(bounded(self._deliver(m)) for m in messages),
        )
        return len(claims) + len(messages)

    async def pipeline(self, stop: asyncio.Event | None = None) -> int:
        """Keep up to ``concurrency`` claims (and as many messages) in flight, leasing more as
        they finish, so one slow claim holds up no other; how many were worked on. Without
        ``stop``, returns once nothing is due and nothing is in flight.

        A message this worker queued (a claim's assessment notice) is sent as soon as its
        transaction commits; others are leased every ``poll_seconds`` (another process's, or a
        retry come due), and deliveries are recorded together, in batches: leasing on every turn
        of the loop and recording each delivery alone were most of a busy worker's transactions.
        With ``stop``, database faults are waited out; once it is set, what is still in flight
        after ``shutdown_seconds`` is left to the next lease."""
        claims: set[asyncio.Task[None]] = set()
        messages: set[asyncio.Task[Sent]] = set()
        loop = asyncio.get_running_loop()
        inbox = self._inbox = Inbox(loop)
        self._stop = stop
        arrival: asyncio.Task[bool] | None = None
        unsettled: list[Sent] = []
        settled_at = leased_at = -float("inf")
        worked = faults = 0
        try:
            while stop is None or not stop.is_set():
                try:
                    leased = 0
                    if free := min(self.concurrency - len(claims), self.batch):
                        for claim_id in await asyncio.to_thread(self.lease_claims, free):
                            claims.add(asyncio.create_task(self._advance_safely(claim_id)))
                            leased += 1
                    for message in inbox.take():
                        messages.add(asyncio.create_task(self._send(message)))
                        leased += 1
                    # others' messages: lease them once half their slots are free, not one by one
                    if len(messages) <= self.concurrency // 2 and (
                        stop is None or inbox.others or loop.time() - leased_at >= self.poll_seconds
                    ):
                        inbox.others, leased_at = False, loop.time()
                        free = min(self.concurrency - len(messages), self.batch)
                        for message in await asyncio.to_thread(self._lease_messages, free):
                            messages.add(asyncio.create_task(self._send(message)))
                            leased += 1
                    worked += leased
                    faults = 0
                    if not claims and not messages and not inbox.messages:
                        await self._settle_all(unsettled)
                        if stop is None:
                            return worked
                        await wait_or_stop(self.poll_seconds, stop)
                        continue
                    # lease again when a slot frees up, when messages were handed over, or after a
                    # poll (a running worker also looks for new work and records its deliveries)
                    if arrival is None or arrival.done():
                        arrival = asyncio.create_task(inbox.arrived.wait())
                    done, _ = await asyncio.wait(
                        {*claims, *messages, arrival},
                        timeout=None if stop is None else self.poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    claims.difference_update(done)
                    unsettled += self._delivered(messages, done)
                    if (
                        stop is None
                        or len(unsettled) >= self.batch
                        or loop.time() - settled_at >= self.poll_seconds
                    ):
                        settled_at = loop.time()
                        await self._settle_all(unsettled)
                except Exception as error:
                    if stop is None:  # drain (tests, ``worker --once``): the caller hears of it
                        raise
                    if not is_unavailable(error):
                        log.exception("worker turn failed")
                    faults += 1
                    await wait_or_stop(log_fault("leasing or recording", error, faults), stop)
            # stopping: what is in flight gets a few seconds; the rest is resumed by the next lease
            messages.update(asyncio.create_task(self._send(message)) for message in inbox.take())
            if claims or messages:
                in_flight: set[asyncio.Task[Any]] = {*claims, *messages}
                finished, left = await asyncio.wait(in_flight, timeout=self.shutdown_seconds)
                unsettled += self._delivered(messages, finished)
                for task in left:
                    task.cancel()
                await asyncio.gather(*left, return_exceptions=True)
        finally:
            self._inbox = self._stop = None
            if arrival is not None:
                arrival.cancel()
            try:
                await self._settle_all(unsettled)
            except Exception as error:  # their leases run out and they are sent again, same key
                if stop is None:
                    raise
                log_fault("recording deliveries before stopping", error, 1)
        return worked

    @staticmethod
    def _delivered(messages: set[asyncio.Task[Sent]], done: set[Any]) -> list[Sent]:
        finished = [task for task in messages if task in done]
        messages.difference_update(finished)
        sent = []
        for task in finished:
            if task.exception() is None:
                sent.append(task.result())
            else:  # its lease runs out and another lease retries it
                log.error("message could not be delivered", exc_info=task.exception())
        return sent

    async def _settle_all(self, unsettled: list[Sent]) -> None:
        if unsettled:  # kept until recorded: a database fault loses none
            sent = list(unsettled)
            await asyncio.to_thread(self._settle, sent)
            del unsettled[: len(sent)]

    async def drain_async(self) -> int:
        worked = await self.pipeline()
        return worked + (await self.webhooks.drain_async() if self.webhooks else 0)

    def drain(self) -> int:
        """Work until nothing is due (tests, ``worker --once``); how many claims and messages."""

        async def main() -> int:
            try:
                return await self.drain_async()
            finally:
                await self.pool.aclose()

        return asyncio.run(main())

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"worker_id": self.worker_id})
        try:
            if self.webhooks is None:
                await self.pipeline(stop)
            else:
                await asyncio.gather(self.pipeline(stop), self.webhooks.run(stop))
        finally:
            await self.pool.aclose()
            log.info("worker stopped", extra={"worker_id": self.worker_id})
