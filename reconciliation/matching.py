"""The reconciliation taxonomy (domain.md section 6) as pure rules over one payer-line key.

``classify`` is the specification; ``reconciliation.sql.classify`` applies the same decision table
to every key at once in SQL (a ``CASE`` in the same order), and the tests hold the two to each other.

For one payer, claim and line (line 0: claim level), as of the business date:
* no ledger entry at all, but settled            → UNKNOWN_AT_GATEWAY
* expected > 0, nothing settled, past the window → MISSING_AT_PAYER (within it: not due yet)
* settled = expected                             → MATCHED
* several entries, each the full expected amount → DUPLICATE_SETTLEMENT
* settled equals an earlier expected figure       → STALE_COORDINATION (a revision changed it)
* otherwise                                       → AMOUNT_MISMATCH
and, across payers, a line settled for more than it billed → OVER_COORDINATED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class MismatchKind(StrEnum):
    MATCHED = "MATCHED"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    MISSING_AT_PAYER = "MISSING_AT_PAYER"
    UNKNOWN_AT_GATEWAY = "UNKNOWN_AT_GATEWAY"
    DUPLICATE_SETTLEMENT = "DUPLICATE_SETTLEMENT"
    OVER_COORDINATED = "OVER_COORDINATED"
    STALE_COORDINATION = "STALE_COORDINATION"


NOT_DUE = "NOT_DUE"  # expected, still inside the settlement window: not an item yet
NOTHING = "NOTHING"  # nothing expected and nothing settled
MISMATCHES = tuple(k.value for k in MismatchKind if k != MismatchKind.MATCHED)
ACROSS_PAYERS = "*"  # the payer code of an over-coordinated line's item
# The statuses of a work-queue item still to be worked: the queue lists these by default and the
# nightly run updates or clears them (resolved and cleared items are done).
OPEN_MISMATCH_STATUSES = ("open", "pending_approval", "awaiting_payer", "carried")


@dataclass(frozen=True)
class KeyFacts:
    expected: int | None  # Σ ledger entries; None when the gateway never routed the key to the payer
    earlier_expected: Sequence[int]  # the expected figure after each earlier entry (before the last)
    since: date | None  # business date of the first ledger entry
    settled: int | None  # Σ statement entries; None when the payer settled nothing
    entries: int = 0
    largest: int | None = None
    smallest: int | None = None


def classify(facts: KeyFacts, window_start: date) -> str:
    """``window_start``: expectations older than this should have been settled by now."""
    if facts.expected is None:
        return MismatchKind.UNKNOWN_AT_GATEWAY.value if facts.settled is not None else NOTHING
    if facts.settled is None:
        if facts.expected == 0:
            return NOTHING
        assert facts.since is not None
        return MismatchKind.MISSING_AT_PAYER.value if facts.since < window_start else NOT_DUE
    if facts.settled == facts.expected:
        return MismatchKind.MATCHED.value
    if (
        facts.entries > 1
        and facts.expected > 0
        and facts.largest == facts.smallest == facts.expected
        and facts.settled == facts.expected * facts.entries
    ):
        return MismatchKind.DUPLICATE_SETTLEMENT.value
    if facts.settled in facts.earlier_expected:
        return MismatchKind.STALE_COORDINATION.value
    return MismatchKind.AMOUNT_MISMATCH.value


def over_coordinated(settled_by_all_payers: int, billed_fen: int) -> bool:
    return settled_by_all_payers > billed_fen
