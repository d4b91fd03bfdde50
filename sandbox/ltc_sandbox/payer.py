"""A sandbox payer's behaviour, independent of the transport that carries it."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from adapters.sdk import Decision, LineDecision, ShareRequest
from gateway.coordination import CaseFacts, Repeat, coordinate_payer, fixed_benefits
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product
from gateway.domain.providers import Designation
from gateway.ledger import business_date
from gateway.storage.claim_lines import claim_line


@dataclass
class Faults:
    """Misbehaviour on demand. ``*_first`` counts apply per idempotency key."""

    fail_first: int = 0  # answer a transient failure (HTTP 503 / SOAP server fault)
    malformed_first: int = 0  # answer garbage
    timeout_first: int = 0  # sleep ``timeout_seconds`` before answering (longer than the client waits)
    timeout_seconds: float = 5.0
    latency_ms: int = 0  # every answer
    pending: bool = False  # answer "pending", then decide by callback after ``callback_delay_ms``
    callback_delay_ms: int = 200
    overpay_fen: int = 0  # add this much to every line it pays (a payer that gets its sums wrong)
    return_reason: str | None = None  # return every new share unadjudicated (退回) for this reason
    ignore_moved: bool = False  # read no void notice's fixed_moved (a payer built before it existed)


class Outcome:
    FAIL = "fail"
    MALFORMED = "malformed"
    CONFLICT = "conflict"


@dataclass
class SandboxPayer:
    payer_code: str
    mode: str  # "gateway": acknowledge proposals; "payer": adjudicate with own product rules
    products: dict[str, Product] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    callback_url: str | None = None  # the gateway's base URL, for pending decisions
    callback_key: str | None = None  # this payer's API key at the gateway
    submissions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # key → body digests
    conflicts: list[str] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    requests: dict[str, ShareRequest] = field(default_factory=dict)
    assessments: dict[str, dict[str, Any]] = field(default_factory=dict)
    adjustments: dict[str, dict[str, Any]] = field(default_factory=dict)
    reversals: dict[str, str] = field(default_factory=dict)  # share key reversed (冲正) → cause
    voids: dict[str, dict[str, Any]] = field(default_factory=dict)  # void notices by key
    settled: list[dict[str, Any]] = field(default_factory=list)
    # (claim_id, line_no) → (care setting, service month, billed fen): what reconciliation groups by
    lines: dict[tuple[str, int], tuple[str, str, int]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # (member ID number, product) → claim → the latest round's request and decision
    _latest: dict[tuple[str, str], dict[str, tuple[ShareRequest, Decision]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # (member ID number, product) → claim → fixed-benefit month a void moved to it → the claim's
    # round then: the claim holds the month until a later round of it is decided afresh
    moved: dict[tuple[str, str], dict[str, dict[str, int]]] = field(default_factory=lambda: defaultdict(dict))

    # --- operations -----------------------------------------------------------------------------

    def submit_share(self, wire: dict[str, Any]) -> Decision | str:
        """The decision, or an Outcome telling the transport to misbehave."""
        key = str(wire.get("idempotency_key"))
        digest = hashlib.sha256(json.dumps(wire, sort_keys=True).encode()).hexdigest()
        with self._lock:
            seen = self.submissions[key]
            if seen and digest not in seen:
                self.conflicts.append(key)
                seen.append(digest)
                return Outcome.CONFLICT
            seen.append(digest)
            attempt = self._attempts[key]
            self._attempts[key] += 1
        self._delay(attempt)
        if attempt < self.faults.fail_first:
            return Outcome.FAIL
        if attempt < self.faults.fail_first + self.faults.malformed_first:
            return Outcome.MALFORMED
        with self._lock:
            if key in self.decisions:
                return self.decisions[key]
            request = ShareRequest.from_wire(wire)
            self.requests[key] = request
            if self.faults.return_reason:
                returned = Decision(
                    "returned", f"{self.payer_code}:{key}", return_reason=self.faults.return_reason
                )
                self.decisions[key] = returned
                return returned
            decision = self._adjudicate(request)
            if self.faults.pending:
                threading.Thread(target=self._decide_later, args=(request, decision), daemon=True).start()
                return Decision("pending", f"{self.payer_code}:{key}")
            self._remember(request, decision)
            return decision

    def fetch_decision(self, key: str) -> Decision | None:
        with self._lock:
            return self.decisions.get(key)

    def deliver_assessment(self, wire: dict[str, Any]) -> None:
        with self._lock:
            self.assessments[str(wire["idempotency_key"])] = wire

    def submit_adjustment(self, wire: dict[str, Any]) -> None:
        with self._lock:
            self.adjustments[str(wire["idempotency_key"])] = wire

    def submit_void(self, wire: dict[str, Any]) -> None:
        """The claim was withdrawn: its shares no longer count against the member's limits here. A
        fixed-benefit month the gateway moved to another live claim (``fixed_moved``) is held by
        that claim from now on: no other claim of the month is granted it again."""
        claim_id, product = str(wire["claim_id"]), str(wire["product_code"])
        with self._lock:
            self.voids[str(wire["idempotency_key"])] = wire
            for (_, code), claims in self._latest.items():
                if code == product:
                    claims.pop(claim_id, None)
            asked = next((r for r in self.requests.values() if r.claim_id == claim_id), None)
            if asked is None:
                return
            held = self.moved[(str(asked.member.get("id_number")), product)]
            held.pop(claim_id, None)  # what a void had moved to this claim, this notice moves on
            for entry in () if self.faults.ignore_moved else wire.get("fixed_moved") or ():
                to = str(entry["to_claim_id"])
                held.setdefault(to, {})[str(entry["month"])] = self._round_seen(to, product)

    def reverse(self, key: str, cause: str) -> None:
        """冲正: the share decided under ``key`` no longer counts against the member's limits."""
        with self._lock:
            self.reversals.setdefault(key, cause)
            request = self.requests.get(key)
            if request is not None:
                claims = self._latest.get((str(request.member.get("id_number")), request.product_code), {})
                if claims.get(request.claim_id, (None,))[0] is request:
                    del claims[request.claim_id]

    def statement(self, business_date: date) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.settled if e["settled_on"] == business_date.isoformat()]

    def settled_through(self, business_date: date) -> list[dict[str, Any]]:
        """Every settlement up to the date (reconciliation's level 1 and 2 look at all of them)."""
        with self._lock:
            return [e for e in self.settled if e["settled_on"] <= business_date.isoformat()]

    def log(self) -> dict[str, Any]:
        with self._lock:
            return {
                "payer_code": self.payer_code,
                "submissions": {k: list(v) for k, v in self.submissions.items()},
                "conflicts": list(self.conflicts),
                "decided": sorted(self.decisions),
                "assessments": sorted(self.assessments),
                "adjustments": list(self.adjustments.values()),
                "reversals": dict(self.reversals),
                "voids": list(self.voids.values()),
            }

    # --- behaviour ------------------------------------------------------------------------------

    def _delay(self, attempt: int) -> None:
        if attempt < self.faults.timeout_first:
            time.sleep(self.faults.timeout_seconds)
        elif self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)

    def _adjudicate(self, request: ShareRequest) -> Decision:
        decision = self._rules(request)
        if not self.faults.overpay_fen:
            return decision
        lines = tuple(
            LineDecision(d.line_no, d.paid_fen + self.faults.overpay_fen, d.reasons) for d in decision.lines
        )
        return Decision(decision.status, decision.payer_reference, lines, decision.fixed)

    def _rules(self, request: ShareRequest) -> Decision:
        reference = f"{self.payer_code}:{request.idempotency_key}"
        if self.mode == "gateway":
            if request.kind == "fixed_benefit":
                return Decision("decided", reference, fixed=request.proposed_fixed)
            return Decision(
                "decided",
                reference,
                tuple(
                    LineDecision(
                        line.line_no,
                        line.proposed_paid_fen or 0,
                        tuple((r["code"], r["amount_fen"]) for r in line.proposed_reasons),
                    )
                    for line in request.lines
                ),
            )
        product = self.products.get(request.product_code)
        if product is None:
            raise KeyError(f"{self.payer_code} has no product {request.product_code}")
        case = _case(request)
        end = request.coverage.get("end_date")
        coverage = Coverage(
            product,
            date.fromisoformat(request.coverage["start_date"]),
            date.fromisoformat(end) if end else None,
        )
        if request.kind == "fixed_benefit":
            granted = self._granted_months(request)
            decisions = fixed_benefits(coverage, case, frozenset(granted))
            return Decision(
                "decided",
                reference,
                fixed=tuple(
                    {"month": d.month, "amount_fen": d.amount_fen} for d in decisions if d.amount_fen
                ),
            )
        prior = {line.line_no: line.prior_paid_fen for line in request.lines}
        share, _ = coordinate_payer(coverage, case, prior, self._usage(request))
        return Decision(
            "decided",
            reference,
            tuple(
                LineDecision(line.line_no, line.paid_fen, tuple((r.value, a) for r, a in line.reasons))
                for line in share.lines
            ),
        )

    def _remember(self, request: ShareRequest, decision: Decision) -> None:
        self.decisions[request.idempotency_key] = decision
        claims = self._latest[(str(request.member.get("id_number")), request.product_code)]
        known = claims.get(request.claim_id)
        if known is None or known[0].round <= request.round:
            claims[request.claim_id] = (request, decision)
        held = self.moved.get((str(request.member.get("id_number")), request.product_code), {})
        for month, round_ in list(held.get(request.claim_id, {}).items()):
            if round_ < request.round:  # decided afresh (a replacement): it holds what it was granted
                del held[request.claim_id][month]
        today = business_date().isoformat()  # settlement dates are Beijing dates, as in the ledger
        month = str(request.period.get("start", ""))[:7]
        for share_line in request.lines:
            self.lines[(request.claim_id, share_line.line_no)] = (
                share_line.setting,
                month,
                share_line.billed_fen,
            )
        for line in decision.lines:
            if line.paid_fen:
                self.settled.append(
                    {
                        "claim_id": request.claim_id,
                        "line_no": line.line_no,
                        "paid_fen": line.paid_fen,
                        "payer_reference": decision.payer_reference,
                        "settled_on": today,
                    }
                )

    def _current(self, request: ShareRequest) -> list[tuple[ShareRequest, Decision]]:
        """This payer's latest decision on each other claim of the same member and product."""
        claims = self._latest.get((str(request.member.get("id_number")), request.product_code), {})
        return [entry for claim_id, entry in claims.items() if claim_id != request.claim_id]

    def _usage(self, request: ShareRequest) -> dict[str, int]:
        usage: dict[str, int] = defaultdict(int)
        for earlier, decision in self._current(request):
            dates = {line.line_no: line.service_date for line in earlier.lines}
            for line in decision.lines:
                day = dates[line.line_no]
                usage[f"month:{day[:7]}"] += line.paid_fen
                usage[f"year:{day[:4]}"] += line.paid_fen
        return dict(usage)

    def _granted_months(self, request: ShareRequest) -> set[str]:
        granted = {f["month"] for _, decision in self._current(request) for f in decision.fixed}
        held = self.moved.get((str(request.member.get("id_number")), request.product_code), {})
        return granted | {m for claim, months in held.items() if claim != request.claim_id for m in months}

    def _round_seen(self, claim_id: str, product: str) -> int:
        """The latest round of the claim this payer was asked (0: not asked yet)."""
        rounds = (
            r.round for r in self.requests.values() if r.claim_id == claim_id and r.product_code == product
        )
        return max(rounds, default=0)

    def _decide_later(self, request: ShareRequest, decision: Decision) -> None:
        time.sleep(self.faults.callback_delay_ms / 1000)
        with self._lock:
            self._remember(request, decision)
        if self.callback_url and self.callback_key:
            body = {
                "claim_id": request.claim_id,
                "product_code": request.product_code,
                "round": request.round,
                **decision.to_wire(),
            }
            httpx.post(
                f"{self.callback_url}/v1/payers/{self.payer_code}/decisions",
                json=body,
                timeout=10,
                headers={"Authorization": f"Bearer {self.callback_key}"},
            )


def _case(request: ShareRequest) -> CaseFacts:
    lines = tuple(claim_line(line) for line in request.lines)
    a, p, m = request.assessment, request.provider, request.member
    position = (m["lat"], m["lon"]) if m.get("lat") is not None and m.get("lon") is not None else None
    return CaseFacts(
        lines=lines,
        period_start=date.fromisoformat(request.period["start"]),
        period_end=date.fromisoformat(request.period["end"]),
        assessment=AssessmentFacts(
            int(a["grade"]), date.fromisoformat(a["concluded_on"]), date.fromisoformat(a["disabled_since"])
        ),
        designation=Designation(
            bool(p.get("designated")), _day(p.get("designated_from")), _day(p.get("designated_to"))
        ),
        member_position=position,
        repeats={
            line.line_no: Repeat(
                line.repeated_units, tuple(date.fromisoformat(d) for d in line.repeated_days), ()
            )
            for line in request.lines
            if line.repeated_units
        },
    )


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
