"""A payer adapter as a third party would ship it: a package with an ``ltc_gateway.adapters`` entry
point. It keeps its decisions in memory and acknowledges the gateway's proposals; its statement is
the ``statement`` entries of its configuration (what the payer would report as settled)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from adapters.sdk import (
    AdjustmentNotice,
    AssessmentNotice,
    Decision,
    LineDecision,
    PermanentError,
    ShareRequest,
    StatementEntry,
    VoidNotice,
    to_wire,
)


class EchoPayer:
    def __init__(self, payer_code: str, config: Mapping[str, Any]) -> None:
        self.payer_code = payer_code
        self.bodies: dict[str, str] = {}
        self.decisions: dict[str, Decision] = {}
        self.statement = [dict(entry) for entry in config.get("statement") or ()]

    async def deliver_assessment(self, notice: AssessmentNotice) -> None:
        return None

    async def submit_share(self, request: ShareRequest) -> Decision:
        body = json.dumps(to_wire(request), sort_keys=True)
        if self.bodies.setdefault(request.idempotency_key, body) != body:
            raise PermanentError("idempotency key reused with another body")
        if request.idempotency_key not in self.decisions:
            lines = tuple(
                LineDecision(
                    line.line_no,
                    line.proposed_paid_fen or 0,
                    tuple((r["code"], r["amount_fen"]) for r in line.proposed_reasons),
                )
                for line in request.lines
            )
            self.decisions[request.idempotency_key] = Decision(
                "decided", f"echo:{request.idempotency_key}", lines, request.proposed_fixed
            )
        return self.decisions[request.idempotency_key]

    async def fetch_decision(self, idempotency_key: str) -> Decision:
        return self.decisions.get(idempotency_key, Decision("pending"))

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None:
        return None

    async def submit_void(self, notice: VoidNotice) -> None:
        return None

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        return [StatementEntry(**entry) for entry in self.statement]

    async def aclose(self) -> None:
        return None
