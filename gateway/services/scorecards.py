"""Administrator scorecards (issue 22 §1 item 4): per settling party (a tier-1 administrator, or
the payer itself) and service month of the claim: claims, the median and 95th percentile of
the payer's decision time, how often a decision was refused or a step dead-lettered (the
claims' flags of those kinds, per claim), reconciliation's mismatches (how many, and their
differences summed unsigned), and the timeliness of the party's statements (its statement lines
by the month they were settled: the share received by the next day, the mean days late, from
``statement_months``, kept by the statement import). The counts and a
histogram of decision times are kept by migration 0035's triggers as steps and mismatches are
written (a percentile cannot be summed; a histogram can), so the percentiles are to the bucket:
the second below a minute, the minute below an hour, ten minutes below a day, the hour beyond.
``live=True`` computes the same from the steps (window functions), as a check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, cast, extract, func, select, text
from sqlalchemy.orm import Session

from gateway.errors import Invalid
from gateway.storage.tables import (
    ClaimRow,
    DecisionTimeRow,
    FlagRow,
    MismatchRow,
    PayerStepRow,
    ScorecardMonthRow,
    StatementMonthRow,
)

EARLIEST, LATEST = 2000, 2100
ON_TIME_DAYS = 1  # a line settled on day D is on time in a statement received by D + 1 (Beijing)


def _seconds(session: Session) -> Any:
    """A step's decision time in seconds, in the database's own arithmetic."""
    step = PayerStepRow
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", step.decided_at - step.created_at)
    return (func.julianday(step.decided_at) - func.julianday(step.created_at)) * 86400.0


def scorecards(session: Session, year: int, live: bool = False) -> list[dict[str, Any]]:
    """The year's cards from the kept figures (``live``: from the steps themselves, as a check)."""
    if not EARLIEST <= year <= LATEST:
        raise Invalid([("/year", f"a year from {EARLIEST} to {LATEST}")])
    step = PayerStepRow
    party = func.coalesce(step.administrator_code, step.payer_code).label("party")
    month = cast(extract("month", ClaimRow.period_start), Integer).label("month")
    in_year = extract("year", ClaimRow.period_start) == year
    cards: dict[tuple[str, int], dict[str, Any]] = {}

    def card(key: tuple[str, int]) -> dict[str, Any]:
        return cards.setdefault(
            key,
            {
                "party": key[0],
                "month": f"{year:04d}-{key[1]:02d}",
                "claims": 0,
                "median_seconds": None,
                "p95_seconds": None,
                "refused": 0,
                "dead": 0,
                "mismatches": 0,
                "mismatch_fen": 0,
                "statement_lines": 0,
                "on_time": 0,
                "lag_days": 0,
            },
        )

    if live:
        _live(session, year, card)
    else:
        _kept(session, year, card)
    # a flag names the payer; the step it is about names the administrator that settles for it
    flagged = (
        select(party, month, FlagRow.kind, func.count(func.distinct(FlagRow.id)))
        .join(step, (step.claim_id == FlagRow.claim_id) & (step.product_code == FlagRow.product_code))
        .join(ClaimRow, ClaimRow.claim_id == FlagRow.claim_id)
        .where(in_year, FlagRow.kind.in_(("decision_refused", "step_dead")))
        .group_by(party, month, FlagRow.kind)
    )
    for who, m, kind, n in session.execute(flagged):
        card((who, int(m)))["refused" if kind == "decision_refused" else "dead"] += int(n)
    for found in cards.values():
        lines = found["statement_lines"]
        found["on_time_rate"] = round(found["on_time"] / lines * 100, 1) if lines else None
        found["mean_lag_days"] = round(found["lag_days"] / lines, 1) if lines else None
        claims = found["claims"]
        found["refusal_rate"] = round(found["refused"] / claims * 100, 1) if claims else None
        found["dead_rate"] = round(found["dead"] / claims * 100, 1) if claims else None
    return sorted(cards.values(), key=lambda c: (c["party"], c["month"]))


def _live(session: Session, year: int, card: Any) -> None:
    """Claims, percentiles and mismatches from the steps themselves (the kept figures' check)."""
    step = PayerStepRow
    party = func.coalesce(step.administrator_code, step.payer_code).label("party")
    month = cast(extract("month", ClaimRow.period_start), Integer).label("month")
    in_year = extract("year", ClaimRow.period_start) == year
    for who, m, claims in session.execute(
        select(party, month, func.count(func.distinct(step.claim_id)))
        .join(ClaimRow, ClaimRow.claim_id == step.claim_id)
        .where(in_year)
        .group_by(party, month)
    ):
        card((who, int(m)))["claims"] = int(claims)
    seconds = _seconds(session).label("seconds")
    ranked = (
        select(
            party,
            month,
            seconds,
            func.row_number().over(partition_by=(party, month), order_by=seconds).label("rank"),
            func.count().over(partition_by=(party, month)).label("n"),
        )
        .join(ClaimRow, ClaimRow.claim_id == step.claim_id)
        .where(in_year, step.decided_at.is_not(None))
        .subquery()
    )
    median_rank, p95_rank = (ranked.c.n + 1) // 2, (ranked.c.n * 95 + 99) // 100  # integer ranks
    for who, m, secs, rank, median_at, p95_at in session.execute(
        select(ranked.c.party, ranked.c.month, ranked.c.seconds, ranked.c.rank, median_rank, p95_rank).where(
            (ranked.c.rank == median_rank) | (ranked.c.rank == p95_rank)
        )
    ):
        found = card((who, int(m)))
        if rank == median_at:
            found["median_seconds"] = float(bucket(float(secs)))
        if rank == p95_at:
            found["p95_seconds"] = float(bucket(float(secs)))
    mismatch_month = cast(extract("month", ClaimRow.period_start), Integer)
    for who, m, n, fen in session.execute(
        select(
            MismatchRow.payer_code,
            mismatch_month,
            func.count(),
            func.sum(func.abs(MismatchRow.difference_fen)),
        )
        .join(ClaimRow, ClaimRow.claim_id == MismatchRow.claim_id)
        .where(in_year)
        .group_by(MismatchRow.payer_code, mismatch_month)
    ):
        found = card((who, int(m)))
        found["mismatches"], found["mismatch_fen"] = int(n), int(fen)
    postgres = session.get_bind().dialect.name == "postgresql"
    lag = (
        "(CAST(s.received_at AT TIME ZONE 'Asia/Shanghai' AS date) - l.settled_on)"
        if postgres
        else "CAST(julianday(date(s.received_at, '+8 hours')) - julianday(l.settled_on) AS INTEGER)"
    )
    month_of = "substr(CAST(l.settled_on AS TEXT), 1, 7)"
    for who, month_text, lines, on_time, late in session.execute(
        text(
            f"SELECT l.payer_code, {month_of}, count(*), sum(CASE WHEN {lag} <= :on_time THEN 1 ELSE 0 END),"
            f" sum({lag}) FROM statement_lines l JOIN statements s ON s.id = l.statement_id"
            f" WHERE {month_of} LIKE :year GROUP BY 1, 2"
        ),
        {"on_time": ON_TIME_DAYS, "year": f"{year:04d}-%"},
    ):
        _statements(card((who, int(month_text[5:7]))), lines, on_time, late)


def _kept(session: Session, year: int, card: Any) -> None:
    """Claims and mismatches from the kept monthly counts, percentiles from the kept histogram
    of decision times (migration 0035): a few thousand rows a year, summed over their slots
    (migration 0037)."""
    counts = ScorecardMonthRow  # a key's rows summed over their slots (migration 0037)
    for who, m, claims, mismatches, mismatch_fen in session.execute(
        select(
            counts.party,
            counts.month,
            func.sum(counts.claims),
            func.sum(counts.mismatches),
            func.sum(counts.mismatch_fen),
        )
        .where(counts.year == year)
        .group_by(counts.party, counts.month)
    ):
        if claims > 0:
            card((who, int(m)))["claims"] = int(claims)
        if mismatches > 0:
            found = card((who, int(m)))
            found["mismatches"], found["mismatch_fen"] = int(mismatches), int(mismatch_fen)
    kept = StatementMonthRow
    for who, month_text, lines, on_time, late in session.execute(
        select(kept.payer_code, kept.month, kept.lines, kept.on_time, kept.lag_days).where(
            kept.month.like(f"{year:04d}-%"), kept.lines > 0
        )
    ):
        _statements(card((who, int(month_text[5:7]))), lines, on_time, late)
    times = DecisionTimeRow
    histogram: dict[tuple[str, int], list[tuple[int, int]]] = {}
    bucketed = (times.party, times.month, times.seconds)
    for who, m, seconds, steps in session.execute(
        select(*bucketed, func.sum(times.steps))
        .where(times.year == year)
        .group_by(*bucketed)
        .having(func.sum(times.steps) > 0)
        .order_by(*bucketed)
    ):
        histogram.setdefault((who, int(m)), []).append((int(seconds), int(steps)))
    for key, buckets in histogram.items():
        n = sum(steps for _, steps in buckets)
        found = card(key)
        found["median_seconds"] = float(_ranked(buckets, (n + 1) // 2))
        found["p95_seconds"] = float(_ranked(buckets, (n * 95 + 99) // 100))


def _statements(found: dict[str, Any], lines: int, on_time: int, late: int) -> None:
    found["statement_lines"], found["on_time"], found["lag_days"] = int(lines), int(on_time), int(late)


def _ranked(buckets: list[tuple[int, int]], rank: int) -> int:
    """The bucket of the ``rank``-th smallest decision time (1-based)."""
    seen = 0
    for seconds, steps in buckets:
        seen += steps
        if seen >= rank:
            return seconds
    return buckets[-1][0]


def bucket(seconds: float) -> int:
    """A decision time's bucket, as migration 0035's triggers count it: the second below a
    minute, the minute below an hour, ten minutes below a day, the hour beyond (lower bounds)."""
    s = int(round(seconds, 3))
    if s < 60:
        return s
    if s < 3600:
        return s // 60 * 60
    if s < 86400:
        return s // 600 * 600
    return s // 3600 * 3600
