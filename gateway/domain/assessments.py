"""A disability assessment (失能等级评估): submitted once, recognised by every tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import Field

from gateway.domain.grading import Grading, GradingError, GradingTable
from gateway.domain.identity import id_number_problem
from gateway.domain.model import Fault, Value
from gateway.domain.products import Eligibility

DEFAULT_VALID_DAYS = 730  # product rule; the default validity when a product says nothing


class Address(Value):
    text: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    district: str | None = Field(default=None, pattern=r"^\d{6}$")  # routes the tier-1 share


class Member(Value):
    id_number: str
    name: str = Field(min_length=1, max_length=50)
    address: Address | None = None


class AssessmentSubmission(Value):
    member: Member
    agency_code: str | None = Field(default=None, min_length=1, max_length=64)
    concluded_on: date
    disabled_since: date
    adl: dict[str, int]
    cognition: dict[str, int]
    perception: dict[str, int]
    declared_grade: int | None = Field(default=None, ge=0, le=5)


def effective_from(concluded_on: date) -> date:
    """Benefits start the day after the conclusion date."""
    return concluded_on + timedelta(days=1)


def valid_until(concluded_on: date, valid_days: int = DEFAULT_VALID_DAYS) -> date:
    return concluded_on + timedelta(days=valid_days)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for d in (day.day, 30, 29, 28):  # clamp 31 Jan + 1 month to the end of February
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def grade_assessment(
    submission: AssessmentSubmission, table: GradingTable, today: date
) -> tuple[Grading | None, list[Fault]]:
    """Recompute the grade from the item scores; faults name the field."""
    faults: list[Fault] = []
    problem = id_number_problem(submission.member.id_number)
    if problem:
        faults.append(("/member/id_number", problem))
    if submission.disabled_since > submission.concluded_on:
        faults.append(("/disabled_since", "must not be after concluded_on"))
    if submission.concluded_on > today:
        faults.append(("/concluded_on", "must not be in the future"))
    try:
        grading = table.grade(
            {"adl": submission.adl, "cognition": submission.cognition, "perception": submission.perception}
        )
    except GradingError as error:
        faults.append((error.pointer, error.detail))
        return None, faults
    if submission.declared_grade is not None and submission.declared_grade != grading.grade:
        faults.append(
            (
                "/declared_grade",
                f"declared {submission.declared_grade} but the item scores give grade {grading.grade}",
            )
        )
    return grading, faults


@dataclass(frozen=True, slots=True)
class AssessmentFacts:
    """What coordination needs to know of the assessment a claim rests on."""

    grade: int
    concluded_on: date
    disabled_since: date

    @property
    def effective_from(self) -> date:
        return effective_from(self.concluded_on)

    def effective_span(self, eligibility: Eligibility) -> tuple[date, date]:
        """The first and the last day a product with these eligibility rules takes the assessment
        as in force: from the day after its conclusion, if by then the disability had lasted the
        product's minimum months (if not, never: the first day is ``date.max``), until the
        product's validity days after the conclusion. Every product rule by date reads this."""
        lasted = add_months(self.disabled_since, eligibility.min_disability_months) <= self.concluded_on
        first = self.effective_from if lasted else date.max
        return first, valid_until(self.concluded_on, eligibility.assessment_valid_days)
