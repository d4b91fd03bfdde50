"""Workers lease claims that have work to do and advance them. Any number may run at once:
a lease is taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer anyway)
and expires, so the claims of a worker that died are picked up by the others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.claims import ClaimStatus
from gateway.domain.services import ServiceCatalogue
from gateway.orchestration.fanout import advance_claim
from gateway.storage.tables import ClaimRow, utcnow

log = logging.getLogger("ltc_gateway.worker")

ACTIVE = (ClaimStatus.RECEIVED.value, ClaimStatus.COORDINATING.value)
RETRY_AFTER = timedelta(seconds=30)


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        catalogue: ServiceCatalogue,
        *,
        lease_seconds: int = 60,
        poll_seconds: float = 0.5,
        batch: int = 20,
        worker_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.catalogue = catalogue
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def lease_claims(self) -> list[uuid.UUID]:
        now = utcnow()
        with self.sessions.begin() as session:
            ids = list(
                session.scalars(
                    select(ClaimRow.claim_id)
                    .where(
                        ClaimRow.status.in_(ACTIVE),
                        ClaimRow.next_attempt_at <= now,
                        or_(ClaimRow.lease_expires_at.is_(None), ClaimRow.lease_expires_at < now),
                    )
                    .order_by(ClaimRow.next_attempt_at)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if ids:
                session.execute(
                    update(ClaimRow)
                    .where(ClaimRow.claim_id.in_(ids))
                    .values(lease_owner=self.worker_id, lease_expires_at=now + self.lease)
                )
        return ids

    def run_once(self) -> int:
        """Lease a batch and advance each claim; the number of claims worked on."""
        ids = self.lease_claims()
        for claim_id in ids:
            try:
                status = advance_claim(self.sessions, claim_id, self.catalogue)
                log.info("claim advanced", extra={"claim_id": str(claim_id), "status": status})
            except Exception:
                log.exception(
                    "claim could not be advanced; retrying later", extra={"claim_id": str(claim_id)}
                )
                self._release(claim_id, retry_after=RETRY_AFTER)
        return len(ids)

    def _release(self, claim_id: uuid.UUID, retry_after: timedelta) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(ClaimRow)
                .where(ClaimRow.claim_id == claim_id, ClaimRow.lease_owner == self.worker_id)
                .values(lease_owner=None, lease_expires_at=None, next_attempt_at=utcnow() + retry_after)
            )

    def drain(self) -> int:
        """Work until nothing is due (tests, ``worker --once``); the number of claims worked on."""
        total = 0
        while (n := self.run_once()) > 0:
            total += n
        return total

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"worker_id": self.worker_id})
        while not stop.is_set():
            worked = await asyncio.to_thread(self.run_once)
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
        log.info("worker stopped", extra={"worker_id": self.worker_id})
