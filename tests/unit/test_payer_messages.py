"""What the gateway accepts from a payer (decision checks) and how messages travel (SDK)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from adapters.sdk import AssessmentNotice, Decision, FieldMap, MalformedAnswer, remap, to_wire
from gateway.coordination.checks import AskedLine, DecidedLine, decision_faults, fixed_benefit_faults

ASKED = [AskedLine(1, 450000, 240000), AskedLine(2, 10000, 10000)]


def decided(paid1: int, reasons1: tuple[tuple[str, int], ...], paid2: int = 0) -> list[DecidedLine]:
    return [
        DecidedLine(1, paid1, reasons1),
        DecidedLine(2, paid2, (("NOT_COVERED", 10000 - paid2),) if paid2 < 10000 else ()),
    ]


def test_a_decision_within_the_rules_passes() -> None:
    assert (
        decision_faults(ASKED, decided(120000, (("PRIOR_PAYER_PAID", 210000), ("COINSURANCE", 120000)))) == []
    )


@pytest.mark.parametrize(
    ("paid", "fault"),
    [
        (-1, "pays a negative amount"),
        (450001, "more than billed"),
        (240001, "more than the 240000 fen still unpaid"),
    ],
)
def test_overpaying_or_negative_lines_are_refused(paid: int, fault: str) -> None:
    [message] = decision_faults(ASKED, decided(paid, (("PRIOR_PAYER_PAID", max(0, 450000 - paid)),)))
    assert message.startswith("line 1: ") and fault in message


def test_reasons_must_explain_every_unpaid_fen_with_known_codes() -> None:
    faults = decision_faults(ASKED, decided(120000, (("PRIOR_PAYER_PAID", 210000), ("DISCRETION", 100000))))
    assert faults == [
        "line 1: unknown reason codes DISCRETION",
        "line 1: reasons explain 310000 fen of the 330000 fen not paid",
    ]


def test_lines_must_be_the_claim_s_lines() -> None:
    faults = decision_faults(ASKED, [DecidedLine(1, 0, (("NOT_COVERED", 450000),)), DecidedLine(3, 0, ())])
    assert faults == ["line 3: not a line of this claim", "line 2: no decision"]


def test_fixed_benefit_decisions_are_checked() -> None:
    faults = fixed_benefit_faults(
        ["2026-11"],
        ["2026-10"],
        [{"month": "2026-11", "amount_fen": 300000}, {"month": "2026-10", "amount_fen": 1}],
        200000,
    )
    assert faults == [
        "month 2026-11: 300000 fen is more than the product's 200000 fen",
        "month 2026-10: not in the claim period",
        "month 2026-10: already granted to this member through another claim",
    ]


def test_a_decision_round_trips_through_the_wire_format() -> None:
    decision = Decision("decided", "R-1", (), ({"month": "2026-11", "amount_fen": 200000},))
    assert Decision.from_wire(decision.to_wire()) == decision
    soap_like = {"status": "decided", "lines": [{"line_no": "1", "paid_fen": "120000", "reasons": None}]}
    assert Decision.from_wire(soap_like).lines[0].paid_fen == 120000  # SOAP carries integers as text


def test_a_message_goes_on_the_wire_as_plain_json_of_its_own() -> None:
    scores = {"adl": {"eating": 10}}
    notice = AssessmentNotice(
        "A-1:p",
        "A-1",
        {"id_number": "X", "born": date(1940, 1, 2)},
        "AG",
        "2026-11-01",
        "2026-10-01",
        3,
        {"adl": "moderate"},
        scores,
        "2026-11-01",
        "2028-10-31",
    )
    wire = to_wire(notice)
    assert json.loads(json.dumps(wire)) == wire
    assert wire["member"] == {"id_number": "X", "born": "1940-01-02"}
    assert wire["scores"] == scores and wire["scores"] is not scores  # a copy: the message stays as it was
    wire["scores"]["adl"]["eating"] = 0
    assert notice.scores["adl"]["eating"] == 10


@pytest.mark.parametrize(
    "wire",
    [
        None,
        [],
        {"status": "maybe"},
        {"status": "decided", "lines": [{"line_no": 1}]},
        {"status": "decided", "lines": [{"line_no": 1, "paid_fen": 1.5}]},
    ],
)
def test_a_malformed_answer_is_recognised(wire: object) -> None:
    with pytest.raises(MalformedAnswer):
        Decision.from_wire(wire)


def test_field_maps_rename_by_dotted_path_through_lists() -> None:
    document = {"claim_id": "c", "lines": [{"billed_fen": 1, "line_no": 1}], "member": {"id_number": "x"}}
    renamed = remap(
        document, {"lines[].billed_fen": "lines[].amount_billed", "member.id_number": "member.idCard"}
    )
    assert renamed == {
        "claim_id": "c",
        "lines": [{"amount_billed": 1, "line_no": 1}],
        "member": {"idCard": "x"},
    }
    back = FieldMap.from_config({"response": {"lines[].amount_paid": "lines[].paid_fen"}})
    assert back.into({"lines": [{"amount_paid": 5}]}) == {"lines": [{"paid_fen": 5}]}


@pytest.mark.parametrize(
    "wire",
    [
        {"status": "decided", "lines": [{"line_no": 1, "paid_fen": 10**12 + 1}]},
        {"status": "decided", "lines": [{"line_no": 1, "paid_fen": 2**63}]},
        {"status": "decided", "lines": [{"line_no": 1, "paid_fen": "9" * 5000}]},  # SOAP: text
        {
            "status": "decided",
            "lines": [{"line_no": 1, "paid_fen": 0, "reasons": [{"code": "X", "amount_fen": -(10**13)}]}],
        },
        {"status": "decided", "fixed": [{"month": "2026-11", "amount_fen": 10**13}]},
        {"status": "decided", "payer_reference": "R\x001", "lines": []},
    ],
    ids=["paid beyond 10^12", "paid 2^63", "paid of 5,000 digits", "reason beyond", "fixed beyond", "NUL"],
)
def test_a_payer_answer_with_an_amount_beyond_the_bound_or_a_nul_is_a_malformed_answer(wire: object) -> None:
    with pytest.raises(MalformedAnswer):
        Decision.from_wire(wire)


def test_a_returned_share_is_read_with_its_reason_and_refused_without_one() -> None:
    returned = Decision.from_wire({"status": "returned", "return_reason": "the admission record is missing"})
    assert (returned.status, returned.return_reason, returned.lines) == (
        "returned",
        "the admission record is missing",
        (),
    )
    assert Decision.from_wire(returned.to_wire()) == returned
    for wire in (
        {"status": "returned"},
        {"status": "returned", "return_reason": "  "},
        {"status": "returned", "return_reason": "x" * 501},
        {"status": "returned", "return_reason": "a\x00b"},
    ):
        with pytest.raises(MalformedAnswer):
            Decision.from_wire(wire)
