"""Batch upload (POST /v1/claims/batches): a month's claims as one CSV or XLSX file, checked as
POST /v1/claims checks a claim, faults by row and column in Chinese and English, nothing accepted
from a faulty file by default, the same file idempotent, a changed submitted claim refused by name."""

from __future__ import annotations

import csv
import io
import time
import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
import xlsxwriter
from jsonschema import Draft202012Validator
from openpyxl import load_workbook

import schemas
from gateway.domain.claim_rows import COLUMNS
from gateway.services.keys import Role
from gateway.storage.tables import ClaimBatchRow, utcnow
from tests.integration.test_personal_data import plain_personal_data
from tests.integration.world import World, auth

PATH = "/v1/claims/batches"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CODES = ("HYG-BATH", "HYG-HAIR", "HYG-ORAL", "NUT-FEEDING", "EXC-CARE", "MOB-TRANSFER", "MED-VITALS")


def month_rows(world: World, claims: int = 50) -> list[dict[str, Any]]:
    """``claims`` claims of the example's member in November 2026, every fifth of two lines."""
    member, assessment = world.scenario["claim"]["member_id_number"], world.assessment_id
    rows = []
    for n in range(claims):
        for line_no in (1, 2) if n % 5 == 0 else (1,):
            rows.append(
                {
                    "claim_number": f"P3301020001-202611-B{n:03d}",
                    "member_id_number": member,
                    "assessment_id": assessment,
                    "period_start": date(2026, 11, 1),
                    "period_end": date(2026, 11, 30),
                    "line_no": line_no,
                    "service_code": CODES[(n + line_no) % len(CODES)],
                    "setting": "机构护理",
                    "method": "per_item",
                    "service_date": date(2026, 11, 1 + n % 28),
                    "quantity": 2,
                    "unit_price_yuan": "30.50",
                    "billed_yuan": "61.00",
                }
            )
    return rows


def as_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([c.header for c in COLUMNS])
    writer.writerows([[str(row.get(c.key, "")) for c in COLUMNS] for row in rows])
    return ("\ufeff" + out.getvalue()).encode()


def as_xlsx(rows: list[dict[str, Any]]) -> bytes:
    """As a person fills the template in Excel: numbers as numbers, dates as date cells."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet, day = book.add_worksheet(), book.add_format({"num_format": "yyyy-mm-dd"})
    for n, column in enumerate(COLUMNS):
        sheet.write_string(0, n, column.header)
        for r, row in enumerate(rows, start=1):
            value = row.get(column.key)
            if isinstance(value, date):
                sheet.write_datetime(r, n, value, day)
            elif isinstance(value, int):
                sheet.write_number(r, n, value)
            elif value is not None:
                sheet.write_string(r, n, str(value))
    book.close()
    return buffer.getvalue()


def upload(world: World, body: bytes, kind: str, key: str | None = None, query: str = "") -> Any:
    media = {"csv": "text/csv", "xlsx": "application/octet-stream"}[kind]
    headers = {**auth(key or world.provider), "Content-Type": media}
    return world.client.post(f"{PATH}{query}", content=body, headers=headers)


def break_three(rows: list[dict[str, Any]]) -> dict[int, str]:
    """Three faulty rows (sheet row numbers: the header is row 1) and the column each is named by."""
    rows[3]["quantity"] = "两"  # not a whole number: the claim schema says so
    rows[10]["billed_yuan"] = "99.00"  # not quantity × unit price: the claim rule says so
    rows[20]["service_code"] = "NO-SUCH-SERVICE"  # not in the catalogue
    return {5: "quantity", 12: "billed_yuan", 22: "service_code"}


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_faulty_file_accepts_nothing_then_fixed_it_is_accepted_idempotently_and_coordinated(
    world: World, kind: str
) -> None:
    world.setup()
    encode = as_csv if kind == "csv" else as_xlsx
    rows = month_rows(world)
    good = encode(rows)
    faulty_rows = [dict(r) for r in rows]
    expected = break_three(faulty_rows)

    refused = upload(world, encode(faulty_rows), kind)
    assert refused.status_code == 201, refused.text
    batch = refused.json()
    assert batch["status"] == "rejected" and batch["claims"] == [] and batch["claims_total"] == 50
    answer = Draft202012Validator(
        schemas.load("responses/claim-batch"), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert {(f["row"], f["column"]) for f in batch["faults"]} == set(expected.items())
    by_column = {f["column"]: f for f in batch["faults"]}
    assert by_column["quantity"]["zh"] == "应为整数" and "integer" in by_column["quantity"]["en"]
    assert (
        by_column["billed_yuan"]["zh"] == "金额应等于 数量 × 单价"
        and by_column["billed_yuan"]["header"] == "金额(元)"
    )
    assert "catalogue" in by_column["service_code"]["en"]
    listed = world.get("/v1/claims?limit=200", world.provider).json()["claims"]
    assert listed == []  # nothing accepted

    accepted = upload(world, good, kind)
    assert accepted.status_code == 201, accepted.text
    batch = accepted.json()
    assert batch["status"] == "accepted" and batch["faults"] == []
    answer.validate(refused.json())  # real answers as the contract declares them
    answer.validate(batch)
    assert batch["progress"] == {"rows_total": 60, "rows_checked": 60, "rows_submitted": 60}
    assert len(batch["claims"]) == 50 and all(c["new"] for c in batch["claims"])
    assert accepted.headers["location"] == f"{PATH}/{batch['batch_id']}"
    assert world.get(accepted.headers["location"], world.provider).json() == batch

    again = upload(world, good, kind)  # the same file: the same batch, nothing new
    assert (again.status_code, again.json()) == (200, batch)

    if kind == "csv":  # the batch's claims go the single claim's way: coordinated (once is enough)
        world.coordinate()
        claims = [world.claim(c["claim_id"]) for c in batch["claims"]]
        assert {c["status"] for c in claims} == {"coordinated"} and len(claims[0]["lines"]) == 2


def test_a_changed_row_of_a_submitted_claim_is_refused_naming_the_claim_and_others_cannot_read(
    world: World,
) -> None:
    world.setup()
    rows = month_rows(world, claims=6)
    first = upload(world, as_csv(rows), "csv").json()
    assert first["status"] == "accepted"
    rows[2]["quantity"], rows[2]["billed_yuan"] = 3, "91.50"  # claim B001's line, changed
    changed = upload(world, as_csv(rows), "csv").json()
    assert changed["status"] == "rejected"
    [fault] = changed["faults"]
    assert (fault["row"], fault["column"], fault["kind"]) == (4, "claim_number", "changed")
    assert "P3301020001-202611-B001" in fault["en"] and "P3301020001-202611-B001" in fault["zh"]
    # by choice, the valid claims only: the five unchanged ones are the first receipts again
    valid = upload(world, as_csv(rows), "csv", query="?accept=valid").json()
    assert valid["status"] == "partial" and len(valid["claims"]) == 5
    assert not any(c["new"] for c in valid["claims"])

    other = world.key(Role.PROVIDER, "P-OTHER")
    assert world.get(f"{PATH}/{first['batch_id']}", other).status_code == 404
    assert world.get(f"{PATH}/{first['batch_id']}", world.bureau).status_code == 200
    # the faults quote the file's cells (an ID number could be one): sealed at rest, as every column
    rows[0]["member_id_number"] = "11010519491231002"
    assert upload(world, as_csv(rows), "csv").json()["faults"]
    found, _ = plain_personal_data(world.gateway.engine)
    assert found == []


def test_templates_read_back_and_bounds_are_413_and_422(world: World) -> None:
    world.setup()
    csv_template = world.get(f"{PATH}/template.csv", world.provider)
    assert csv_template.status_code == 200 and csv_template.content.startswith("\ufeff申报单号".encode())
    xlsx = world.get(f"{PATH}/template.xlsx", world.provider)
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    header, example = list(sheet.iter_rows(values_only=True))[:2]
    assert header[:3] == ("申报单号", "身份证号", "评估编号") and example[0] == "P3301020001-202611-0001"
    # the template's example row is a claim the gateway reads (its assessment id is made up)
    once = {**auth(world.provider), "Content-Type": XLSX, "Idempotency-Key": "template-1"}
    answer = world.client.post(PATH, content=xlsx.content, headers=once)
    assert [(f["column"], f["kind"]) for f in answer.json()["faults"]] == [("assessment_id", "assessment")]
    replayed = world.client.post(PATH, content=xlsx.content, headers=once)
    assert replayed.headers["idempotency-replayed"] == "true" and replayed.content == answer.content

    world.gateway.settings = replace(world.gateway.settings, max_batch_bytes=2000, max_batch_rows=5)
    too_big = upload(world, as_csv(month_rows(world, claims=20)), "csv")
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    world.gateway.settings = replace(world.gateway.settings, max_batch_bytes=8_000_000)
    too_many = upload(world, as_csv(month_rows(world, claims=6)), "csv")
    assert too_many.status_code == 413 and "rows" in too_many.json()["detail"]
    bad_header = upload(world, "申报单号,血型\r\nX,A\r\n".encode(), "csv")
    assert bad_header.status_code == 422
    assert "/rows/1/member_id_number" in [e["pointer"] for e in bad_header.json()["errors"]]
    bomb = upload(world, zip_bomb(), "xlsx")
    assert bomb.status_code == 413 and "zip bomb" in bomb.json()["detail"]
    multipart = world.client.post(
        PATH, files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")}, headers=auth(world.provider)
    )
    assert multipart.status_code == 422 and multipart.json()["errors"][0]["pointer"] == "/file"


def zip_bomb() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (10 * 1024 * 1024))
    return buffer.getvalue()


def test_a_large_file_is_processed_in_the_background_with_progress_and_resumed_by_the_same_file(
    world: World,
) -> None:
    world.setup()
    world.gateway.settings = replace(world.gateway.settings, batch_sync_rows=0)
    body = as_csv(month_rows(world, claims=4))
    started = upload(world, body, "csv")
    assert started.status_code == 202 and started.json()["status"] == "checking"
    batch = follow(world, started.headers["location"])
    assert batch["status"] == "accepted" and batch["progress"]["rows_submitted"] == 5
    # a batch whose worker died (no progress for minutes) is taken up again by the same file
    with world.gateway.sessions.begin() as session:
        row = session.get_one(ClaimBatchRow, uuid.UUID(batch["batch_id"]))
        row.status, row.updated_at, row.finished_at = "submitting", utcnow() - timedelta(minutes=5), None
    again = upload(world, body, "csv")
    assert again.status_code == 202 and again.headers["location"] == started.headers["location"]
    resumed = follow(world, started.headers["location"])
    assert resumed["status"] == "accepted" and not any(c["new"] for c in resumed["claims"])
    assert {c["claim_id"] for c in resumed["claims"]} == {c["claim_id"] for c in batch["claims"]}


def follow(world: World, location: str) -> dict[str, Any]:
    for _ in range(400):
        batch: dict[str, Any] = world.get(location, world.provider).json()
        if batch["finished_at"]:
            return batch
        time.sleep(0.05)  # waiting for the background thread, not measuring it
    raise AssertionError(f"the batch did not finish: {batch}")
