"""The reconciliation decision table (domain.md section 6), one case per kind and its edges."""

from __future__ import annotations

from datetime import date

import pytest

from reconciliation.matching import NOT_DUE, NOTHING, KeyFacts, classify, over_coordinated

WINDOW_START = date(2026, 11, 24)
OLD, NEW = date(2026, 11, 20), date(2026, 11, 26)


def facts(
    expected: int | None,
    settled: int | None,
    *,
    entries: int = 1,
    since: date = OLD,
    earlier: tuple[int, ...] = (),
    amounts: tuple[int, ...] | None = None,
) -> KeyFacts:
    amounts = amounts or ((settled,) * entries if settled is not None else ())
    return KeyFacts(
        expected=expected,
        earlier_expected=earlier,
        since=since if expected is not None else None,
        settled=settled,
        entries=entries if settled is not None else 0,
        largest=max(amounts) if amounts else None,
        smallest=min(amounts) if amounts else None,
    )


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        (facts(120000, 120000), "MATCHED"),
        (facts(120000, 60000, entries=2, amounts=(30000, 30000)), "AMOUNT_MISMATCH"),  # two parts, short
        (facts(120000, 120000, entries=2, amounts=(60000, 60000)), "MATCHED"),  # told apart by reference
        (facts(120000, 119000), "AMOUNT_MISMATCH"),
        (facts(120000, None), "MISSING_AT_PAYER"),
        (facts(120000, None, since=NEW), NOT_DUE),
        (facts(0, None), NOTHING),
        (facts(None, 50000), "UNKNOWN_AT_GATEWAY"),
        (facts(None, None), NOTHING),
        (facts(120000, 240000, entries=2, amounts=(120000, 120000)), "DUPLICATE_SETTLEMENT"),
        (facts(120000, 360000, entries=3, amounts=(120000,) * 3), "DUPLICATE_SETTLEMENT"),
        (facts(120000, 240000, entries=2, amounts=(100000, 140000)), "AMOUNT_MISMATCH"),
        (facts(135000, 120000, earlier=(120000,)), "STALE_COORDINATION"),
        (facts(135000, 130000, earlier=(120000,)), "AMOUNT_MISMATCH"),
        (facts(0, 120000, earlier=(120000,)), "STALE_COORDINATION"),  # revised to nothing, paid anyway
    ],
)
def test_each_kind(case: KeyFacts, kind: str) -> None:
    assert classify(case, WINDOW_START) == kind


def test_over_coordination_is_more_than_billed_across_payers() -> None:
    assert over_coordinated(450001, 450000)
    assert not over_coordinated(450000, 450000)
