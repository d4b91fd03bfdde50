"""The coordination core alone: lines coordinated per second in one process, the worked example's
four products, claims of 10 lines of varied settings (no I/O)."""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta
from typing import Any

from bench.common import Row, median
from examples import example_products
from gateway.coordination import CaseFacts, coordinate
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product
from gateway.domain.providers import Designation

TARGET = 20_000


def _products() -> list[Coverage]:
    products = [Product.model_validate(p) for p in example_products()]
    return [Coverage(p, date(2020, 1, 1)) for p in products]


def _case(n: int) -> CaseFacts:
    lines = []
    for i in range(1, 11):
        day = date(2026, 11, 1) + timedelta(days=(n + i) % 28)
        fields: dict[str, Any]
        if i % 3 == 0:
            fields = {
                "service_code": "INST-BED-DAY",
                "setting": "institutional",
                "method": "per_diem",
                "service_date": day,
                "service_end_date": day,
                "quantity": 1,
                "unit_price_fen": 15000,
            }
        else:
            fields = {
                "service_code": "HYG-BATH",
                "setting": "community",
                "method": "per_item",
                "service_date": day,
                "quantity": 1 + i % 3,
                "unit_price_fen": 9000 + 500 * i,
            }
        fields["billed_fen"] = fields["quantity"] * fields["unit_price_fen"]
        lines.append(ClaimLine.model_validate({"line_no": i, **fields}))
    return CaseFacts(
        lines=tuple(lines),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        assessment=AssessmentFacts(4, date(2026, 9, 1), date(2026, 1, 1)),
        designation=Designation(True, date(2024, 1, 1), None),
    )


def run(claims: int = 2000, runs: int = 5) -> list[Row]:
    coverages = _products()
    cases = [_case(n) for n in range(claims)]
    lines = sum(len(c.lines) for c in cases)

    cpu: list[float] = []

    def measure() -> float:
        started, cpu_started = time.perf_counter(), time.process_time()
        for case in cases:
            coordinate(case, coverages)
        cpu.append(time.process_time() - cpu_started)
        return lines / (time.perf_counter() - started)

    figure = median(runs, measure)
    cpu_per_million = statistics.median(cpu) / lines * 1e6
    return [
        Row(
            "coordination core",
            figure,
            "lines/s",
            target=f">= {TARGET:,} lines/s",
            met=figure >= TARGET,
            note=f"{claims} claims x 10 lines, 3 indemnity payers + 1 fixed benefit, median of {runs}; "
            f"{cpu_per_million:,.1f} CPU-s a million lines",
        )
    ]
