"""The facts a coordination rests on, gathered by the caller so the core needs no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from gateway.coordination.duplicates import Repeat
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.catalogue import ServiceCatalogue, default_catalogue
from gateway.domain.claims import ClaimLine, VisitEvidence
from gateway.domain.providers import Designation


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """A home visit recorded on another claim (to see a caregiver in two places at once)."""

    caregiver_id: str
    check_in: datetime
    check_out: datetime
    lat: float
    lon: float
    where: str  # "claim <id> line <n>", for the finding's text

    @classmethod
    def of(cls, visit: VisitEvidence, where: str) -> VisitRecord:
        return cls(visit.caregiver_id, visit.check_in, visit.check_out, visit.lat, visit.lon, where)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    lines: tuple[ClaimLine, ...]
    period_start: date
    period_end: date
    assessment: AssessmentFacts
    designation: Designation
    member_position: tuple[float, float] | None = None  # registered address (lat, lon)
    other_visits: tuple[VisitRecord, ...] = ()
    catalogue: ServiceCatalogue = field(default_factory=default_catalogue)
    # line_no → the units that repeat earlier claims (``duplicates.repeats``); most lines have none
    repeats: Mapping[int, Repeat] = field(default_factory=dict, hash=False)
    # the Beijing date the claim was accepted: fixed benefits are due only for months ended by
    # then (None: every month of the period)
    accepted_on: date | None = None
