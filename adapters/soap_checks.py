"""The conformance kit's checks of a SOAP adapter's lean path against zeep, run by
``ltc-gateway adapter-check`` against the payer's own WSDL and endpoint: every planned
operation's envelope and SOAPAction are zeep's (compared as canonical XML), and a decision
fetched through both paths is the same."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lxml import etree

from adapters.sdk import AdjustmentNotice, Decision, ShareRequest, VoidNotice

if TYPE_CHECKING:
    from adapters.soap import SoapAdapter

Check = tuple[str, Callable[[], Awaitable[str]]]


def _samples(share: ShareRequest, run: str) -> dict[str, Any]:
    from adapters.conformance import MEMBER_ID
    from adapters.sdk import AssessmentNotice

    line = {"line_no": 1, "previous_paid_fen": 0, "paid_fen": 0, "delta_fen": 0, "kind": "top_up"}
    ids = (share.claim_id, share.claim_number, share.payer_code, share.product_code)
    return {
        "deliver_assessment": AssessmentNotice(
            f"conformance:{run}:lean-assessment",
            share.assessment["assessment_id"],
            {"id_number": MEMBER_ID, "name": "测试", "district": None},
            "CONFORMANCE",
            share.assessment["concluded_on"],
            share.assessment["disabled_since"],
            4,
            {"adl": "severe"},
            {"adl": {"eating": 5}},
            share.assessment["effective_from"],
            "2099-12-31",
        ),
        "submit_share": share,
        "fetch_decision": share.idempotency_key,
        "submit_adjustment": AdjustmentNotice(f"conformance:{run}:lean-adj", *ids, 2, "check", (line,)),
        "submit_void": VoidNotice(f"conformance:{run}:lean-void", *ids, "check", (line,)),
    }


def lean_checks(adapter: SoapAdapter, request: Callable[[str], ShareRequest], run: str) -> list[Check]:
    async def envelopes() -> str:
        client = await adapter.client()
        if not adapter.plans:
            return "no lean plans: every operation goes through zeep"
        samples = _samples(request(f"conformance:{run}:lean"), run)
        for operation, plan in adapter.plans.items():
            arguments = adapter.arguments(operation, samples[operation])
            serialized = client.service._binding._operations[plan.name].input.serialize(**arguments)
            theirs = etree.tostring(serialized.content, method="c14n")
            ours = etree.tostring(etree.fromstring(plan.envelope(arguments)), method="c14n")
            assert ours == theirs, f"{plan.name}: the lean envelope differs from zeep's"
            action = serialized.headers["SOAPAction"]
            assert action == plan.soap_action, f"{plan.name}: SOAPAction {plan.soap_action}, zeep's {action}"
        through_zeep = sorted(set(adapter.operations) - set(adapter.plans))
        return f"lean: {', '.join(sorted(adapter.plans))}; zeep: {', '.join(through_zeep)}"

    async def answers() -> str:
        if "fetch_decision" not in adapter.plans:
            return "fetch_decision is sent through zeep"
        key = f"conformance:{run}:share"  # the kit's first share, submitted by now
        lean = await adapter.fetch_decision(key)
        zeep = Decision.from_wire(await adapter._call("fetch_decision", via_zeep=True, idempotency_key=key))
        assert lean == zeep, f"fetch_decision answered {lean} lean, {zeep} through zeep"
        return f"fetch_decision: the same {lean.status} decision through both"

    return [("SOAP lean envelopes are zeep's", envelopes), ("SOAP lean answers are zeep's", answers)]
