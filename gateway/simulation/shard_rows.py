"""A shard of members' stored facts, read in bulk with plain SQL for the replay. Read-only.

Five queries a shard (claims, lines, payer steps, line payments, fixed benefits), each bounded by
the shard's range of member ids and the period, whatever the number of claims. No ORM rows and no
column types: the driver's values come straight through, claim ids as text (a string's hash is
C; a ``uuid.UUID``'s is Python), and SQLite's text dates and JSON are decoded here. The lines are
built as domain ``ClaimLine`` values without validating them again (they were validated when
accepted; ``claim_lines.stored_lines``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from gateway.domain.claims import ClaimLine
from gateway.storage.claim_lines import stored_lines

NOT_COUNTED = ("voided", "replaced", "received")
_PYFORMAT = re.compile(r":(lo|hi|start|end|ids)\b")  # psycopg's placeholders

# The claims of the shard's members in the period: the filter every query repeats.
_CLAIMS = (
    "c.member_id BETWEEN :lo AND :hi AND c.period_start >= :start AND c.period_start < :end"
    " AND c.status NOT IN ('voided', 'replaced', 'received')"
)
CLAIMS_SQL = f"""
SELECT CAST(c.member_id AS TEXT), CAST(c.claim_id AS TEXT), c.provider_code, c.period_start,
       c.period_end, c.status, c.round, a.grade, a.concluded_on, a.disabled_since,
       COALESCE(v.lat, m.lat), COALESCE(v.lon, m.lon), COALESCE(v.district, m.district)
FROM claims c
JOIN assessments a ON a.assessment_id = c.assessment_id
JOIN members m ON m.member_id = c.member_id
LEFT JOIN member_versions v ON v.member_id = a.member_id AND v.version = a.member_version
WHERE {_CLAIMS}
ORDER BY c.member_id, c.coordination_seq"""


def _of_claims(select: str, alias: str, where: str = "") -> tuple[str, str]:
    """A query of the shard's claims' rows in two forms: joined to the claims by the shard's
    filter (SQLite), and by the claim ids the claims query gave (PostgreSQL: ``= ANY``, one index
    probe an id, instead of scanning the shard's claims again for every table)."""
    return (
        f"{select} JOIN claims c ON c.claim_id = {alias}.claim_id WHERE {_CLAIMS}{where}",
        f"{select} WHERE {alias}.claim_id = ANY(CAST(:ids AS uuid[])){where}",
    )


LINES_SQL, LINES_BY_IDS = _of_claims(
    """
SELECT CAST(l.claim_id AS TEXT), l.line_no, l.service_code, l.setting, l.method, l.service_date,
       l.service_end_date, l.quantity, l.unit_price_fen, l.billed_fen, l.exclusion,
       CAST(l.visit AS TEXT)
FROM claim_lines l""",
    "l",
)
STEPS_SQL, STEPS_BY_IDS = _of_claims(
    """
SELECT CAST(s.claim_id AS TEXT), s.round, s.seq, s.product_code, s.product_version,
       s.coverage_start, s.coverage_end, s.adjudication, CAST(s.detail AS TEXT)
FROM payer_steps s""",
    "s",
    " AND s.status = 'decided' ORDER BY s.seq",
)
PAYMENTS_SQL, PAYMENTS_BY_IDS = _of_claims(
    """
SELECT p.id, CAST(p.claim_id AS TEXT), p.round, p.seq, p.line_no, p.product_code, p.paid_fen, p.current
FROM line_payments p""",
    "p",
    " AND NOT p.provisional",
)
# few claims have fixed benefits: the members' rows (by the member index), kept for the shard's
# claims, rather than an index probe for every claim
FIXED_SQL = """
SELECT CAST(f.claim_id AS TEXT), f.product_code, f.month, f.amount_fen
FROM fixed_benefits f
WHERE f.member_id BETWEEN :lo AND :hi AND NOT f.provisional"""


# Every query goes from the shard's few thousand claims to their rows by claim id. On a city of
# 50,000 members PostgreSQL's planner chose instead to scan all of claim_lines, line_payments and
# the decided payer_steps for each shard, in parallel and JIT-compiled (75 server CPU-s a million
# lines, growing with the city: each shard read every row); these make it probe the indexes.
_PLAN = (
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL enable_hashjoin = off",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
    "SET LOCAL jit = off",
)


def _iso(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _json(value: Any) -> Any:
    """A JSON column's value, read as text on both databases (decoded here, not by the driver:
    ``null``, a line without a visit, is not decoded at all)."""
    if isinstance(value, str):
        return None if value == "null" else json.loads(value)
    return value


def _detail(text: str | None) -> dict[str, Any]:
    """A step's detail, decoded only if it names what the replay reads of it (most do not)."""
    if text is None or ('"revised"' not in text and '"carried_from_round"' not in text):
        return {}
    return _json(text) or {}


@dataclass
class ShardRows:
    """What the replay needs of a shard, keyed by claim id (as text)."""

    claims: list[tuple[Any, ...]] = field(default_factory=list)  # in member and coordination order
    lines: dict[str, list[ClaimLine]] = field(default_factory=dict)
    steps: dict[tuple[str, int], list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    recorded: dict[tuple[str, int, int], dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    actual: dict[str, dict[str, dict[int, int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )
    fixed: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )
    first_payment: dict[tuple[str, int], int] = field(default_factory=dict)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while shards are read and replayed: each shard makes some
    hundred thousand objects and no cycles, and every few hundred new objects started a
    collection that walked the shard's live ones again (a fifth of the simulation's CPU). They are
    still freed by their reference counts, so memory stays flat; the collector runs again after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read(session: Session, start: date, end: date, lo: uuid.UUID, hi: uuid.UUID) -> ShardRows:
    """The rows of the members from ``lo`` to ``hi`` (their ids, inclusive) with claims whose
    period starts in [start, end)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    day: Callable[[Any], Any] = _iso if sqlite else (lambda value: value)
    # the driver's own cursor, in the session's transaction: a shard's rows are a few tens of
    # thousands, fetched whole (a server-side cursor and SQLAlchemy's result cost 4x the CPU)
    driver = session.connection().connection.dbapi_connection
    assert driver is not None
    if sqlite:  # stored as SQLAlchemy stores them: uuids as hex digits, dates as ISO text
        params: dict[str, Any] = {
            "lo": lo.hex,
            "hi": hi.hex,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
    else:
        params = {"lo": lo, "hi": hi, "start": start, "end": end}
        cursor = driver.cursor()
        try:  # for this read-only transaction only
            for setting in _PLAN:
                cursor.execute(setting)
        finally:
            cursor.close()

    def rows(sql: str) -> Iterable[Any]:
        cursor = driver.cursor()
        try:
            cursor.execute(sql if sqlite else _PYFORMAT.sub(r"%(\1)s", sql), params)
            return cursor.fetchall()
        finally:
            cursor.close()

    out = ShardRows()
    for row in rows(CLAIMS_SQL):
        member, key, provider, first, last, status, round_, grade, concluded, since, lat, lon, district = row
        dates = (day(first), day(last), day(concluded), day(since))
        out.claims.append((member, key, provider, dates, status, round_, grade, lat, lon, district))
    if not sqlite:
        # an array literal made once (ids are hex digits and dashes), not a list dumped per query
        params["ids"] = "{" + ",".join(claim[1] for claim in out.claims) + "}"
    out.lines = stored_lines(rows(LINES_SQL if sqlite else LINES_BY_IDS), day)
    steps = out.steps
    for key, round_, seq, code, version, cover_from, cover_to, adjudication, detail in rows(
        STEPS_SQL if sqlite else STEPS_BY_IDS
    ):
        steps[(key, round_)].append(
            (seq, code, version, day(cover_from), day(cover_to), adjudication, _detail(detail))
        )
    recorded, actual, first_payment = out.recorded, out.actual, out.first_payment
    for pid, key, round_, seq, line_no, code, paid, current in rows(
        PAYMENTS_SQL if sqlite else PAYMENTS_BY_IDS
    ):
        recorded[(key, round_, seq)][line_no] = paid
        at = (key, round_)
        if pid < first_payment.get(at, pid + 1):
            first_payment[at] = pid
        if current:
            actual[key][code][line_no] = paid
    keys = {claim[1] for claim in out.claims}
    for key, code, month, amount in rows(FIXED_SQL):
        if key in keys:  # of a claim in the period and counted
            out.fixed[key][code][month] = amount
    return out


def bounds(shard: Sequence[uuid.UUID]) -> tuple[uuid.UUID, uuid.UUID]:
    return min(shard), max(shard)
