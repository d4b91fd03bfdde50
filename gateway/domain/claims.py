"""A provider's claim for one service period, and its lines (one billed service each)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.model import Fault, Value
from gateway.domain.products import Exclusion, Method, Setting


class VisitEvidence(Value):
    """Check-in evidence of a home visit (face, GPS or Bluetooth beacon)."""

    caregiver_id: str = Field(min_length=1, max_length=64)
    check_in: AwareDatetime
    check_out: AwareDatetime
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    method: Literal["face", "gps", "beacon"]


class ClaimLine(Value):
    line_no: int = Field(ge=1)
    service_code: str
    setting: Setting
    method: Method
    service_date: date
    service_end_date: date | None = None  # bed-days over a range: one unit per day
    quantity: int = Field(ge=1)
    unit_price_fen: int = Field(ge=0)
    billed_fen: int = Field(ge=0)
    exclusion: Exclusion | None = None
    visit: VisitEvidence | None = None

    @property
    def last_date(self) -> date:
        return self.service_end_date or self.service_date

    @property
    def is_range(self) -> bool:
        return self.service_end_date is not None

    @property
    def month(self) -> str:
        day = self.service_date
        return f"{day.year:04d}-{day.month:02d}"  # strftime is several times slower on the hot path


class Period(Value):
    start: date
    end: date


class ClaimSubmission(Value):
    claim_number: str = Field(min_length=1, max_length=64)
    member_id_number: str
    assessment_id: str
    period: Period
    lines: tuple[ClaimLine, ...] = Field(min_length=1)


def claim_problems(claim: ClaimSubmission, catalogue: ServiceCatalogue) -> list[Fault]:
    """The claim rules a JSON Schema cannot express, each naming its field."""
    faults: list[Fault] = []
    period = claim.period
    if period.end < period.start:
        faults.append(("/period/end", "must not be before period start"))
    seen: set[int] = set()
    for i, line in enumerate(claim.lines):
        at = f"/lines/{i}"
        if line.line_no in seen:
            faults.append((f"{at}/line_no", f"line {line.line_no} appears twice"))
        seen.add(line.line_no)
        if line.billed_fen != line.quantity * line.unit_price_fen:
            faults.append(
                (
                    f"{at}/billed_fen",
                    f"must equal quantity × unit_price_fen = {line.quantity * line.unit_price_fen}",
                )
            )
        service = catalogue.get(line.service_code)
        if service is None:
            faults.append((f"{at}/service_code", f"{line.service_code!r} is not in the service catalogue"))
        elif line.setting not in service.settings:
            faults.append((f"{at}/setting", f"{line.service_code} is not provided in setting {line.setting}"))
        if not period.start <= line.service_date <= period.end:
            faults.append((f"{at}/service_date", "must fall within the claim period"))
        if line.service_end_date is not None:
            if line.method != Method.PER_DIEM:
                faults.append((f"{at}/service_end_date", "a date range is only for per_diem lines"))
            elif line.service_end_date < line.service_date:
                faults.append((f"{at}/service_end_date", "must not be before service_date"))
            elif line.service_end_date > period.end:
                faults.append((f"{at}/service_end_date", "must fall within the claim period"))
            elif line.service_end_date.strftime("%Y-%m") != line.month:
                faults.append((f"{at}/service_end_date", "a range must stay within one calendar month"))
            elif line.quantity != (line.service_end_date - line.service_date).days + 1:
                days = (line.service_end_date - line.service_date).days + 1
                faults.append(
                    (f"{at}/quantity", f"must equal the {days} days from service_date to service_end_date")
                )
        if line.visit is not None:
            if line.setting != Setting.HOME:
                faults.append((f"{at}/visit", "visit evidence belongs to home lines"))
            if line.visit.check_out <= line.visit.check_in:
                faults.append((f"{at}/visit/check_out", "must be after check_in"))
    return faults


def period_problems(period: Period, today: date) -> list[Fault]:
    """A claim's period lies within one calendar month and does not end in the future (``today``:
    the Beijing date). It bounds what a claim can ask for: its lines, its fixed-benefit months and
    the work of its fan-out."""
    faults: list[Fault] = []
    if period.end < period.start:
        return faults  # claim_problems names it
    if (period.start.year, period.start.month) != (period.end.year, period.end.month):
        faults.append(("/period/end", "must be in the same calendar month as period start"))
    if period.end > today:
        faults.append(("/period/end", f"must not be after today ({today.isoformat()}, Beijing date)"))
    return faults


class ClaimStatus(StrEnum):
    RECEIVED = "received"  # stored, nothing sent yet
    COORDINATING = "coordinating"  # payer steps under way
    COORDINATED = "coordinated"  # every payer decided; the result is final for this round
    FAILED = "failed"  # a payer step is dead-lettered; a rerun is needed
    VOIDED = "voided"  # withdrawn by its provider: every payment recovered (docs/corrections.md)
    RETURNED = "returned"  # a payer returned it unadjudicated (退回); the provider resubmits


_LONGEST_LINE = 62  # days looked at per line: a longer range is refused by claim_problems anyway


def repeated_lines(claim: ClaimSubmission) -> list[Fault]:
    """Two lines of one claim that bill the same service (domain.md section 4), naming both: the
    same service code on the same date, overlapping bed-day ranges (one bed a day, whatever the
    code) or overlapping visit times. A claim bills a day's quantity of a service in one line."""
    pairs: dict[tuple[int, int], str] = {}
    first_by_code: dict[tuple[str, date], int] = {}
    first_bed: dict[date, int] = {}
    for j, line in enumerate(claim.lines):
        bed = line.method == Method.PER_DIEM and line.setting == Setting.INSTITUTIONAL
        # counted, not stepped to: a date near date.max must not overflow (a bad range: no day)
        for n in range(min((line.last_date - line.service_date).days, _LONGEST_LINE) + 1):
            day = line.service_date + timedelta(days=n)
            i = first_by_code.setdefault((line.service_code, day), j)
            if i != j:
                pairs.setdefault((i, j), f"the same service {line.service_code} on {day}")
            if bed and (i := first_bed.setdefault(day, j)) != j:
                pairs.setdefault((i, j), f"a bed-day on {day} (a member occupies one bed a day)")
    visits = sorted(
        (line.visit.check_in, line.visit.check_out, j) for j, line in enumerate(claim.lines) if line.visit
    )
    latest: tuple[datetime, int] | None = None  # the visit that ends last so far
    for check_in, check_out, j in visits:
        if latest is not None and check_in < latest[0]:
            i, k = sorted((latest[1], j))
            pairs.setdefault((i, k), "overlapping visit times")
        if latest is None or check_out > latest[0]:
            latest = (check_out, j)
    faults: list[Fault] = []
    for (i, j), what in sorted(pairs.items()):
        no_i, no_j = claim.lines[i].line_no, claim.lines[j].line_no
        faults.append((f"/lines/{i}", f"line {no_i} and line {no_j} (/lines/{j}) bill {what}"))
        faults.append((f"/lines/{j}", f"line {no_j} repeats line {no_i} (/lines/{i}): {what}"))
    return faults
