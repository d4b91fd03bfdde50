"""JSON Schemas (2020-12) of the SDK's wire messages, generated from the dataclasses in
``adapters.sdk``: what ``to_wire`` sends is exactly their fields. A decision is written by hand,
because a payer sends it in the wire's shape (reasons as objects), not the dataclass's."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from adapters.sdk import (
    AdjustmentNotice,
    AssessmentNotice,
    Decision,
    LineDecision,
    ShareLine,
    ShareRequest,
    StatementEntry,
    VoidNotice,
    to_wire,
)

MESSAGES = {
    "share-request": ShareRequest,
    "assessment-notice": AssessmentNotice,
    "adjustment-notice": AdjustmentNotice,
    "void-notice": VoidNotice,
    "statement-entry": StatementEntry,
}
FEN = "an amount in fen (1/100 yuan)"


def _of(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is str:
        return {"type": "string"}
    if hint is int:
        return {"type": "integer"}
    if hint is bool:
        return {"type": "boolean"}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        options = [_of(a) for a in args if a is not type(None)]
        if len(options) == 1 and "type" in options[0]:
            return {**options[0], "type": [options[0]["type"], "null"]}
        return {"anyOf": [*options, {"type": "null"}]}
    if origin is tuple:
        return {"type": "array", "items": _of(args[0]) if args else {}}
    if origin is dict or hint is dict:
        return {"type": "object", "additionalProperties": _of(args[1]) if args else {}}
    if hint is Any:
        return {}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return {"$ref": f"#/components/schemas/{_name(hint)}"}
    raise TypeError(f"no JSON Schema for {hint!r}")


def _name(cls: type) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("-")


def of_dataclass(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        schema = _of(hints[f.name])
        if f.name.endswith("_fen"):
            schema["description"] = FEN
        properties[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {
        "type": "object",
        "description": (cls.__doc__ or cls.__name__).strip().splitlines()[0],
        "required": required,
        "properties": properties,
    }


REASON = {
    "type": "object",
    "required": ["code", "amount_fen"],
    "properties": {"code": {"type": "string"}, "amount_fen": {"type": "integer", "description": FEN}},
}
FIXED_MONTH: dict[str, Any] = {
    "type": "object",
    "required": ["month", "amount_fen"],
    "properties": {"month": {"type": "string"}, "amount_fen": {"type": "integer", "description": FEN}},
}
MOVED_MONTH = {
    "type": "object",
    "required": ["month", "amount_fen", "payer_code", "product_code", "to_claim_id", "to_claim_number"],
    "properties": {
        **FIXED_MONTH["properties"],
        "payer_code": {"type": "string"},
        "product_code": {"type": "string"},
        "to_claim_id": {"type": "string", "description": "the live claim that holds the month from now on"},
        "to_claim_number": {"type": "string"},
    },
}
DECISION = {
    "type": "object",
    "description": "A payer's answer to a share: decided now, pending (it will call back or be asked "
    "again), or returned unadjudicated (退回) with a return_reason, which the provider must put right. "
    "Each line's reasons add up to billed − paid.",
    "required": ["status"],
    "properties": {
        "status": {"enum": ["decided", "pending", "returned"]},
        "return_reason": {
            "type": "string",
            "description": "returned: why (a missing document, the wrong member, …); 1 to 500 characters",
        },
        "payer_reference": {"type": ["string", "null"]},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["line_no", "paid_fen"],
                "properties": {
                    "line_no": {"type": "integer"},
                    "paid_fen": {"type": "integer", "description": FEN},
                    "reasons": {"type": "array", "items": REASON},
                },
            },
        },
        "fixed": {
            "type": "array",
            "description": "a fixed benefit: the months granted",
            "items": FIXED_MONTH,
        },
    },
}


VOID_FIXED = {
    "fixed": {
        "type": "array",
        "description": "fixed-benefit months granted through the claim and recovered",
        "items": FIXED_MONTH,
    },
    "fixed_moved": {
        "type": "array",
        "description": "fixed-benefit months granted through the claim that another live claim of the "
        "member covers: not recovered, held by to_claim_id from now on; grant them to no other claim "
        "(added later: a payer that ignores it still reads the notice)",
        "items": MOVED_MONTH,
    },
}


def schemas() -> dict[str, Any]:
    found = {name: of_dataclass(cls) for name, cls in MESSAGES.items()}
    found["void-notice"]["properties"].update(VOID_FIXED)
    found["share-line"] = of_dataclass(ShareLine)
    found["decision"] = DECISION
    found["statement"] = {
        "type": "object",
        "required": ["entries"],
        "properties": {
            "entries": {"type": "array", "items": {"$ref": "#/components/schemas/statement-entry"}}
        },
    }
    return found


CLAIM = "2a68cebc-ef9d-4803-86cc-165105bc24e2"
_SHARE = ShareRequest(
    idempotency_key=f"{CLAIM}:1:2",
    claim_id=CLAIM,
    claim_number="P3301020001-202611-0001",
    round=1,
    seq=2,
    payer_code="huiminbao",
    product_code="HMB-LTC-2026",
    product_version=1,
    adjudication="payer",
    kind="indemnity",
    provider={
        "provider_code": "P3301020001",
        "district": "330102",
        "designated": True,
        "designated_from": "2024-01-01",
        "designated_to": None,
    },
    member={
        "id_number": "11010519491231002X",
        "name": "王某某",
        "district": "330102",
        "lat": None,
        "lon": None,
    },
    coverage={"start_date": "2025-01-01", "end_date": None},
    assessment={
        "assessment_id": "e0ac25ab-c224-4a5b-a9bb-17a35bf9ca04",
        "grade": 4,
        "concluded_on": "2026-09-01",
        "disabled_since": "2025-06-01",
        "effective_from": "2026-09-01",
    },
    period={"start": "2026-11-01", "end": "2026-11-30"},
    lines=(
        ShareLine(
            line_no=1,
            service_code="INST-BED-DAY",
            setting="institutional",
            method="per_diem",
            service_date="2026-11-01",
            service_end_date="2026-11-30",
            quantity=30,
            unit_price_fen=15000,
            billed_fen=450000,
            exclusion=None,
            visit=None,
            prior_paid_fen=210000,
            remaining_fen=240000,
        ),
    ),
    prior_payers=({"payer_code": "policy-ltci", "product_code": "CITY-LTCI-2025", "paid_fen": 210000},),
    limit_usage={"month:2026-11": 0},
)
EXAMPLES: dict[str, Any] = {
    "share-request": to_wire(_SHARE),
    "decision": Decision(
        "decided",
        "HMB-2026-000123",
        (LineDecision(1, 120000, (("PRIOR_PAYER_PAID", 210000), ("COINSURANCE", 120000))),),
    ).to_wire(),
    "assessment-notice": to_wire(
        AssessmentNotice(
            idempotency_key="assessment:e0ac25ab-c224-4a5b-a9bb-17a35bf9ca04:huiminbao",
            assessment_id="e0ac25ab-c224-4a5b-a9bb-17a35bf9ca04",
            member={"id_number": "11010519491231002X", "name": "王某某", "district": "330102"},
            agency_code="EVA3301001",
            concluded_on="2026-09-01",
            disabled_since="2025-06-01",
            grade=4,
            levels={"adl": "severe", "cognition": "moderate", "perception": "mild"},
            scores={
                "adl": {"eating": 5, "bathing": 0},
                "cognition": {"memory": 1},
                "perception": {"vision": 2},
            },
            effective_from="2026-09-01",
            valid_until="2028-08-31",
        )
    ),
    "adjustment-notice": to_wire(
        AdjustmentNotice(
            idempotency_key=f"{CLAIM}:2:2:adjustment",
            claim_id=CLAIM,
            claim_number="P3301020001-202611-0001",
            payer_code="huiminbao",
            product_code="HMB-LTC-2026",
            round=2,
            cause="tier 1 revised its decision",
            lines=(
                {
                    "line_no": 1,
                    "previous_paid_fen": 120000,
                    "paid_fen": 135000,
                    "delta_fen": 15000,
                    "kind": "top_up",
                },
            ),
        )
    ),
    "void-notice": to_wire(
        VoidNotice(
            idempotency_key=f"void:{CLAIM}:2",
            claim_id=CLAIM,
            claim_number="P3301020001-202611-0001",
            payer_code="huiminbao",
            product_code="HMB-LTC-2026",
            reason="billed under the wrong member: withdrawn",
            lines=(
                {
                    "line_no": 1,
                    "previous_paid_fen": 120000,
                    "paid_fen": 0,
                    "delta_fen": -120000,
                    "kind": "recovery",
                },
            ),
        )
    ),
    "statement": {
        "entries": [
            to_wire(StatementEntry(CLAIM, 1, 120000, "HMB-2026-000123", "2026-12-02")),
        ]
    },
}
