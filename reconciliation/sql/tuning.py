"""How PostgreSQL runs reconciliation's big statements: the import's sorted insert and the nightly
pass, each over every line of a night (a million, at a large city's month end).

* Memory: the pass hashes every payer-line key and sorts the keys it classified; at the default
  ``work_mem`` (4 MB) both spilled to disk and took a fifth longer (6.6 s against 5.3 s for
  500,000 lines). One run works at a time (its business date is leased) and one import per
  statement, so ``WORK_MEM`` is bounded per statement node of a handful of sessions.
* No JIT: compiling took a tenth of the pass and won nothing back (its work is hashing keys,
  not evaluating expressions).
* No parallel workers: every worker of a parallel plan aggregated all of statement_lines again.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

WORK_MEM = "128MB"


def for_bulk(session: Session) -> None:
    """The transaction's big statements planned as above (PostgreSQL; SQLite has no such knobs)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
