"""Disability grading under the national standard (长期护理失能等级评估标准(试行), 2021).

The item points, level bands and combination table are data (``gateway/data/grading.json``,
or a city's corrected copy): this module reads them and never restates them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import product as cartesian
from pathlib import Path
from typing import Any

INDICATORS = ("adl", "cognition", "perception")


class GradingError(ValueError):
    """An assessment's item scores do not fit the standard; ``pointer`` names the field."""

    def __init__(self, pointer: str, detail: str) -> None:
        super().__init__(f"{pointer}: {detail}")
        self.pointer = pointer
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Band:
    level: str
    label: str
    min: int
    max: int


@dataclass(frozen=True, slots=True)
class Indicator:
    key: str
    label: str
    items: Mapping[str, tuple[int, ...]]
    bands: tuple[Band, ...]

    def level_of(self, score: int) -> str:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band.level
        raise GradingError(f"/{self.key}", f"score {score} falls in no level band")

    def attainable_scores(self) -> set[int]:
        sums = {0}
        for points in self.items.values():
            sums = {s + p for s in sums for p in points}
        return sums


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    score: int
    level: str


@dataclass(frozen=True, slots=True)
class Grading:
    adl: IndicatorResult
    cognition: IndicatorResult
    perception: IndicatorResult
    grade: int
    grade_label: str


class GradingTable:
    """The standard as data; checked on load so that every valid input has exactly one grade."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.standard: str = document.get("standard", "")
        self.indicators: dict[str, Indicator] = {}
        for key in INDICATORS:
            raw = document["indicators"][key]
            self.indicators[key] = Indicator(
                key=key,
                label=raw["label"],
                items={name: tuple(item["points"]) for name, item in raw["items"].items()},
                bands=tuple(Band(b["level"], b["label"], b["min"], b["max"]) for b in raw["bands"]),
            )
        # Severity follows the order the bands are listed in (intact first, most severe last).
        self.levels: tuple[str, ...] = tuple(b.level for b in self.indicators["adl"].bands)
        self.combination: dict[str, dict[str, int]] = document["combination"]["table"]
        self.grade_labels: dict[int, str] = {int(k): v for k, v in document["grades"].items()}
        self._check()

    def _check(self) -> None:
        for indicator in self.indicators.values():
            if tuple(b.level for b in indicator.bands) != self.levels:
                raise ValueError(f"{indicator.key}: levels must be {self.levels} in that order")
            for score in sorted(indicator.attainable_scores()):
                hits = [b for b in indicator.bands if b.min <= score <= b.max]
                if len(hits) != 1:
                    raise ValueError(f"{indicator.key}: score {score} is in {len(hits)} bands, not 1")
        for row, column in cartesian(self.levels, self.levels):
            grade = self.combination.get(row, {}).get(column)
            if grade not in self.grade_labels:
                raise ValueError(f"combination[{row}][{column}] is not a known grade")

    def severer(self, a: str, b: str) -> str:
        return a if self.levels.index(a) >= self.levels.index(b) else b

    def grade(self, scores: Mapping[str, Any]) -> Grading:
        """Grade from the 17 item scores, keyed ``{"adl": {"eating": 5, ...}, ...}``."""
        unknown = sorted(set(scores) - set(INDICATORS))
        if unknown:
            raise GradingError(f"/{unknown[0]}", "is not an indicator of the standard")
        results: dict[str, IndicatorResult] = {}
        for key, indicator in self.indicators.items():
            given = scores.get(key)
            if not isinstance(given, Mapping):
                raise GradingError(f"/{key}", "item scores are required")
            for item in given:
                if item not in indicator.items:
                    raise GradingError(f"/{key}/{item}", f"is not an item of {key}")
            total = 0
            for item, points in indicator.items.items():
                if item not in given:
                    raise GradingError(f"/{key}/{item}", "is required")
                value = given[item]
                if isinstance(value, bool) or not isinstance(value, int) or value not in points:
                    allowed = ", ".join(str(p) for p in points)
                    raise GradingError(f"/{key}/{item}", f"must be one of {allowed}, got {value!r}")
                total += value
            results[key] = IndicatorResult(total, indicator.level_of(total))
        grade = self.combine(results["adl"].level, results["cognition"].level, results["perception"].level)
        return Grading(
            results["adl"], results["cognition"], results["perception"], grade, self.grade_labels[grade]
        )

    def combine(self, adl: str, cognition: str, perception: str) -> int:
        return self.combination[adl][self.severer(cognition, perception)]

    @classmethod
    def from_file(cls, path: Path) -> GradingTable:
        return cls(json.loads(path.read_text(encoding="utf-8")))


@cache
def default_table() -> GradingTable:
    text = resources.files("gateway").joinpath("data/grading.json").read_text(encoding="utf-8")
    return GradingTable(json.loads(text))
