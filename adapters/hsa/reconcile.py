"""Reconciliation in the platform's two levels, over the profile's envelope: totals per clearing
category and period (``totals``, like 3201: the institution's count and sums, the platform's
answer beside them), and where they differ, detail (``detail``, like 3202: a file of the lines
the gateway expects is uploaded, ``upload`` like 9101, the platform compares and answers a result
file, fetched with ``download`` like 9102, one line per settlement with its result).

The field names and file layout follow public integration practice, not an official text; the
transaction numbers are the profile's (``infno``, per city). Amounts are integer fen, as
everywhere in the SDK. Both sides of the sandbox use the functions here to write and read files.
"""

from __future__ import annotations

import base64
import calendar
import gzip
import io
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from adapters.sdk import MalformedAnswer, StatementEntry, _fen, _int, _text
from adapters.sdk_totals import ExpectedLine, PeriodTotals

if TYPE_CHECKING:
    from adapters.hsa.adapter import HsaAdapter

MAX_FILE_BYTES = 64 << 20  # a result file decompressed: far above a city's month of lines
RESULTS = {"0": "agreed", "1": "differs", "2": "platform only", "3": "institution only"}


def period_dates(period: str) -> tuple[str, str]:
    """``YYYY-MM`` as the first and last day (stmt_begndate, stmt_enddate)."""
    try:
        year, month = (int(p) for p in period.split("-"))
        last = calendar.monthrange(year, month)[1]
    except ValueError:  # a group the gateway could not attribute (``unknown``)
        return period, period
    return f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{last:02d}"


def totals_input(business_date: date, totals: PeriodTotals) -> dict[str, Any]:
    begin, end = period_dates(totals.period)
    return {
        "clr_type": totals.category,
        "stmt_begndate": begin,
        "stmt_enddate": end,
        "business_date": business_date.isoformat(),
        "fixmedins_setl_cnt": totals.count,
        "fund_pay_sumamt": totals.paid_fen,
        "medfee_sumamt": totals.billed_fen or 0,
    }


def totals_output(asked: PeriodTotals, answer: Any) -> PeriodTotals:
    """The platform's own figures (it answers them beside ``stmt_rslt``)."""
    try:
        return PeriodTotals(
            category=asked.category,
            period=asked.period,
            count=_int(answer["fixmedins_setl_cnt"]),
            paid_fen=_fen(answer["fund_pay_sumamt"]),
            billed_fen=_fen(answer["medfee_sumamt"]) if answer.get("medfee_sumamt") is not None else None,
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise MalformedAnswer(f"not a totals answer: {type(error).__name__} {error}") from None


def write_file(rows: Iterable[Sequence[Any]]) -> str:
    """Tab-separated lines, gzip, base64: how a file travels in ``in`` and ``out``."""
    text = "".join("\t".join(str(v) for v in row) + "\n" for row in rows)
    return base64.b64encode(gzip.compress(text.encode("utf-8"))).decode("ascii")


def read_file(encoded: Any, columns: int) -> list[list[str]]:
    try:
        packed = base64.b64decode(str(encoded), validate=True)
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as stream:
            text = stream.read(MAX_FILE_BYTES + 1)
    except (ValueError, OSError, EOFError) as error:
        raise MalformedAnswer(f"the file does not decode: {error}") from None
    if len(text) > MAX_FILE_BYTES:
        raise MalformedAnswer(f"the file is larger than {MAX_FILE_BYTES} bytes")
    rows = [line.split("\t") for line in text.decode("utf-8", errors="strict").splitlines() if line]
    if any(len(row) != columns for row in rows):
        raise MalformedAnswer(f"a line of the file has not {columns} fields")
    return rows


def detail_file(ours: Sequence[ExpectedLine]) -> str:
    return write_file((line.claim_id, line.line_no, line.expected_fen) for line in ours)


def result_entries(rows: list[list[str]]) -> list[StatementEntry]:
    """The result file's settlements (a line only the institution has is no settlement)."""
    entries = []
    try:
        for claim_id, line_no, paid, reference, settled_on, result in rows:
            if result not in RESULTS:
                raise TypeError(f"result {result!r}")
            if result == "3":
                continue
            date.fromisoformat(settled_on)
            entries.append(
                StatementEntry(_text(claim_id), _int(line_no), _fen(paid), _text(reference), settled_on)
            )
    except (TypeError, ValueError) as error:
        raise MalformedAnswer(f"not a result file: {error}") from None
    return entries


async def pull_totals(
    adapter: HsaAdapter, business_date: date, ours: tuple[PeriodTotals, ...]
) -> list[PeriodTotals]:
    """One totals transaction per category and period the gateway has figures for."""
    answers = []
    for totals in ours:
        _, answer = await adapter.transmit("totals", totals_input(business_date, totals))
        answers.append(totals_output(totals, answer))
    return answers


async def pull_detail(
    adapter: HsaAdapter, business_date: date, totals: PeriodTotals, ours: tuple[ExpectedLine, ...]
) -> list[StatementEntry]:
    """Upload the lines expected, ask for detail, download the result file."""
    name = f"{adapter.profile.fixmedins_code}-{totals.category}-{totals.period}.txt.gz"
    upload = {"filename": name, "in": detail_file(ours), "fixmedins_code": adapter.profile.fixmedins_code}
    _, uploaded = await adapter.transmit("upload", upload)
    asked = {**totals_input(business_date, totals), "file_qury_no": _query_no(uploaded)}
    _, compared = await adapter.transmit("detail", asked)
    download = {
        "file_qury_no": _query_no(compared),
        "filename": str((compared or {}).get("filename", "")),
        "fixmedins_code": adapter.profile.fixmedins_code,
    }
    _, file = await adapter.transmit("download", download)
    if not isinstance(file, dict) or "out" not in file:
        raise MalformedAnswer("the download answered no file (out)")
    return result_entries(read_file(file["out"], 6))


def _query_no(answer: Any) -> str:
    if not isinstance(answer, dict) or not answer.get("file_qury_no"):
        raise MalformedAnswer("the answer names no file (file_qury_no)")
    return _text(answer["file_qury_no"])
