"""Batch upload: a home-care agency's month, 10,000 claim lines (200 members, a claim of 50 lines
each), uploaded as one file through ``POST /v1/claims/batches`` (CSV, then XLSX; each a 202,
processed in the background, followed on its batch until it is finished) on PostgreSQL; beside it,
in the same run, the same claims posted one by one through ``POST /v1/claims``, and the bare parse
of the file (read and grouped, no database). Each in a fresh schema with the same members and
assessments. Lines per second of wall time, and the gateway process's CPU seconds
(``time.process_time``: the API, its background thread and the test client; PostgreSQL's own CPU
is not in it)."""

from __future__ import annotations

import copy
import csv
import functools
import io
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from starlette.testclient import TestClient

from bench.common import Row, fresh_schema
from examples import example as _example
from examples import example_products as _products
from gateway.api.app import application, gateway_routes
from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.domain.claim_rows import COLUMNS, claims_of
from gateway.domain.identity import check_character
from gateway.reference import registry
from gateway.services import agencies, assessments, batch_files
from gateway.services.keys import Principal, Role, create_key

MEMBERS, LINES = 200, 50  # 10,000 lines
CODES = ("HYG-BATH", "HYG-HAIR", "HYG-ORAL", "NUT-FEEDING", "EXC-CARE", "MOB-TRANSFER", "MED-VITALS")


def _prepare(gateway: Gateway) -> tuple[str, list[tuple[str, str]]]:
    """Products, the provider, and MEMBERS members with an assessment each; the provider's key and
    each member's (ID number, assessment id)."""
    scenario = _example("worked-example.json")
    agency = Principal("bench", Role.PROVIDER, scenario["assessment"]["agency_code"])
    members = []
    with gateway.sessions.begin() as session:
        for product in _products():
            registry.load_product(session, product)
        registry.register_provider(session, scenario["provider"])
        agencies.register_agency(session, scenario["agency"])
        for n in range(MEMBERS):
            first17 = f"330102{1930 + n % 60:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
            id_number = first17 + check_character(first17)
            assessment = copy.deepcopy(scenario["assessment"])
            assessment["member"] = {**assessment["member"], "id_number": id_number}
            view, _ = assessments.submit_assessment(
                session, agency, assessment, gateway.grading, gateway.today()
            )
            members.append((id_number, view["assessment_id"]))
        key = create_key(session, Role.PROVIDER, scenario["provider"]["provider_code"])[1]
    return key, members


def _claims(members: list[tuple[str, str]]) -> list[dict[str, Any]]:
    claims = []
    for m, (id_number, assessment_id) in enumerate(members):
        lines = []
        for n in range(LINES):
            day = date(2026, 11, 1) + timedelta(days=n % 28)
            lines.append(
                {
                    "line_no": n + 1,
                    "service_code": CODES[(n // 28 + m) % len(CODES)],
                    "setting": "home",
                    "method": "per_item",
                    "service_date": day.isoformat(),
                    "quantity": 1 + n % 2,
                    "unit_price_fen": 3050,
                    "billed_fen": (1 + n % 2) * 3050,
                }
            )
        claims.append(
            {
                "claim_number": f"BENCH-202611-{m:04d}",
                "member_id_number": id_number,
                "assessment_id": assessment_id,
                "period": {"start": "2026-11-01", "end": "2026-11-30"},
                "lines": lines,
            }
        )
    return claims


def _rows(claims: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for claim in claims:
        for line in claim["lines"]:
            cells = {
                "claim_number": claim["claim_number"],
                "member_id_number": claim["member_id_number"],
                "assessment_id": claim["assessment_id"],
                "period_start": claim["period"]["start"],
                "period_end": claim["period"]["end"],
                **{k: str(v) for k, v in line.items()},
                "setting": "居家上门护理",
                "method": "按项目",
                "unit_price_yuan": f"{line['unit_price_fen'] / 100:.2f}",
                "billed_yuan": f"{line['billed_fen'] / 100:.2f}",
            }
            rows.append([cells.get(c.key, "") for c in COLUMNS])
    return rows


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([c.header for c in COLUMNS])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def as_xlsx(rows: list[list[str]]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "constant_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, [c.header for c in COLUMNS])
    for n, row in enumerate(rows, start=1):
        sheet.write_row(n, 0, row)
    book.close()
    return buffer.getvalue()


def _timed(work: Callable[[], None]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


Setup = Callable[[TestClient, str, list[dict[str, Any]]], Callable[[], None]]


def _in_fresh_schema(setup: Setup) -> tuple[float, float]:
    """``setup`` prepares (the file is written outside the timing) and gives the work to time."""
    with fresh_schema("bench_batch") as url:
        gateway = bootstrap(Settings(database_url=url))
        gateway.settings = replace(gateway.settings, max_batch_bytes=32 * 1024 * 1024)
        try:
            key, members = _prepare(gateway)
            claims = _claims(members)
            with TestClient(application(gateway, gateway_routes(), embedded_workers=0)) as client:
                return _timed(setup(client, key, claims))
        finally:
            gateway.close()


def _upload(kind: str) -> Setup:
    def setup(client: TestClient, key: str, claims: list[dict[str, Any]]) -> Callable[[], None]:
        rows = _rows(claims)
        body = as_csv(rows) if kind == "csv" else as_xlsx(rows)
        media = "text/csv" if kind == "csv" else batch_files.XLSX
        headers = {"Authorization": f"Bearer {key}", "Content-Type": media}
        return lambda: _send(client, body, headers)

    return setup


def _send(client: TestClient, body: bytes, headers: dict[str, str]) -> None:
    """Upload, then follow the batch until it is finished (a 202: it runs in the background)."""
    answer = client.post("/v1/claims/batches", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    while True:
        batch = client.get(answer.headers["location"], headers=headers).json()
        if batch["finished_at"]:
            break
        time.sleep(0.1)
    assert batch["status"] == "accepted" and len(batch["claims"]) == MEMBERS, batch["faults"][:3]


def _one_by_one(client: TestClient, key: str, claims: list[dict[str, Any]]) -> Callable[[], None]:
    def post() -> None:
        for claim in claims:
            answer = client.post("/v1/claims", json=claim, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 202, answer.text

    return post


def run() -> list[Row]:
    lines = MEMBERS * LINES
    rows = []
    base_wall, base_cpu = _in_fresh_schema(_one_by_one)
    baseline = lines / base_wall
    for kind in ("csv", "xlsx"):
        wall, cpu = _in_fresh_schema(_upload(kind))
        rows.append(
            Row(
                f"batch upload, {kind.upper()} (10,000 lines)",
                lines / wall,
                "lines/s",
                baseline=baseline,
                baseline_name="POST /v1/claims one by one",
                note=f"{wall:.1f} s, {cpu:.1f} s CPU; one by one {base_wall:.1f} s, {base_cpu:.1f} s CPU",
            )
        )
    sample = _rows(_claims([("11010519491231002X", "e0ac25ab-c224-4a5b-a9bb-17a35bf9ca04")] * MEMBERS))
    for kind, raw in (("csv", as_csv(sample)), ("xlsx", as_xlsx(sample))):
        wall, cpu = _timed(functools.partial(_parse, raw, kind, lines))
        name = f"batch file parse only, {kind.upper()} (10,000 lines)"
        rows.append(
            Row(name, lines / wall, "lines/s", note=f"{cpu:.2f} s CPU; read and grouped, no database")
        )
    return rows


def _parse(raw: bytes, kind: str, lines: int) -> None:
    claims_of(batch_files.read_sheet(raw, kind, lines).rows)
