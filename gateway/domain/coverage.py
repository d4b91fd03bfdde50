"""A member's cover: one enrolment in one product, for a span of dates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import Field

from gateway.domain.model import Value
from gateway.domain.products import Product


class Enrollment(Value):
    id_number: str
    product_code: str
    start_date: date
    end_date: date | None = None


class EnrollmentBatch(Value):
    enrollments: tuple[Enrollment, ...] = Field(min_length=1, max_length=1000)


@dataclass(frozen=True, slots=True)
class Coverage:
    product: Product
    start_date: date
    end_date: date | None = None

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)

    @property
    def waiting_ends(self) -> date:
        """First day past the waiting period."""
        return self.start_date + timedelta(days=self.product.eligibility.waiting_days)

    def overlaps(self, start: date, end: date) -> bool:
        return self.start_date <= end and (self.end_date is None or start <= self.end_date)


def payer_order(coverages: Iterable[Coverage]) -> list[Coverage]:
    """Tier 1, then 2, then 3; within a tier the earliest start date first."""
    return sorted(coverages, key=lambda c: (c.product.tier, c.start_date, c.product.product_code))
