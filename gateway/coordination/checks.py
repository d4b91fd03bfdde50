"""Checking a payer's own decision before it is recorded as paid (``adjudication: payer``, and
the acknowledgement of a gateway proposal). Pure: the share as asked, the decision as answered.

A decision is refused — not recorded — when any line pays a negative amount, more than billed or
more than is still unpaid after the earlier payers, when its lines are not the claim's lines,
or when its reasons are unknown or do not explain every unpaid fen (section 5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.coordination.reasons import Reason

KNOWN_REASONS = frozenset(reason.value for reason in Reason)


@dataclass(frozen=True, slots=True)
class AskedLine:
    line_no: int
    billed_fen: int
    remaining_fen: int  # billed − what earlier payers paid


@dataclass(frozen=True, slots=True)
class DecidedLine:
    line_no: int
    paid_fen: int
    reasons: tuple[tuple[str, int], ...]


def decision_faults(asked: Sequence[AskedLine], decided: Iterable[DecidedLine]) -> list[str]:
    """Every reason to refuse the decision; empty when it may be recorded."""
    faults: list[str] = []
    by_no: dict[int, DecidedLine] = {}
    for line in decided:
        if line.line_no in by_no:
            faults.append(f"line {line.line_no}: decided twice")
        by_no[line.line_no] = line
    expected = {line.line_no for line in asked}
    for extra in sorted(set(by_no) - expected):
        faults.append(f"line {extra}: not a line of this claim")
    for wanted in asked:
        decision = by_no.get(wanted.line_no)
        if decision is None:
            faults.append(f"line {wanted.line_no}: no decision")
            continue
        faults.extend(f"line {wanted.line_no}: {fault}" for fault in _line_faults(wanted, decision))
    return faults


def _line_faults(asked: AskedLine, decision: DecidedLine) -> list[str]:
    paid = decision.paid_fen
    if paid < 0:
        return [f"pays a negative amount ({paid} fen)"]
    if paid > asked.billed_fen:
        return [f"pays {paid} fen, more than billed ({asked.billed_fen} fen)"]
    if paid > asked.remaining_fen:
        return [f"pays {paid} fen, more than the {asked.remaining_fen} fen still unpaid after earlier payers"]
    faults = []
    unknown = sorted({code for code, _ in decision.reasons} - KNOWN_REASONS)
    if unknown:
        faults.append(f"unknown reason codes {', '.join(unknown)}")
    if any(amount < 0 for _, amount in decision.reasons):
        faults.append("a negative reason amount")
    explained = sum(amount for _, amount in decision.reasons)
    if explained != asked.billed_fen - paid:
        faults.append(f"reasons explain {explained} fen of the {asked.billed_fen - paid} fen not paid")
    return faults


def fixed_benefit_faults(
    months_in_period: Iterable[str],
    already_granted: Iterable[str],
    granted: Sequence[Mapping[str, object]],
    monthly_ceiling_fen: int,
) -> list[str]:
    """A fixed benefit is at most the product's monthly sum, once per month of the claim period."""
    faults: list[str] = []
    allowed, taken, seen = set(months_in_period), set(already_granted), set()
    for entry in granted:
        month, amount = str(entry["month"]), entry["amount_fen"]
        if not isinstance(amount, int) or amount < 0:
            faults.append(f"month {month}: amount must be a non-negative integer of fen")
        elif amount > monthly_ceiling_fen:
            faults.append(f"month {month}: {amount} fen is more than the product's {monthly_ceiling_fen} fen")
        if month not in allowed:
            faults.append(f"month {month}: not in the claim period")
        if month in taken:
            faults.append(f"month {month}: already granted to this member through another claim")
        if month in seen:
            faults.append(f"month {month}: granted twice")
        seen.add(month)
    return faults
