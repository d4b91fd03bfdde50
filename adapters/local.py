"""The local adapter: a payer that has no integration of its own and lets the gateway adjudicate
with its published product rules. It accepts the gateway's proposal as its decision."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from adapters.sdk import (
    AdjustmentNotice,
    AssessmentNotice,
    Capabilities,
    Decision,
    LineDecision,
    PermanentError,
    ShareRequest,
    StatementEntry,
    VoidNotice,
)


class LocalAdapter:
    # the gateway computes a proposal for every share sent here; the payer sends no statements
    capabilities = Capabilities(pulls_statements=False, adjudicates_locally=True)

    def __init__(self, payer_code: str) -> None:
        self.payer_code = payer_code

    @classmethod
    def from_config(cls, payer_code: str, config: Mapping[str, Any]) -> LocalAdapter:
        return cls(payer_code)

    async def deliver_assessment(self, notice: AssessmentNotice) -> None:
        return None

    async def submit_share(self, request: ShareRequest) -> Decision:
        if request.kind == "fixed_benefit":
            return Decision("decided", f"local:{request.idempotency_key}", fixed=request.proposed_fixed)
        lines = []
        for line in request.lines:
            if line.proposed_paid_fen is None:
                raise PermanentError(f"line {line.line_no} carries no proposal to accept")
            reasons = tuple((str(r["code"]), int(r["amount_fen"])) for r in line.proposed_reasons)
            lines.append(LineDecision(line.line_no, line.proposed_paid_fen, reasons))
        return Decision("decided", f"local:{request.idempotency_key}", tuple(lines))

    async def fetch_decision(self, idempotency_key: str) -> Decision:
        raise PermanentError("the local adapter decides at once; there is nothing to fetch")

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None:
        return None

    async def submit_void(self, notice: VoidNotice) -> None:
        return None

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        raise PermanentError("a local payer sends no statements to pull")

    async def aclose(self) -> None:
        return None
