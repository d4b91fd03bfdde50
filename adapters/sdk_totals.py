"""The adapter SDK's part for reconciliation in two levels (domain.md section 6): a payer's totals
per clearing category and period, the lines the gateway expects (for a payer that compares the
detail itself), and the calls of an adapter that answers them (``Capabilities.pulls_totals`` and
``pulls_detail`` in ``adapters.sdk``). Like the SDK, it imports nothing of the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

from adapters.sdk import MalformedAnswer, StatementEntry, _fen, _int, _text


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    """One payer's totals for one clearing category and period (level 1 of reconciliation, like
    the platform's 3201): how many claim lines settled (or expected) and for how much.

    ``category``: the clearing category (the gateway's definition: docs/reconciliation.md);
    ``period``: the claims' service month, ``YYYY-MM``; ``billed_fen``: what those lines billed,
    when the payer reports it (compared only then)."""

    category: str
    period: str
    count: int
    paid_fen: int
    billed_fen: int | None = None

    @classmethod
    def from_wire(cls, wire: Any) -> PeriodTotals:
        try:
            billed = wire.get("billed_fen")
            return cls(
                category=_text(wire["category"]),
                period=_text(wire["period"]),
                count=_int(wire["count"]),
                paid_fen=_fen(wire["paid_fen"]),
                billed_fen=None if billed is None else _fen(billed),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise MalformedAnswer(f"not period totals: {type(error).__name__} {error}") from None


@dataclass(frozen=True, slots=True)
class ExpectedLine:
    """A line the gateway expects a payer to have settled (level 2, sent when the payer compares
    the detail itself, like the platform's 3202)."""

    claim_id: str
    line_no: int
    expected_fen: int


@runtime_checkable
class PullsTotals(Protocol):
    """An adapter whose payer answers totals (``Capabilities.pulls_totals``). ``ours``: the
    gateway's totals for the same date, for a payer that compares them itself (the platform's
    3201 takes the institution's figures); a payer may answer categories and periods beyond them."""

    async def pull_totals(
        self, business_date: date, ours: tuple[PeriodTotals, ...]
    ) -> list[PeriodTotals]: ...


@runtime_checkable
class PullsDetail(Protocol):
    """An adapter whose payer answers its lines of one category and period where totals differ
    (``Capabilities.pulls_detail``); ``ours``: the lines the gateway expects there."""

    async def pull_detail(
        self, business_date: date, totals: PeriodTotals, ours: tuple[ExpectedLine, ...]
    ) -> list[StatementEntry]: ...
