"""The batch-upload sheet, pure: rows grouped into claim documents by claim number, cells converted
(yuan to fen, the template's Chinese words to codes, Beijing time), a fault's pointer back to its
row and column, and every fault kind worded in both catalogues."""

from __future__ import annotations

from gateway.documents.translations import catalogue
from gateway.domain.claim_rows import RowFault, claims_of, header_keys
from gateway.services.batch_faults import KINDS, described, kind_of
from gateway.services.batch_files import XLSX

CLAIM = {
    "claim_number": "C-1",
    "member_id_number": "11010519491231002X",
    "assessment_id": "e0ac25ab-c224-4a5b-a9bb-17a35bf9ca04",
    "period_start": "2026/11/01",
    "period_end": "2026-11-30",
}
LINE = {
    "service_code": "HYG-BATH",
    "setting": "居家上门护理",
    "method": "按项目",
    "service_date": "2026-11-02",
}


def test_rows_group_by_claim_number_into_the_claim_document_with_amounts_in_fen() -> None:
    rows = [
        (
            2,
            {
                **CLAIM,
                **LINE,
                "line_no": "1",
                "quantity": "2",
                "unit_price_yuan": "30.5",
                "billed_yuan": "61",
            },
        ),
        (3, {**CLAIM, "claim_number": "C-2", **LINE, "line_no": "1", "quantity": "x"}),
        (
            4,
            {
                **CLAIM,
                **LINE,
                "line_no": "2",
                "quantity": "1",
                "unit_price_yuan": "0.01",
                "billed_yuan": "0.01",
                "caregiver_id": "CG1",
                "check_in": "2026-11-02 09:00",
                "check_out": "2026-11-02T10:00:00+08:00",
                "lat": "30.24",
                "lon": "120.16",
                "visit_method": "gps",
            },
        ),
    ]
    claims, faults = claims_of(rows)
    assert faults == [] and [c.claim_number for c in claims] == ["C-1", "C-2"]
    first = claims[0]
    assert first.rows == (2, 4) and first.document["period"] == {"start": "2026-11-01", "end": "2026-11-30"}
    one, two = first.document["lines"]
    assert (one["setting"], one["method"], one["unit_price_fen"], one["billed_fen"]) == (
        "home",
        "per_item",
        3050,
        6100,
    )
    assert two["visit"]["check_in"] == "2026-11-02T09:00:00+08:00" and two["visit"]["lat"] == 30.24
    assert "visit" not in one and claims[1].document["lines"][0]["quantity"] == "x"  # the schema names it
    assert first.locate("/lines/1/visit/check_in") == (4, "check_in")
    assert first.locate("/lines/0/unit_price_fen") == (2, "unit_price_yuan")
    assert first.locate("/period/end") == (2, "period_end") and first.locate("/lines/1") == (4, None)
    assert first.in_rows("line 1 and line 2 (/lines/1) bill …") == "line 1 and line 2 (row 4) bill …"


def test_what_no_schema_can_see_is_a_fault_of_the_sheet() -> None:
    rows = [
        (2, {**CLAIM, **LINE, "billed_yuan": "1.005"}),
        (3, {**CLAIM, **LINE, "period_end": "2026-11-29"}),
        (5, {**LINE}),
    ]
    _, faults = claims_of(rows)
    assert faults == [
        RowFault(5, "claim_number", "is required"),
        RowFault(3, "period_end", "differs from row 2 of claim C-1"),
        RowFault(2, "billed_yuan", "'1.005' is not an amount in yuan (2 decimals at most)"),
    ]
    keys, header_faults = header_keys(["申报单号", "身份证号", "blood type", "服务代码", "单价（元）"])
    assert keys[:2] == ["claim_number", "member_id_number"] and keys[4] == "unit_price_yuan"
    assert header_faults[0] == RowFault(1, None, "column 3 ('blood type') is not a column of the template")
    assert RowFault(1, "assessment_id", "the column 评估编号 (assessment_id) is missing") in header_faults


def test_every_fault_kind_is_worded_in_chinese_and_english() -> None:
    for _, kind in [*KINDS, (None, "other")]:
        assert f"batch.fault.{kind}" in catalogue("zh") and f"batch.fault.{kind}" in catalogue("en"), kind
    assert kind_of("'x' is not of type 'integer'") == "integer"
    changed = "claim number C-1 was already submitted with a different body (claim 2a68cebc)"
    shown = described(RowFault(2, "claim_number", changed), "C-1")
    assert shown["header"] == "申报单号" and "C-1" in shown["zh"] and shown["en"] == changed


def test_a_multipart_form_gives_its_file_field_byte_for_byte() -> None:
    import os

    import httpx

    from gateway.api.claim_batches import file_of

    blob = os.urandom(20000) + b"\r\n--\r\n\n\r"  # binary, with what looks like a boundary's start
    form = httpx.Request("POST", "http://gateway/", files={"file": ("m.xlsx", blob, XLSX)}, data={"a": "1"})
    assert file_of(form.headers["content-type"], form.read()) == (XLSX, blob)
    assert file_of("text/csv; charset=utf-8", b"a,b") == ("text/csv", b"a,b")
