"""A settlement batch's payment file: one row per payee with the net, the reference; a claim-level
item (a fixed benefit, paid to the person) is the member's, named by the claim number only."""

from __future__ import annotations

import io

import openpyxl

from reconciliation.batch_files import export, payment_rows


def item(provider: str, line_no: int, amount_fen: int, claim_number: str = "C-1") -> dict[str, object]:
    return {
        "claim_id": "8bcbc4b4-f7a0-4246-bf27-b2469dfdf547",
        "claim_number": claim_number,
        "provider_code": provider,
        "line_no": line_no,
        "amount_fen": amount_fen,
        "source": "adjustment:1",
        "business_date": "2026-11-20",
    }


BATCH = {
    "batch_id": 7,
    "payer_code": "acme-life",
    "period": "2026-11",
    "status": "disbursed",
    "item_count": 4,
    "net_fen": 14_000 - 2_500 + 200_000,
    "payment_reference": "ICBC-1",
    "items": [
        item("P1", 1, 15_000),
        item("P1", 2, -1_000),
        item("P2", 1, -2_500),
        item("P1", 0, 200_000, claim_number="C-9"),
    ],
}


def test_one_row_per_payee_with_the_net_and_the_reference() -> None:
    assert payment_rows(BATCH) == [
        ("参保人", "理赔 C-9", 1, 200_000, "acme-life", "2026-11", "ICBC-1"),
        ("护理机构", "P1", 2, 14_000, "acme-life", "2026-11", "ICBC-1"),
        ("护理机构", "P2", 1, -2_500, "acme-life", "2026-11", "ICBC-1"),
    ]


def test_the_payment_file_as_xlsx_and_csv() -> None:
    content, media, name = export(BATCH, "payment", "xlsx")
    assert name == "settlement-batch-7-acme-life-2026-11-payment.xlsx" and media.endswith("sheet")
    book = openpyxl.load_workbook(io.BytesIO(content))
    rows = list(book["拨付文件"].iter_rows(values_only=True))
    assert rows[3][3] == -25.0 and rows[-1][0] == "合计" and rows[-1][3] == "=SUBTOTAL(109,D2:D4)"
    assert dict(book["批次信息"].iter_rows(values_only=True))["净额（元）"] == 2115.0
    text, _, _ = export(BATCH, "payment", "csv")
    assert text.decode("utf-8-sig").splitlines()[3] == "护理机构,P2,1,-25.00,acme-life,2026-11,ICBC-1"
