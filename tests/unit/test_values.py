"""Money, resident ID numbers, products and claim rules: the values the core is made of."""

from __future__ import annotations

import copy
from datetime import date
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import schemas
from gateway.domain.catalogue import default_catalogue
from gateway.domain.claims import ClaimSubmission, claim_problems
from gateway.domain.identity import check_character, id_number_problem, mask_id_number, mask_name
from gateway.domain.money import apply_ratio, parse_ratio, yuan
from gateway.domain.products import Product, product_problems
from tests.unit.cases import ANNUITY, CARE, TIER1, TIER2, example, sample

# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "ratio", "expected"),
    [
        (300000, "0.70", 210000),  # the worked example's tier 1
        (1, "0.5", 1),  # half a fen rounds up
        (3, "0.5", 2),  # 1.5 → 2
        (1, "0.49", 0),
        (101, "0.85", 86),  # 85.85 → 86
        (100, "0.855", 86),  # 85.5 → 86 (half-up, not half-even)
        (100, "0.845", 85),  # 84.5 → 85
        (0, "0.9", 0),
        (12345, "1", 12345),
        (12345, "0", 0),
    ],
)
def test_a_ratio_is_applied_half_up_to_the_fen(amount: int, ratio: str, expected: int) -> None:
    assert apply_ratio(amount, parse_ratio(ratio)) == expected


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**6))
def test_half_up_rounding_is_exact_for_any_amount(amount: int, millionths: int) -> None:
    ratio = Fraction(millionths, 10**6)
    exact = amount * ratio
    rounded = apply_ratio(amount, ratio)
    assert rounded - Fraction(1, 2) <= exact < rounded + Fraction(1, 2)


@pytest.mark.parametrize("text", ["70%", "1.5", "-0.1", ".7", "0.1234567", "", "1.01"])
def test_a_ratio_must_be_a_decimal_between_0_and_1(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ratio(text)


def test_amounts_are_shown_in_yuan() -> None:
    assert [yuan(450000), yuan(5), yuan(-120000), yuan(0)] == ["4,500.00", "0.05", "-1,200.00", "0.00"]


# --- resident ID numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("valid", ["11010519491231002X", "110105199001019998"])
def test_valid_resident_id_numbers(valid: str) -> None:
    assert id_number_problem(valid) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("110105194912310021", "check character"),
        ("11010519491231002x", "17 digits"),
        ("1101051949123100", "17 digits"),
        ("110105194913310028", "birth date"),
    ],
)
def test_invalid_resident_id_numbers_say_why(value: str, problem: str) -> None:
    assert problem in (id_number_problem(value) or "")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_exactly_one_check_character_fits(first17: str) -> None:
    # MOD 11-2: changing the check character always breaks it
    right = check_character(first17)
    for other in "0123456789X":
        number = first17 + other
        ok = id_number_problem(number)
        if ok is not None and "birth date" in ok:
            return
        assert (ok is None) == (other == right)


def test_masking_keeps_the_first_6_and_last_4() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_name("王秀英") == "王**"


# --- products ---------------------------------------------------------------------------------


@pytest.mark.parametrize("file", [TIER1, TIER2, CARE, ANNUITY])
def test_the_sample_products_are_valid(file: str) -> None:
    document = sample(file)
    assert schemas.faults("product", document) == []
    assert product_problems(Product.model_validate(document)) == []


def broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(sample(TIER1))
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda d: d.update(tier=4), "/tier"),
        (lambda d: d.pop("payer_code"), "/payer_code"),
        (lambda d: d["benefits"][0].update(ratio="70%"), "/benefits/0/ratio"),
        (lambda d: d["benefits"][1].update(unit_limit_fen=-1), "/benefits/1/unit_limit_fen"),
        (lambda d: d["benefits"][2].update(setting="hospital"), "/benefits/2/setting"),
        (lambda d: d["eligibility"].update(min_grade=6), "/eligibility/min_grade"),
        (lambda d: d["limits"][0].update(period="week"), "/limits/0/period"),
        (lambda d: d.update(colour="blue"), "/colour"),
    ],
)
def test_an_invalid_product_is_refused_with_the_pointer_of_the_fault(change: Any, pointer: str) -> None:
    faults = schemas.faults("product", broken(change))
    assert pointer in [p for p, _ in faults], faults


def test_rules_beyond_the_schema_name_their_field() -> None:
    def twice(d: dict[str, Any]) -> None:
        d["benefits"].append(copy.deepcopy(d["benefits"][0]))
        d["limits"].append(copy.deepcopy(d["limits"][0]))

    document = broken(twice)
    assert schemas.faults("product", document) == []
    pointers = [p for p, _ in product_problems(Product.model_validate(document))]
    assert pointers == [
        f"/benefits/{len(document['benefits']) - 1}",
        f"/limits/{len(document['limits']) - 1}/period",
    ]


# --- claim rules ------------------------------------------------------------------------------


def claim(**line_changes: Any) -> ClaimSubmission:
    body = copy.deepcopy(example("worked-example.json")["claim"])
    body["assessment_id"] = "00000000-0000-0000-0000-000000000000"
    body["lines"][0].update(line_changes)
    return ClaimSubmission.model_validate(body)


def pointers(submission: ClaimSubmission) -> list[str]:
    return [p for p, _ in claim_problems(submission, default_catalogue())]


def test_the_worked_example_claim_is_valid() -> None:
    assert pointers(claim()) == []


def test_billed_must_equal_quantity_times_unit_price() -> None:
    faults = claim_problems(claim(billed_fen=450001), default_catalogue())
    assert faults == [("/lines/0/billed_fen", "must equal quantity × unit_price_fen = 450000")]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"service_code": "NO-SUCH"}, "/lines/0/service_code"),
        ({"setting": "family", "service_code": "INST-BED-DAY"}, "/lines/0/setting"),
        ({"service_date": date(2026, 10, 31)}, "/lines/0/service_date"),
        ({"service_end_date": date(2026, 12, 1)}, "/lines/0/service_end_date"),
        ({"quantity": 29, "billed_fen": 29 * 15000}, "/lines/0/quantity"),
    ],
)
def test_claim_rules_name_the_field(changes: dict[str, Any], pointer: str) -> None:
    assert pointer in pointers(claim(**changes))
