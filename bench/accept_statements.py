"""The accept path's database work a batch, without HTTP: ``python -m bench.accept_statements [N]``
submits batches of N claims (16) straight to ``services.claims.submit_claims`` on a fresh
PostgreSQL schema and prints, a batch, the statements it sent (counted by a SQLAlchemy listener)
and the client CPU a claim (``time.process_time``). The first batch warms the caches; compare the
later ones (``README.md``, accept path)."""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

from sqlalchemy import event

from bench import accept
from bench.common import fresh_schema
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.services import claims
from gateway.services.keys import authenticate_many


def run(claims_a_batch: int = 16, batches: int = 3) -> list[tuple[int, float]]:
    """(statements, client CPU ms a claim) of each batch."""
    figures: list[tuple[int, float]] = []
    with fresh_schema("bench_accept_statements") as url:
        key, body, _, _ = accept._prepare(url)
        gateway = bootstrap(Settings(database_url=url))
        sent: list[str] = []

        def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        event.listen(gateway.sessions.kw["bind"], "before_cursor_execute", count)
        try:
            for batch in range(batches):
                sent.clear()
                documents = []
                for n in range(claims_a_batch):
                    document = copy.deepcopy(body)
                    document["claim_number"] = f"S{batch}-{n}"
                    documents.append(document)
                started = time.process_time()
                with gateway.sessions.begin() as session:
                    principal = authenticate_many(session, {key})[key]
                    outcomes = claims.submit_claims(
                        session, [claims.Submission(principal, d) for d in documents], gateway.catalogue
                    )
                spent = time.process_time() - started
                failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
                assert not failed, failed[:3]
                figures.append((len(sent), 1000 * spent / claims_a_batch))
        finally:
            gateway.close()
    return figures


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    for number, (statements, cpu) in enumerate(run(size), start=1):
        print(f"batch {number} of {size} claims: {statements} statements, client CPU {cpu:.3f} ms a claim")
