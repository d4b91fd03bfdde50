"""The workers' lease query (``orchestration.worker.due_claims``) at many claims in flight: its
PostgreSQL plan with ``EXPLAIN (ANALYZE, BUFFERS)`` on a table of claims mostly final, with
``workers`` x ``in_flight`` claims leased, some parked and some due; then the same without the
lease index and with the claims in flight still in the due range (the shape before migration
0036), for comparison. ``python -m bench.lease_plan [in_flight] [workers] [final] [due]``."""

from __future__ import annotations

import sys
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from bench.common import fresh_schema
from bench.end_to_end import _prepare
from examples import example_products as _products
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain.products import Product
from gateway.orchestration.worker import due_claims
from gateway.storage.tables import utcnow
from ltc_sandbox.payer_set import SandboxPayers

_COPY = """
INSERT INTO claims (claim_id, provider_code, claim_number, member_id, assessment_id, period_start,
    period_end, status, billed_fen, round, request_digest, next_attempt_at, lease_owner,
    lease_expires_at, created_at, updated_at)
SELECT md5(:tag || g)::uuid, provider_code, :tag || g, member_id, assessment_id, period_start,
    period_end, :status, billed_fen, 1, request_digest,
    CAST(:next AS timestamp) + g * interval '1 millisecond', :owner, CAST(:expires AS timestamp),
    created_at, updated_at
FROM claims, generate_series(1, :n) AS g WHERE claim_number = 'E2E-0'
"""


def _plan(session: Session, limit: int) -> str:
    statement = due_claims(utcnow(), limit)
    sql = statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    rows = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"))
    return "\n".join(row[0] for row in rows)


def run(in_flight: int = 64, workers: int = 2, final: int = 100_000, due: int = 500, batch: int = 20) -> str:
    products = [Product.model_validate(p) for p in _products()]
    out = []
    with fresh_schema("lean_engine_lease") as url:
        sandboxes = SandboxPayers(products).start()
        try:
            _prepare(url, sandboxes, 1)
        finally:
            sandboxes.stop()
        gateway = bootstrap(Settings(database_url=url))
        now = utcnow()
        lease = now + timedelta(seconds=60)
        groups = [
            ("F", "coordinated", final, None, None, None),
            ("P", "coordinating", 2_000, now + timedelta(seconds=30), None, None),
            ("D", "received", due, now - timedelta(minutes=5), None, None),
        ] + [(f"L{w}-", "coordinating", in_flight, lease, f"worker-{w}", lease) for w in range(workers)]
        with gateway.sessions.begin() as session:
            for tag, status, n, next_at, owner, expires in groups:
                session.execute(
                    text(_COPY),
                    {
                        "tag": tag,
                        "status": status,
                        "n": n,
                        "next": next_at,
                        "owner": owner,
                        "expires": expires,
                    },
                )
            session.execute(
                text(
                    "UPDATE claims SET status = 'coordinated', next_attempt_at = NULL WHERE claim_number = :n"
                ),
                {"n": "E2E-0"},
            )
        with gateway.sessions.begin() as session:
            session.execute(text("ANALYZE claims"))
        with gateway.sessions.begin() as session:
            count = session.scalar(text("SELECT count(*) FROM claims"))
            out.append(
                f"claims: {count} ({final} final, 2000 parked, {due} due, {workers} x {in_flight} leased)"
            )
            plan = _plan(session, batch)
            out.append(f"-- with ix_claims_due, leased claims next due at their lease's end:\n{plan}")
        with gateway.sessions.begin() as session:
            session.execute(text("DROP INDEX ix_claims_due"))
            session.execute(
                text("UPDATE claims SET next_attempt_at = :past WHERE lease_owner IS NOT NULL"),
                {"past": now - timedelta(minutes=10)},
            )
            session.execute(text("ANALYZE claims"))
        with gateway.sessions.begin() as session:
            plan = _plan(session, batch)
            out.append(f"-- before 0036 (ix_claims_work only, leased claims in the due range):\n{plan}")
        gateway.close()
    return "\n".join(out)


if __name__ == "__main__":
    print(run(*(int(a) for a in sys.argv[1:])))
