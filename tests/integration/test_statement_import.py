"""Importing a CSV statement on PostgreSQL: a file of plain rows is parsed by the database (COPY)
and any other goes through the checks in Python. Both must give the same answer, so every
file here is imported both ways, in a transaction that is rolled back, and the outcomes compared:
the same lines stored, or the same faults."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.bootstrap import Gateway
from gateway.errors import Invalid
from gateway.storage.tables import PayerRow, StatementLineRow
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


def outcome(gateway: Gateway, content: bytes) -> tuple[Any, list[tuple[Any, ...]]]:
    """What importing the file does: its summary or faults, and the lines it would store."""
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
            return summary, [tuple(line) for line in lines]
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
        patch.setattr(statements, "copy_csv", lambda connection, stream: False)
        checked = outcome(postgres, raw)
    assert fast == checked, content


def test_a_plain_file_is_parsed_by_the_database(postgres: Gateway) -> None:
    rows = [row({}).replace("R-1", f"R-{n}") for n in range(50)]
    content = ("\n".join([HEADER, *rows]) + "\n\n\n").encode()  # blank lines may end the file
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_check_and_stage", lambda *args: pytest.fail("checked in Python"))
        summary, stored = outcome(postgres, content)
    assert summary["rows"] == summary["imported"] == 50
    assert [line[0] for line in stored] == list(range(2, 52))  # the rows of the file, the header being 1


def test_a_plain_file_resent_with_more_entries_is_still_parsed_by_the_database(postgres: Gateway) -> None:
    rows = [row({}).replace("R-1", f"R-{n}") for n in range(20)]
    first = "\n".join([HEADER, *rows[:12]]).encode()
    resent = "\n".join([HEADER, *rows]).encode()  # the first twelve again, and eight new
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(statements, "_check_and_stage", lambda *args: pytest.fail("checked in Python"))
        with postgres.sessions.begin() as session:
            import_statement(session, "p1", first, "text/csv")
        summary, stored = outcome(postgres, resent)
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
