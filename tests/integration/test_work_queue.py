"""The reconcilers' work queue at volume (issue 22, section 2), on both databases: keyset pages
with sorting and search, totals, amounts typed in yuan, an action on a selection under the
four-eyes rule, a mismatch page that shows its statement lines and only its kind's actions, a run
started from the console working in the background, and exports of every row."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import openpyxl
import pytest
from lxml import etree
from sqlalchemy import Date, DateTime, Uuid, bindparam, func, select, text
from starlette.testclient import TestClient

from gateway.bootstrap import Gateway
from gateway.storage.tables import MismatchActionRow, MismatchRow, SettlementItemRow, utcnow
from ltc_gateway.app import create_app
from ltc_sandbox.generator import Night, generate_night
from reconciliation.api import reconciliation_for
from reconciliation.run_lines import LINES
from reconciliation.ui import exports
from tests.integration.test_staff_sessions import csrf_of, sign_in
from tests.people import own_key

ORIGIN = {"Origin": "http://testserver"}
# set-based rows of the queue (a recursive CTE is the series both databases have)
_PLANT = text(
    """
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
    INSERT INTO mismatches (kind, payer_code, claim_id, line_no, expected_fen, settled_fen,
                            difference_fen, status, first_seen, last_seen, last_run_id,
                            created_at, updated_at)
    SELECT :kind, :payer, :claim, i, 100000, 100000 + :base + (i * 37) % 5000,
           :base + (i * 37) % 5000, 'open', :d, :d, 0, :now, :now
    FROM n
    """
).bindparams(
    bindparam("claim", type_=Uuid()), bindparam("d", type_=Date()), bindparam("now", type_=DateTime())
)


def plant(
    gateway: Gateway, count: int, *, kind: str = "AMOUNT_MISMATCH", base: int = 1, day: date
) -> uuid.UUID:
    claim = uuid.uuid4()
    with gateway.sessions.begin() as session:
        session.execute(
            _PLANT,
            {
                "count": count,
                "kind": kind,
                "payer": "planted",
                "claim": claim,
                "base": base,
                "d": day,
                "now": utcnow(),
            },
        )
    return claim


@dataclass
class Console:
    gateway: Gateway
    client: TestClient
    night: Night
    key: str  # zhang's, signed in on the client

    def api(self, path: str) -> Any:
        answer = self.client.get(path, headers={"Authorization": f"Bearer {self.key}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, page: str, **fields: Any) -> Any:
        form = {"csrf": csrf_of(self.client.get(page).text), **fields}
        return self.client.post(path, data=form, headers=ORIGIN)


@pytest.fixture
def console(gateway: Gateway) -> Iterator[Console]:
    night = generate_night(gateway, claims_per_kind=1, matched_claims=1)
    reconciliation_for(gateway).run(night.business_date)
    with TestClient(create_app(gateway, embedded_workers=0), follow_redirects=False) as client:
        key = own_key(gateway, "zhang")
        sign_in(client, key)
        yield Console(gateway, client, night, key)


def test_the_queue_pages_by_keyset_sorted_and_searched_with_totals(console: Console) -> None:
    plant(console.gateway, 120, day=console.night.business_date)
    first = console.api("/v1/reconciliation/mismatches?sort=-difference&limit=50")
    with console.gateway.sessions.begin() as session:
        active = select(MismatchRow).where(MismatchRow.status.in_(("open", "awaiting_payer")))
        count = session.scalar(select(func.count()).select_from(active.subquery()))
        total = session.scalar(select(func.sum(active.subquery().c.difference_fen)))
    assert (first["total"], first["total_difference_fen"]) == (count, total)
    assert first["previous"] is None and count > 120
    seen, page = [], first
    while True:
        seen += page["mismatches"]
        if not page["next"]:
            break
        page = console.api(f"/v1/reconciliation/mismatches?sort=-difference&limit=50&after={page['next']}")
    assert len(seen) == count and len({m["id"] for m in seen}) == count  # every item once
    keys = [(-m["difference_fen"], -m["id"]) for m in seen]
    assert keys == sorted(keys)
    assert all(m["age_days"] >= 0 for m in seen)  # counted to the queue's date (the run is ahead of today)
    second = console.api(f"/v1/reconciliation/mismatches?sort=-difference&limit=50&after={first['next']}")
    back = console.api(f"/v1/reconciliation/mismatches?sort=-difference&limit=50&before={second['previous']}")
    assert [m["id"] for m in back["mismatches"]] == [m["id"] for m in first["mismatches"]]

    # search: by claim number, by provider, by the payer's reference
    known = next(m for m in seen if m["claim_number"])
    by_number = console.api(f"/v1/reconciliation/mismatches?claim_number={known['claim_number']}")
    assert by_number["total"] >= 1 and {m["claim_id"] for m in by_number["mismatches"]} == {known["claim_id"]}
    by_provider = console.api(f"/v1/reconciliation/mismatches?provider={known['provider_code']}&limit=500")
    assert {m["provider_code"] for m in by_provider["mismatches"]} == {known["provider_code"]}
    assert by_provider["total"] == sum(1 for m in seen if m["provider_code"] == known["provider_code"])
    duplicate = next(m for m in seen if m["kind"] == "DUPLICATE_SETTLEMENT")
    with console.gateway.sessions.begin() as session:
        reference = session.scalar(
            text(
                "SELECT payer_reference FROM statement_lines WHERE claim_id = :c AND line_no = :n"
            ).bindparams(bindparam("c", type_=Uuid())),
            {"c": uuid.UUID(duplicate["claim_id"]), "n": duplicate["line_no"]},
        )
    by_reference = console.api(f"/v1/reconciliation/mismatches?reference={reference}")
    assert duplicate["id"] in {m["id"] for m in by_reference["mismatches"]}

    # the page: sortable column links, the totals row, the next page's link; Chinese
    html = console.client.get("/ui/queue?sort=-difference").text
    assert 'data-sort="difference"' in html and "▼" in html and 'id="next-page"' in html
    assert f"共 {count:,} 条" in html and "合计" in html
    assert console.client.get("/ui/queue?after=not-a-cursor").status_code == 422


def test_amounts_are_typed_in_yuan_and_a_bulk_write_off_keeps_four_eyes(console: Console) -> None:
    day = console.night.business_date
    plant(console.gateway, 2, base=2_000, day=day)  # differences 20.37, 20.74 yuan
    big = plant(console.gateway, 1, base=300_000, day=day)  # 3,000.37 yuan: above the threshold
    client = console.client
    listed = client.get("/ui/queue?payer=planted&min_amount=2000.50")
    assert listed.status_code == 200 and listed.text.count('name="ids"') == 1  # only the big one
    refused = client.get("/ui/queue?min_amount=12.505")
    assert refused.status_code == 422 and "以元为单位" in refused.text
    with console.gateway.sessions.begin() as session:
        small_ids = list(
            session.scalars(
                select(MismatchRow.id).where(MismatchRow.payer_code == "planted", MismatchRow.claim_id != big)
            )
        )
        big_id = session.scalar(select(MismatchRow.id).where(MismatchRow.claim_id == big))

    # one item: 12.50 yuan recovered is 1,250 fen; a form refused keeps what was typed
    page = f"/ui/mismatches/{small_ids[0]}"
    kept = console.post(f"{page}/resolve", page, action="recover", amount="12.505", note="多付部分追回")
    assert kept.status_code == 422 and "多付部分追回" in kept.text and 'value="12.505"' in kept.text
    done = console.post(f"{page}/resolve", page, action="recover", amount="12.50", note="多付部分追回")
    assert done.status_code == 303
    with console.gateway.sessions.begin() as session:
        item = session.scalars(
            select(SettlementItemRow).where(SettlementItemRow.source == f"mismatch:{small_ids[0]}")
        ).one()
        assert item.amount_fen == -1250

    # a selection written off: the small one at once, the big one waits for a second person
    answer = console.post(
        "/ui/queue/resolve",
        "/ui/queue?payer=planted",
        ids=[small_ids[1], big_id],
        action="write_off",
        note="批量核销",
    )
    assert answer.status_code == 303
    assert "2 条成功" in client.get(answer.headers["location"]).text
    again = console.post(
        "/ui/queue/resolve", "/ui/queue?payer=planted", ids=[big_id], action="approve", note="自己复核"
    )
    assert "另一名对账员" in client.get(again.headers["location"]).text
    sign_in(client, own_key(console.gateway, "li"))
    console.post(
        "/ui/queue/resolve", "/ui/queue?payer=planted", ids=[big_id], action="approve", note="复核通过"
    )
    with console.gateway.sessions.begin() as session:
        statuses = dict(
            session.execute(
                select(MismatchRow.id, MismatchRow.status).where(MismatchRow.payer_code == "planted")
            ).all()
        )
        trail = session.scalars(
            select(MismatchActionRow.action)
            .where(MismatchActionRow.mismatch_id == big_id)
            .order_by(MismatchActionRow.id)
        ).all()
    assert statuses == {small_ids[0]: "resolved", small_ids[1]: "resolved", big_id: "resolved"}
    assert list(trail) == ["write_off", "approve"]


def test_a_mismatch_page_shows_its_statement_lines_and_only_its_kinds_actions(console: Console) -> None:
    listing = console.api("/v1/reconciliation/mismatches?limit=500")["mismatches"]
    duplicate = next(m for m in listing if m["kind"] == "DUPLICATE_SETTLEMENT")
    html = console.client.get(f"/ui/mismatches/{duplicate['id']}").text
    assert html.count('class="reference"') == 2  # the two entries the payer settled twice
    assert 'id="per-payer"' in html and "支付方结算明细" in html
    offered = re.findall(r'<option value="([a-z_]+)"', html.split('id="resolve"')[1])
    assert offered == ["request_correction", "recover", "write_off", "carry_forward"]
    stale = next(m for m in listing if m["kind"] == "STALE_COORDINATION")
    html = console.client.get(f"/ui/mismatches/{stale['id']}").text
    assert 'class="replaced"' in html and "支付方按此结算" in html  # the figure it was settled on
    over = next(m for m in listing if m["kind"] == "OVER_COORDINATED")
    html = console.client.get(f"/ui/mismatches/{over['id']}").text
    assert re.findall(r'<option value="([a-z_]+)"', html) == ["write_off", "carry_forward"]
    refused = console.post(
        f"/ui/mismatches/{over['id']}/resolve", f"/ui/mismatches/{over['id']}", action="recover", note="x"
    )
    assert refused.status_code == 409


def test_a_run_started_in_the_console_works_in_the_background_and_shows_its_progress(
    console: Console,
) -> None:
    day = console.night.business_date.isoformat()
    answer = console.post("/ui/runs", "/ui/", business_date=day)
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/runs/{day}"
    for _ in range(600):  # until done (a bound on polls, not a time asserted)
        page = console.client.get(f"/ui/runs/{day}").text
        if 'data-status="done"' in page:
            break
        assert 'http-equiv="refresh"' in page and "阶段" in page
        time.sleep(0.1)
    assert 'data-status="done"' in page and 'id="payer-totals"' in page and "已完成" in page


_COUNTS = "SELECT counts FROM reconciliation_runs WHERE business_date = :d"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_a_run_reports_its_lines_payer_by_payer_and_its_page_shows_them(console: Console) -> None:
    day, gateway = console.night.business_date, console.gateway
    first = console.api(f"/v1/reconciliation/runs/{day.isoformat()}")
    seen: list[tuple[str, int, int]] = []
    stored: list[Any] = []  # the run's row as another process reads it, at each report

    def report(phase: str, done: int, of: int) -> None:
        seen.append((phase, done, of))
        LINES.report(gateway.engine, day, phase, done, of)
        if gateway.engine.dialect.name == "postgresql":  # SQLite: the run holds the one write lock
            with gateway.engine.connect() as other:
                stored.append(other.execute(text(_COUNTS), {"d": day}).scalar_one())

    again = reconciliation_for(gateway).run(day, lines=report)
    LINES.forget(day)
    if gateway.engine.dialect.name == "postgresql":
        assert [_json(c)["lines"]["done"] for c in stored] == [done for _, done, _ in seen]
    assert "lines" not in again["counts"]  # the phase's end takes the figure away
    matched = [g for g in again["levels"] if g["level_2"] == "matched"]
    lines = sum(g["gateway"]["count"] + g["payer"]["count"] for g in matched)
    assert len({g["payer_code"] for g in matched}) == len(seen) > 1  # after each payer's lines
    assert [phase for phase, _, _ in seen] == ["results"] * len(seen)
    assert [of for _, _, of in seen] == [lines] * len(seen) and seen[-1][1] == lines
    assert [done for _, done, _ in seen] == sorted({done for _, done, _ in seen})  # rising
    assert again["counts"]["kinds"] == first["counts"]["kinds"]  # a payer at a time finds the same

    reconciliation_for(gateway).run(day, stop_after="totals")  # working: line by line is next
    LINES.report(gateway.engine, day, "results", 120_000, 250_000)
    try:
        page = console.client.get(f"/ui/runs/{day.isoformat()}").text
    finally:
        LINES.forget(day)
    assert 'id="run-lines"' in page and "逐行比对 120,000 / 250,000 行" in page
    # another process serving the page (nothing in this one's memory): on PostgreSQL it reads the
    # figure from the run's row; SQLite (one process, one writer) keeps it in the run's process
    page = console.client.get(f"/ui/runs/{day.isoformat()}").text
    if gateway.engine.dialect.name == "postgresql":
        assert "逐行比对 120,000 / 250,000 行" in page
    else:
        assert 'id="run-lines"' not in page


def test_an_export_holds_every_row_beyond_a_hundred_thousand(
    gateway: Gateway, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run once, on SQLite (faster here: no round trips for the 5,000-row chunks)."""
    if gateway.engine.dialect.name != "sqlite":
        pytest.skip("one database is enough for the volume; the paging is tested on both")
    console: Console = request.getfixturevalue("console")
    n = 100_050
    plant(console.gateway, n, day=console.night.business_date)
    opened = console.api("/v1/reconciliation/mismatches?limit=1")["total"]
    answer = console.client.get("/ui/queue.xlsx?payer=planted&sort=id")
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
    sheet = book.active
    header = next(sheet.iter_rows(max_row=1, values_only=True))
    assert header[:4] == ("编号", "差异类型", "支付方", "结算单号")
    assert sheet.max_row == n + 2  # openpyxl's count: the header, every item, the totals
    # every row is in the sheet's XML, the last the totals (counted with lxml: openpyxl's own
    # parse of 100,000 rows took 20 s of the suite; its first rows are read above)
    rows = list(_sheet_rows(answer.content))
    assert [r for r, _ in rows] == list(range(1, n + 3))
    assert rows[0][1] == "编号" and rows[-1][1] == "合计"
    csv_text = console.client.get("/ui/queue.csv?payer=planted").content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(csv_text)))
    assert len(lines) == n + 1 and re.fullmatch(r"\d+\.\d\d", lines[1][9])  # yuan, two decimals
    # beyond a worksheet's rows: a message that offers CSV instead (the limit made small here)
    monkeypatch.setattr(exports, "XLSX_ROWS", 1000)
    too_many = console.client.get("/ui/queue.xlsx?payer=planted")
    assert too_many.status_code == 303
    assert "CSV" in console.client.get(too_many.headers["location"]).text
    assert opened >= n


def _sheet_rows(xlsx: bytes) -> Iterator[tuple[int, str | None]]:
    """Each row of the first sheet: its number and its first cell's text (shared or inline)."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        shared: list[str] = []
        if "xl/sharedStrings.xml" in archive.namelist():
            shared = ["".join(si.itertext()) for si in etree.fromstring(archive.read("xl/sharedStrings.xml"))]
        with archive.open("xl/worksheets/sheet1.xml") as sheet:
            for _, row in etree.iterparse(sheet, tag=f"{main}row"):
                cell = row.find(f"{main}c")
                text = None
                if cell is not None:
                    if cell.get("t") == "s":
                        text = shared[int(cell.findtext(f"{main}v") or 0)]
                    elif cell.get("t") == "inlineStr":
                        text = "".join(cell.find(f"{main}is").itertext())  # type: ignore[union-attr]
                    else:
                        text = cell.findtext(f"{main}v")
                yield int(row.get("r") or 0), text
                row.clear()
