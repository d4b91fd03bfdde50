"""Importing a CSV statement on PostgreSQL: a file of plain rows is parsed by the database (COPY)
and any other goes through the checks in Python; the staged rows are then inserted at once as
if all were new, and checked entry by entry only where one was skipped. Every way must give the
same answer, so every file here is imported each way, in a transaction that is rolled back, and
the outcomes compared: the same lines and timeliness stored, or the same faults."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.bootstrap import Gateway
from gateway.errors import Invalid
from gateway.storage.tables import PayerRow, StatementLineRow, StatementMonthRow
from reconciliation import statements
from reconciliation.statements import import_statement

HEADER = "claim_id,line_no,paid_fen,payer_reference,settled_on"
CLAIM = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CELLS = {  # the well-formed value first, then the awkward ones
    "claim_id": [CLAIM, CLAIM.upper(), CLAIM.replace("-", ""), f" {CLAIM}", "not-a-claim", ""],
    "line_no": ["1", "", "0", "-1", "+1", " 2", "²", "2147483648", "12.0"],
    "paid_fen": ["100", "-5", "12.5", "", "1e3", " 7", "99999999999999999999", "0"],
    "payer_reference": ["R-1", " R-2 ", "参考号", "", "x" * 129, "x" * 128, '"a,b"', 'a"b', 'a"b"', "a\\b",
                        "a b"],
    "settled_on": ["2026-11-30", "2026-02-30", "2024-02-29", "2026-13-01", "0000-01-01", "2026-1-05",
                   "20261130", "2026-W48-1", ""],
}  # fmt: skip


def row(choice: dict[str, int]) -> str:
    return ",".join(CELLS[name][choice.get(name, 0)] for name in CELLS)


def outcome(gateway: Gateway, content: bytes) -> tuple[Any, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """What importing the file does: its summary or faults, and the lines and the payer's
    timeliness it would store."""
    with gateway.sessions() as session:
        try:
            try:
                summary: Any = import_statement(session, "p1", io.BytesIO(content), "text/csv")
                summary = {k: v for k, v in summary.items() if k != "statement_id"}
            except Invalid as error:
                summary = error.faults
            lines = session.execute(
                select(
                    StatementLineRow.row_no,
                    StatementLineRow.claim_id,
                    StatementLineRow.line_no,
                    StatementLineRow.paid_fen,
                    StatementLineRow.payer_reference,
                    StatementLineRow.settled_on,
                ).order_by(StatementLineRow.row_no)
            ).all()
            months = session.execute(
                select(
                    StatementMonthRow.month,
                    StatementMonthRow.lines,
                    StatementMonthRow.on_time,
                    StatementMonthRow.lag_days,
                ).order_by(StatementMonthRow.month)
            ).all()
            return summary, [tuple(line) for line in lines], [tuple(month) for month in months]
        finally:
            session.rollback()


@pytest.fixture
def postgres(gateway: Gateway) -> Gateway:
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip("the database parses CSV only on PostgreSQL; SQLite always uses the checks in Python")
    with gateway.sessions.begin() as session:
        session.add(PayerRow(payer_code="p1"))
    return gateway


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(sorted(CELLS)), st.integers(min_value=0, max_value=9), max_size=2
        ).map(lambda c: {k: v % len(CELLS[k]) for k, v in c.items()}),
        min_size=1,
        max_size=4,
    ),
    tail=st.sampled_from(["", "\n", ",,,,\n", "\n\n", f"\\.\n{row({})}\n"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_the_database_and_python_import_every_file_alike(
    postgres: Gateway, rows: list[dict[str, int]], tail: str, newline: str, bom: bool
) -> None:
    lines = [HEADER, *(row(choice) for choice in rows)]
    content = ("\ufeff" if bom else "") + newline.join(lines) + newline + tail
    raw = content.encode()
    fast = outcome(postgres, raw)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_insert_if_all_new", lambda *args: False)
        staged = outcome(postgres, raw)
        patch.setattr(statements, "copy_csv", lambda connection, stream: False)
        checked = outcome(postgres, raw)
    assert fast == staged == checked, content


def test_a_plain_file_is_parsed_by_the_database(postgres: Gateway) -> None:
    rows = [row({}).replace("R-1", f"R-{n}") for n in range(50)]
    content = ("\n".join([HEADER, *rows]) + "\n\n\n").encode()  # blank lines may end the file
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_check_and_stage", lambda *args: pytest.fail("checked in Python"))
        summary, stored, _ = outcome(postgres, content)
    assert summary["rows"] == summary["imported"] == 50
    assert [line[0] for line in stored] == list(range(2, 52))  # the rows of the file, the header being 1


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_file_of_new_entries_is_inserted_without_checking_entry_by_entry(
    postgres: Gateway, newline: str
) -> None:
    rows = [row({}).replace("R-1", f"R-{n}") for n in range(30)]
    rows[4] = row({"line_no": 1}).replace("R-1", "R-4")  # no line number: the claim's level, 0
    rows[7] = rows[7].replace("2026-11-30", "2026-10-02")  # another month, late
    content = (newline.join([HEADER, *rows]) + newline).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_refuse_repeats", lambda *args: pytest.fail("checked for repeats"))
        patch.setattr(statements, "_insert_new_entries", lambda *args: pytest.fail("checked for known"))
        summary, lines, months = outcome(postgres, content)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_insert_if_all_new", lambda *args: False)
        assert outcome(postgres, content) == (summary, lines, months)  # as the checks store it
    assert (summary["rows"], summary["imported"], summary["already_known"]) == (30, 30, 0)
    assert [line[0] for line in lines] == list(range(2, 32))
    assert lines[4][2] == 0 and lines[5][2] == 1
    assert [(m[0], m[1]) for m in months] == [("2026-10", 1), ("2026-11", 29)]


def test_an_entry_repeated_in_a_plain_file_is_named_by_its_row(postgres: Gateway) -> None:
    rows = [row({}).replace("R-1", f"R-{n}") for n in range(5)]
    content = "\n".join([HEADER, *rows, rows[1]]).encode()
    summary, stored, _ = outcome(postgres, content)
    assert summary == [("row 7", "repeats row 3 (same claim, line and payer_reference)")]
    assert stored == []


def test_a_plain_file_resent_with_more_entries_is_still_parsed_by_the_database(postgres: Gateway) -> None:
    rows = [row({}).replace("R-1", f"R-{n}") for n in range(20)]
    first = "\n".join([HEADER, *rows[:12]]).encode()
    resent = "\n".join([HEADER, *rows]).encode()  # the first twelve again, and eight new
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_check_and_stage", lambda *args: pytest.fail("checked in Python"))
        with postgres.sessions.begin() as session:
            import_statement(session, "p1", first, "text/csv")
        summary, stored, _ = outcome(postgres, resent)
    assert (summary["rows"], summary["imported"], summary["already_known"]) == (20, 8, 12)
    assert len(stored) == 20


@pytest.mark.parametrize(
    "cells",
    [{"payer_reference": 6}, {"payer_reference": 9}, {"settled_on": 1}, {"claim_id": 4}],
    ids=["quoted", "backslash", "no-such-date", "not-a-uuid"],
)
def test_what_the_database_does_not_take_is_checked_in_python(
    postgres: Gateway, cells: dict[str, int]
) -> None:
    content = "\n".join([HEADER, row({}), row(cells).replace("R-1", "R-2")]).encode()
    called: list[bool] = []
    check = statements._check_and_stage

    def spy(*args: Any) -> None:
        called.append(True)
        check(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_check_and_stage", spy)
        outcome(postgres, content)
    assert called
