"""Level 1's comparison (reconciliation.totals.compare): which groups agree, which go to the line
level, and which cannot (a totals-only payer); the hsa profile's files and period dates."""

from __future__ import annotations

import pytest

from adapters.hsa.reconcile import period_dates, read_file, result_entries, write_file
from adapters.sdk import MalformedAnswer
from adapters.sdk_totals import PeriodTotals
from reconciliation.totals import compare

OURS = {
    ("tier1", "institutional", "2026-11"): (3, 630000, 1350000),
    ("tier1", "home", "2026-11"): (2, 40000, 50000),
    ("tier3", "claim_level", "2026-11"): (1, 200000, 0),
}


def test_agreeing_lines_are_agreed_and_a_difference_goes_to_the_line_level() -> None:
    lines = {
        ("tier1", "institutional", "2026-11"): (3, 630000, None),
        ("tier1", "home", "2026-11"): (2, 39900, None),  # 1.00 short
        ("tier3", "claim_level", "2026-11"): (1, 200000, None),
        ("tier3", "unknown", "unknown"): (1, 5000, None),  # a claim the gateway does not know
    }
    groups = {
        (g.payer_code, g.category): (g.agreed, g.line_level, g.source) for g in compare(OURS, lines, {}, {})
    }
    assert groups == {
        ("tier1", "institutional"): (True, "skipped", "lines"),
        ("tier1", "home"): (False, "matched", "lines"),
        ("tier3", "claim_level"): (True, "skipped", "lines"),
        ("tier3", "unknown"): (False, "matched", "lines"),
    }


def test_the_same_sum_over_another_count_differs() -> None:
    lines = {("tier1", "home", "2026-11"): (1, 40000, None)}  # one line paid both lines' sum
    [group] = [g for g in compare(OURS, lines, {}, {}) if g.category == "home"]
    assert not group.agreed and group.line_level == "matched"


def test_a_payers_own_totals_replace_its_lines_and_billed_is_compared_when_sent() -> None:
    pulled = {
        "tier1": [
            PeriodTotals("institutional", "2026-11", 3, 630000, 1350000),
            PeriodTotals("home", "2026-11", 2, 40000, 49999),  # billed differs
        ]
    }
    lines = {("tier1", "institutional", "2026-11"): (0, 0, None)}  # ignored: the payer answered
    groups = {g.category: g for g in compare(OURS, lines, pulled, {"tier1": True}) if g.payer_code == "tier1"}
    assert groups["institutional"].agreed and groups["institutional"].source == "payer"
    assert not groups["home"].agreed and groups["home"].line_level == "matched"


def test_a_totals_only_payer_has_its_differing_groups_reported_not_matched() -> None:
    pulled = {"tier3": [PeriodTotals("claim_level", "2026-11", 1, 150000)]}
    [group] = [g for g in compare(OURS, {}, pulled, {"tier3": False}) if g.payer_code == "tier3"]
    assert (group.agreed, group.line_level, group.payer) == (False, "unavailable", (1, 150000, None))
    # a group only the payer reports (nothing expected there) differs as well
    pulled["tier3"].append(PeriodTotals("home", "2026-10", 1, 100))
    extra = [g for g in compare(OURS, {}, pulled, {"tier3": False}) if g.period == "2026-10"]
    assert [(g.gateway, g.line_level) for g in extra] == [((0, 0, 0), "unavailable")]


def test_hsa_files_round_trip_and_a_broken_one_is_malformed() -> None:
    rows = [["c-1", "1", "2100", "R-1", "2026-12-01", "0"], ["c-2", "1", "0", "", "", "3"]]
    assert read_file(write_file(rows), 6) == rows
    entries = result_entries(read_file(write_file(rows), 6))
    assert [(e.claim_id, e.paid_fen) for e in entries] == [("c-1", 2100)]  # institution-only: no entry
    with pytest.raises(MalformedAnswer):
        read_file("not base64!", 6)
    with pytest.raises(MalformedAnswer):
        read_file(write_file([["c-1", "1"]]), 6)
    with pytest.raises(MalformedAnswer):
        result_entries([["c-1", "1", "2100", "R-1", "2026-12-01", "9"]])
    assert period_dates("2026-02") == ("2026-02-01", "2026-02-28")
    assert period_dates("unknown") == ("unknown", "unknown")
