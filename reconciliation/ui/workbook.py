"""The queue's export as a one-sheet Office Open XML workbook, written without a spreadsheet
library (numbers as numbers, text inline)."""

from __future__ import annotations

import io
import zipfile
from typing import Any
from xml.sax.saxutils import escape

_OOXML = "http://schemas.openxmlformats.org"


def xlsx(rows: list[list[Any]], sheet: str) -> bytes:
    """A one-sheet workbook in the Office Open XML format (numbers as numbers, text inline)."""

    def cell(ref: str, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    def column(n: int) -> str:
        name = ""
        while n:
            n, rest = divmod(n - 1, 26)
            name = chr(65 + rest) + name
        return name

    body = "".join(
        f'<row r="{r}">' + "".join(cell(f"{column(c)}{r}", v) for c, v in enumerate(row, start=1)) + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    xml = '<?xml version="1.0" encoding="UTF-8"?>'
    package, office = "http://schemas.openxmlformats.org/package/2006", f"{_OOXML}/officeDocument/2006"
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            f'{xml}<Types xmlns="{package}/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{sheet_type}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{sheet_type}.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'{xml}<Relationships xmlns="{package}/relationships">'
            f'<Relationship Id="rId1" Type="{office}/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'{xml}<workbook xmlns="{_OOXML}/spreadsheetml/2006/main" xmlns:r="{office}/relationships">'
            f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{xml}<Relationships xmlns="{package}/relationships">'
            f'<Relationship Id="rId1" Type="{office}/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'{xml}<worksheet xmlns="{_OOXML}/spreadsheetml/2006/main">'
            f"<sheetData>{body}</sheetData></worksheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()
