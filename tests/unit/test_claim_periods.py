"""The claim period rules and the ended-month rule of fixed benefits, as pure functions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from gateway.coordination import fixed_benefits
from gateway.domain.beijing_time import beijing_date
from gateway.domain.claims import Period, period_problems
from gateway.domain.coverage import Coverage
from tests.unit.cases import ANNUITY, case, product

TODAY = date(2026, 12, 2)


def faults(start: date, end: date) -> list[tuple[str, str]]:
    return period_problems(Period(start=start, end=end), TODAY)


def test_a_claim_period_lies_within_one_calendar_month_and_does_not_end_in_the_future() -> None:
    assert faults(date(2026, 11, 1), date(2026, 11, 30)) == []
    assert faults(date(2026, 12, 1), TODAY) == []
    assert [p for p, _ in faults(date(1, 1, 1), date(9999, 12, 31))] == ["/period/end", "/period/end"]
    assert [p for p, _ in faults(date(2026, 10, 31), date(2026, 11, 1))] == ["/period/end"]
    assert [p for p, _ in faults(date(2025, 12, 1), date(2026, 12, 1))] == ["/period/end"]
    assert [p for p, _ in faults(date(2026, 12, 3), date(2026, 12, 3))] == ["/period/end"]


def test_the_business_date_is_the_beijing_date() -> None:
    assert beijing_date(datetime(2026, 12, 1, 15, 59, tzinfo=UTC)) == date(2026, 12, 1)
    assert beijing_date(datetime(2026, 12, 1, 16, 0, tzinfo=UTC)) == date(2026, 12, 2)
    assert beijing_date(datetime(2026, 12, 1, 16, 0)) == date(2026, 12, 2)  # naive: UTC


def test_fixed_benefits_are_due_only_for_months_ended_before_the_claim_was_accepted() -> None:
    cover = Coverage(product(ANNUITY), date(2024, 1, 1))
    november = case(period=(date(2026, 11, 1), date(2026, 11, 30)))
    for accepted_on, months in [
        (date(2026, 11, 15), []),
        (date(2026, 11, 30), []),  # its last day has not ended yet
        (date(2026, 12, 1), [("2026-11", 200000)]),
        (None, [("2026-11", 200000)]),  # no acceptance date: every month (the pure engine's use)
    ]:
        accepted = dataclasses.replace(november, accepted_on=accepted_on)
        assert [(d.month, d.amount_fen) for d in fixed_benefits(cover, accepted)] == months
