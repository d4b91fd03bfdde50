"""The conformance kit behind ``ltc-gateway adapter-check PAYER``: what an insurer runs against its
own endpoint, through the very adapter and configuration the gateway will use.

Every operation of the SDK is exercised with a synthetic share under fresh idempotency keys
(prefixed ``conformance:``, so the payer can discard them), plus the behaviours the fan-out relies
on: a retry with the same key gets the same decision, a key reused with another body is refused,
answers are well-formed decisions that pass the gateway's checks, and a call the client gave up on
(timed out) can be retried safely with the same key. A payer that adjudicates a fixed benefit
itself is also walked through a void that moves a month to another claim (``conformance_moved``).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from xml.etree import ElementTree

from adapters import conformance_moved
from adapters.registry import build_adapter
from adapters.sdk import (
    AdapterError,
    AdjustmentNotice,
    AssessmentNotice,
    Decision,
    PayerAdapter,
    PermanentError,
    ShareLine,
    ShareRequest,
    TransientError,
    VoidNotice,
)
from gateway.coordination import CaseFacts, coordinate_payer, fixed_benefits
from gateway.coordination.checks import AskedLine, DecidedLine, decision_faults
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product, ProductKind
from gateway.domain.providers import Designation

MEMBER_ID = "110105199001019998"  # a synthetic ID number (valid check digit), used by no real case


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class Sample:
    """A synthetic grade-4 case: 30 bed-days in the current month at a designated nursing home."""

    product: Product
    proposing: bool
    today: date

    def request(
        self,
        key: str,
        unit_price_fen: int = 15000,
        *,
        member_id: str = MEMBER_ID,
        start: date | None = None,
    ) -> ShareRequest:
        """A share of a new claim of the member: one bed-day on ``start`` (the current month's first)."""
        start = start or self.today.replace(day=1)
        line = ClaimLine.model_validate(
            {
                "line_no": 1,
                "service_code": "INST-BED-DAY",
                "setting": "institutional",
                "method": "per_diem",
                "service_date": start.isoformat(),
                "service_end_date": start.isoformat(),
                "quantity": 1,
                "unit_price_fen": unit_price_fen,
                "billed_fen": unit_price_fen,
            }
        )
        concluded = start - timedelta(days=60)  # recent enough for any product's validity period
        assessment = AssessmentFacts(4, concluded, concluded - timedelta(days=400))
        case = CaseFacts(
            lines=(line,),
            period_start=start,
            period_end=start,
            assessment=assessment,
            designation=Designation(True, date(2000, 1, 1), None),
        )
        coverage = Coverage(self.product, date(2000, 1, 1), None)
        proposal_line = None
        proposed_fixed: tuple[dict[str, Any], ...] = ()
        fixed = self.product.kind == ProductKind.FIXED_BENEFIT
        if self.proposing and fixed:
            proposed_fixed = tuple(
                {"month": d.month, "amount_fen": d.amount_fen}
                for d in fixed_benefits(coverage, case)
                if d.amount_fen
            )
        elif self.proposing:
            share, _ = coordinate_payer(coverage, case, {}, {})
            proposal_line = share.lines[0]
        return ShareRequest(
            idempotency_key=key,
            claim_id=str(uuid.uuid4()),
            claim_number=f"CONFORMANCE-{key[-8:]}",
            round=1,
            seq=1,
            payer_code=self.product.payer_code,
            product_code=self.product.product_code,
            product_version=1,
            adjudication="gateway" if self.proposing else "payer",
            kind="fixed_benefit" if fixed else "indemnity",
            provider={
                "provider_code": "CONFORMANCE",
                "district": "000000",
                "designated": True,
                "designated_from": "2000-01-01",
                "designated_to": None,
            },
            member={"id_number": member_id, "name": "测试", "district": None, "lat": None, "lon": None},
            coverage={"start_date": "2000-01-01", "end_date": None},
            assessment={
                "assessment_id": str(uuid.uuid4()),
                "grade": assessment.grade,
                "concluded_on": assessment.concluded_on.isoformat(),
                "disabled_since": assessment.disabled_since.isoformat(),
                "effective_from": assessment.effective_from.isoformat(),
            },
            period={"start": start.isoformat(), "end": start.isoformat()},
            lines=(
                ShareLine(
                    line_no=1,
                    service_code=line.service_code,
                    setting=line.setting.value,
                    method=line.method.value,
                    service_date=start.isoformat(),
                    service_end_date=start.isoformat(),
                    quantity=1,
                    unit_price_fen=unit_price_fen,
                    billed_fen=unit_price_fen,
                    exclusion=None,
                    visit=None,
                    prior_paid_fen=0,
                    remaining_fen=unit_price_fen,
                    proposed_paid_fen=proposal_line.paid_fen if proposal_line else None,
                    proposed_reasons=tuple(
                        {"code": r.value, "amount_fen": a} for r, a in proposal_line.reasons
                    )
                    if proposal_line
                    else (),
                ),
            ),
            proposed_fixed=proposed_fixed,
        )


def _problems(request: ShareRequest, decision: Decision) -> list[str]:
    if decision.status == "returned":  # 退回: well-formed with its reason (Decision.from_wire checks it)
        return [] if decision.return_reason else ["a returned share carries no return_reason"]
    if decision.status == "pending" or request.kind == "fixed_benefit":
        return []
    return decision_faults(
        [AskedLine(line.line_no, line.billed_fen, line.remaining_fen) for line in request.lines],
        [DecidedLine(d.line_no, d.paid_fen, d.reasons) for d in decision.lines],
    )


def _same(a: Decision, b: Decision) -> bool:
    return dataclasses.replace(a, payer_reference=None) == dataclasses.replace(b, payer_reference=None)


async def run_checks(
    payer_code: str,
    config: Mapping[str, Any],
    product: Product,
    proposing: bool,
    today: date | None = None,
    make_adapter: Callable[[str, Mapping[str, Any]], PayerAdapter] = build_adapter,
) -> list[Check]:
    sample = Sample(product, proposing, today or date.today())
    run = uuid.uuid4().hex[:12]
    adapter = make_adapter(payer_code, config)
    checks: list[Check] = []

    async def check(name: str, body: Callable[[], Awaitable[str]]) -> None:
        started = time.perf_counter()
        try:
            detail, passed = await body(), True
        except AssertionError as failure:
            detail, passed = str(failure), False
        except AdapterError as error:
            detail, passed = f"{type(error).__name__}: {error}", False
        checks.append(Check(name, passed, detail, time.perf_counter() - started))

    first = sample.request(f"conformance:{run}:share")
    answers: dict[str, Decision] = {}

    async def deliver() -> str:
        notice = AssessmentNotice(
            idempotency_key=f"conformance:{run}:assessment",
            assessment_id=first.assessment["assessment_id"],
            member={"id_number": MEMBER_ID, "name": "测试", "district": None},
            agency_code="CONFORMANCE",
            concluded_on=first.assessment["concluded_on"],
            disabled_since=first.assessment["disabled_since"],
            grade=4,
            levels={"adl": "severe", "cognition": "moderate", "perception": "intact"},
            scores={"adl": {"eating": 5}, "cognition": {"memory": 2}, "perception": {"vision": 4}},
            effective_from=first.assessment["effective_from"],
            valid_until=f"{sample.today.year + 2}-12-31",
        )
        await adapter.deliver_assessment(notice)
        return "accepted"

    async def submit() -> str:
        answers["first"] = decision = await adapter.submit_share(first)
        return f"{decision.status}, reference {decision.payer_reference}"

    async def well_formed() -> str:
        decision = answers.get("first")
        assert decision is not None, "no decision to check (submit_share failed)"
        faults = _problems(first, decision)
        assert not faults, "; ".join(faults)
        return "the decision passes the gateway's checks"

    async def retry() -> str:
        decision = answers.get("first")
        assert decision is not None, "no decision to compare (submit_share failed)"
        again = await adapter.submit_share(first)
        assert _same(decision, again), f"a retry with the same key answered differently: {again}"
        return "same key, same body: the same decision"

    async def fetch() -> str:
        decision = await adapter.fetch_decision(first.idempotency_key)
        earlier = answers.get("first")
        if earlier is not None and earlier.status == "decided":
            assert _same(decision, earlier), f"fetch answered {decision}, submit answered {earlier}"
        return decision.status

    async def reused_key() -> str:
        other = sample.request(first.idempotency_key, unit_price_fen=16000)
        try:
            answer = await adapter.submit_share(other)
        except PermanentError as error:
            return f"refused: {error}"[:120]
        raise AssertionError(f"a reused key with another body was accepted: {answer.status}")

    async def timeout() -> str:
        request = sample.request(f"conformance:{run}:timeout")
        impatient = make_adapter(
            payer_code, {**config, "timeout_seconds": 0.001, "connect_timeout_seconds": 0.001}
        )
        try:
            await impatient.submit_share(request)
            note = "(the payer answered within 1 ms)"
        except TransientError:
            note = "the client gave up after 1 ms"
        finally:
            await impatient.aclose()
        decision = await adapter.submit_share(request)
        again = await adapter.submit_share(request)
        assert _same(decision, again), "after a timeout, retries with the same key answered differently"
        return f"{note}; the retry with the same key was answered once: {decision.status}"

    async def adjustment() -> str:
        await adapter.submit_adjustment(
            AdjustmentNotice(
                idempotency_key=f"conformance:{run}:adjustment",
                claim_id=first.claim_id,
                claim_number=first.claim_number,
                payer_code=payer_code,
                product_code=product.product_code,
                round=2,
                cause="conformance check",
                lines=(
                    {"line_no": 1, "previous_paid_fen": 0, "paid_fen": 0, "delta_fen": 0, "kind": "top_up"},
                ),
            )
        )
        return "accepted"

    async def withdrawn() -> str:
        await adapter.submit_void(
            VoidNotice(
                idempotency_key=f"conformance:{run}:void",
                claim_id=first.claim_id,
                claim_number=first.claim_number,
                payer_code=payer_code,
                product_code=product.product_code,
                reason="conformance check",
                lines=(
                    {"line_no": 1, "previous_paid_fen": 0, "paid_fen": 0, "delta_fen": 0, "kind": "recovery"},
                ),
            )
        )
        return "accepted"

    async def statement() -> str:
        entries = await adapter.pull_statement(sample.today)
        return f"{len(entries)} entries for {sample.today}"

    try:
        await check("deliver_assessment", deliver)
        await check("submit_share", submit)
        await check("answers are well-formed", well_formed)
        await check("idempotent retry", retry)
        await check("fetch_decision", fetch)
        await check("key reused with another body is refused", reused_key)
        await check("retry after a timeout", timeout)
        await check("submit_adjustment", adjustment)
        await check("submit_void", withdrawn)
        if product.kind == ProductKind.FIXED_BENEFIT and not proposing:
            await check(conformance_moved.NAME, conformance_moved.moved_month(sample, adapter, run))
        await check("pull_statement", statement)
        profile = getattr(adapter, "conformance_checks", None)  # a profile's own (adapters/hsa)
        for name, body in profile(sample.request, run) if callable(profile) else []:
            await check(name, body)
    finally:
        await adapter.aclose()
    return checks


def render(payer_code: str, checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"adapter-check {payer_code}", ""]
    lines.append(f"  {'check':<{width}}  result  time     detail")
    lines.append(f"  {'-' * width}  ------  -------  ------")
    for c in checks:
        result = "pass" if c.passed else "FAIL"
        lines.append(f"  {c.name:<{width}}  {result:<6}  {c.seconds * 1000:5.0f}ms  {c.detail}")
    failed = sum(not c.passed for c in checks)
    lines.append("")
    lines.append(f"{len(checks) - failed} passed, {failed} failed")
    return "\n".join(lines)


def render_json(payer_code: str, checks: list[Check]) -> str:
    """The results for an insurer's CI: one object, ``passed`` false if any check failed and
    ``failed`` how many did."""
    return json.dumps(
        {
            "payer_code": payer_code,
            "passed": all(c.passed for c in checks),
            "failed": sum(not c.passed for c in checks),
            "checks": [
                {"name": c.name, "passed": c.passed, "seconds": round(c.seconds, 4), "detail": c.detail}
                for c in checks
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def render_junit(payer_code: str, checks: list[Check]) -> str:
    """JUnit XML (one test suite, a test case per check), which CI systems display as tests."""
    failed = sum(not c.passed for c in checks)
    suite = ElementTree.Element(
        "testsuite",
        name=f"adapter-check {payer_code}",
        tests=str(len(checks)),
        failures=str(failed),
        errors="0",
        time=f"{sum(c.seconds for c in checks):.3f}",
    )
    for c in checks:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"adapter-check.{payer_code}", name=c.name, time=f"{c.seconds:.3f}"
        )
        if c.passed:
            ElementTree.SubElement(case, "system-out").text = c.detail
        else:
            ElementTree.SubElement(case, "failure", message=c.detail[:200]).text = c.detail
    suites = ElementTree.Element("testsuites", tests=str(len(checks)), failures=str(failed))
    suites.append(suite)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True)
