"""Grading from the 17 item scores (domain.md section 3), read from the shipped table."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.grading import GradingError, default_table

TABLE = default_table()
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "grading.json"


@pytest.mark.skipif(not SHARED.exists(), reason="the domain brief's data folder is not beside this checkout")
def test_the_shipped_table_is_the_brief_s_table() -> None:
    shipped = json.loads(
        Path(__file__).resolve().parents[2].joinpath("gateway/data/grading.json").read_text()
    )
    assert shipped == json.loads(SHARED.read_text())


@pytest.mark.parametrize("key", ["adl", "cognition", "perception"])
def test_every_combination_of_an_indicator_s_items_falls_in_exactly_one_band(key: str) -> None:
    """Exhaustive: 46,656 ADL, 625 cognition and 125 perception combinations."""
    indicator = TABLE.indicators[key]
    combinations = 0
    for points in itertools.product(*indicator.items.values()):
        score = sum(points)
        bands = [b for b in indicator.bands if b.min <= score <= b.max]
        assert len(bands) == 1, (key, points)
        assert indicator.level_of(score) == bands[0].level
        combinations += 1
    assert combinations == {"adl": 46656, "cognition": 625, "perception": 125}[key]


def test_every_triple_of_levels_has_exactly_one_grade() -> None:
    """With the exhaustive test above this covers all 3.6 billion valid assessments."""
    grades = {(a, c, p): TABLE.combine(a, c, p) for a, c, p in itertools.product(TABLE.levels, repeat=3)}
    assert len(grades) == 64 and set(grades.values()) <= set(range(6))
    assert set(grades.values()) == set(range(6))  # every grade is reachable


def scores_of(draw: Any) -> dict[str, dict[str, int]]:
    return {
        key: {item: draw(st.sampled_from(points)) for item, points in indicator.items.items()}
        for key, indicator in TABLE.indicators.items()
    }


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_grade_follows_the_severer_of_cognition_and_perception(data: st.DataObject) -> None:
    scores = scores_of(data.draw)
    grading = TABLE.grade(scores)
    levels = {k: TABLE.indicators[k].level_of(sum(v.values())) for k, v in scores.items()}
    order = TABLE.levels
    severer = max(levels["cognition"], levels["perception"], key=order.index)
    assert grading.grade == TABLE.combination[levels["adl"]][severer]
    assert grading.adl.score == sum(scores["adl"].values())
    assert grading.grade_label == TABLE.grade_labels[grading.grade]


def test_the_worked_example_is_grade_4() -> None:
    from tests.unit.cases import example

    scenario = example("worked-example.json")
    a = scenario["assessment"]
    grading = TABLE.grade({k: a[k] for k in ("adl", "cognition", "perception")})
    expected = scenario["expected_assessment"]
    assert (grading.adl.score, grading.adl.level) == (expected["adl_score"], expected["adl_level"])
    assert (grading.cognition.score, grading.cognition.level) == (8, "moderate")
    assert (grading.perception.score, grading.perception.level) == (12, "intact")
    assert grading.grade == 4


def full_scores() -> dict[str, dict[str, int]]:
    return {k: {item: points[0] for item, points in ind.items.items()} for k, ind in TABLE.indicators.items()}


def test_an_unknown_item_is_named() -> None:
    scores = full_scores()
    scores["adl"]["juggling"] = 5
    with pytest.raises(GradingError) as error:
        TABLE.grade(scores)
    assert error.value.pointer == "/adl/juggling"


def test_a_missing_item_is_named() -> None:
    scores = full_scores()
    del scores["cognition"]["memory"]
    with pytest.raises(GradingError) as error:
        TABLE.grade(scores)
    assert error.value.pointer == "/cognition/memory" and error.value.detail == "is required"


@pytest.mark.parametrize("value", [7, 20, -5, True, "5", 5.0])
def test_a_point_value_the_item_does_not_allow_is_named(value: object) -> None:
    scores: dict[str, dict[str, Any]] = full_scores()
    scores["adl"]["eating"] = value
    with pytest.raises(GradingError) as error:
        TABLE.grade(scores)
    assert error.value.pointer == "/adl/eating"
    assert "must be one of 0, 5, 10" in error.value.detail


def test_an_unknown_indicator_and_a_missing_indicator_are_named() -> None:
    scores: dict[str, Any] = {**full_scores(), "mood": {}}
    with pytest.raises(GradingError) as error:
        TABLE.grade(scores)
    assert error.value.pointer == "/mood"
    scores = full_scores()
    del scores["perception"]
    with pytest.raises(GradingError) as error:
        TABLE.grade(scores)
    assert error.value.pointer == "/perception"


def test_a_table_with_overlapping_bands_is_refused_on_load() -> None:
    from gateway.domain.grading import GradingTable

    document = json.loads(
        Path(__file__).resolve().parents[2].joinpath("gateway/data/grading.json").read_text()
    )
    document["indicators"]["adl"]["bands"][1]["max"] = 100  # mild now overlaps intact
    with pytest.raises(ValueError, match="adl: score 100 is in 2 bands"):
        GradingTable(document)
