"""The simulation report as an XLSX workbook: a sheet per table, yuan as numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xlsxwriter  # the statements' spreadsheet writer too (gateway/documents)
from xlsxwriter.worksheet import Worksheet


def _yuan(fen: int) -> float:
    return fen / 100


class _Sheet:
    """A worksheet written a row at a time, like a list of rows."""

    def __init__(self, sheet: Worksheet) -> None:
        self.sheet, self.row = sheet, 0

    def append(self, values: list[Any]) -> None:
        self.sheet.write_row(self.row, 0, values)
        self.row += 1


class _Book:
    def __init__(self, path: Path) -> None:
        self.book = xlsxwriter.Workbook(str(path))

    def create_sheet(self, title: str) -> _Sheet:
        return _Sheet(self.book.add_worksheet(title))

    def save(self, path: Path) -> None:
        self.book.close()


def write(result: dict[str, Any], path: Path) -> None:
    book = _Book(path)
    sheet = book.create_sheet("tiers")
    sheet.append(["tier", "actual (yuan)", "simulated (yuan)", "members actual", "members simulated"])
    for tier, entry in result["tiers"].items():
        sheet.append([tier, *map(_yuan, entry["paid_fen"]), *entry["members"]])
    responsibility = result["member_responsibility"]
    for name, pair in responsibility.items():
        sheet.append([f"member pays ({name.removesuffix('_fen').replace('_', ' ')})", *map(_yuan, pair)])
    products = book.create_sheet("products")
    products.append(
        ["product", "payer", "tier", "actual (yuan)", "simulated (yuan)", "claims actual", "claims simulated"]
    )
    for code, entry in result["products"].items():
        products.append(
            [code, entry["payer_code"], entry["tier"], *map(_yuan, entry["paid_fen"]), *entry["claims"]]
        )
    for dimension, cells in result["by"].items():
        sheet = book.create_sheet(f"by {dimension}")
        measures = sorted({m for cell in cells.values() for m in cell})
        sheet.append(
            [dimension, *(f"{m} {side} (yuan)" for m in measures for side in ("actual", "simulated"))]
        )
        for key, cell in cells.items():
            sheet.append([key, *(_yuan(cell.get(m, [0, 0])[i]) for m in measures for i in (0, 1))])
    gap = book.create_sheet("coverage gap")
    gap.append(
        ["grade", "setting", "month", "members", "billed (yuan)", "gap (yuan)", "gap per member (yuan)"]
    )
    for cell in result["coverage_gap"]["cells"]:
        if cell["suppressed"]:
            gap.append(
                [
                    cell["grade"],
                    cell["setting"],
                    cell["month"],
                    f"< {result['coverage_gap']['minimum_cell_members']}",
                ]
            )
        else:
            gap.append(
                [
                    cell["grade"],
                    cell["setting"],
                    cell["month"],
                    cell["members"],
                    _yuan(cell["billed_fen"]),
                    _yuan(cell["gap_fen"]),
                    _yuan(cell["gap_per_member_fen"]),
                ]
            )
    funding = book.create_sheet("funding")
    f = result["funding"]
    funding.append(["contributions (yuan)", _yuan(f["contributions_fen"])])
    funding.append(["tier-1 spending actual (yuan)", _yuan(f["tier1_spending_fen"][0])])
    funding.append(["tier-1 spending simulated (yuan)", _yuan(f["tier1_spending_fen"][1])])
    funding.append(["months of payment left, actual", f["months_of_payment_left"][0]])
    funding.append(["months of payment left, simulated", f["months_of_payment_left"][1]])
    book.save(path)
