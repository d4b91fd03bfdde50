"""The coordinated statement (结算单) of a claim as HTML and PDF, and a provider's monthly 对账单
as XLSX and CSV, through the API on both databases: the worked example coordinated by the real
sandbox payers, the PDF read back with poppler's pdftotext and page 1 rendered for tests/artifacts/."""

from __future__ import annotations

import csv
import dataclasses
import io
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from gateway.coordination.reasons import Reason
from gateway.documents.html import render_page
from gateway.documents.settlement_statement import Names, build
from gateway.documents.translations import LANGUAGES, Translator, catalogue, negotiate
from gateway.domain.identity import mask_id_number
from gateway.services.keys import Role
from ltc_sandbox.payer_set import SandboxPayers
from tests.integration.test_payers import drain
from tests.integration.world import World, auth

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ID_NUMBER = "11010519491231002X"
MASKED = mask_id_number(ID_NUMBER)
MONTH = "/v1/providers/P3301020001/monthly-statements/2026-11"


def coordinated(world: World) -> str:
    world.setup()
    claim_id: str = world.submit().json()["claim_id"]
    drain(world)
    assert world.claim(claim_id)["status"] == "coordinated"
    return claim_id


def fetch(world: World, path: str, key: str, **headers: str) -> Any:
    return world.client.get(path, headers={**auth(key), **headers})


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text as poppler reads it (Debian's poppler-utils; .ci/run installs it)."""
    source = tmp_path / "statement.pdf"
    source.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_every_reason_code_has_words_in_every_language() -> None:
    codes = {r.value for r in Reason} | {"DUPLICATE_SERVICE"}
    for lang in LANGUAGES:
        missing = {c for c in codes if not catalogue(lang).get(f"reason.{c}")}
        assert missing == set(), lang
    assert set(catalogue("zh")) == set(catalogue("en"))  # no message translated in one language only
    assert catalogue("zh")["reason.OVER_UNIT_LIMIT"] == "超出单价限额"
    assert catalogue("zh")["reason.DUPLICATE_SERVICE"] == "重复服务"


def test_the_pdf_statement_shows_each_tier_the_reasons_in_chinese_and_the_masked_id(
    world: World, sandboxes: SandboxPayers, tmp_path: Path
) -> None:
    claim_id = coordinated(world)
    response = fetch(world, f"/v1/claims/{claim_id}/statement.pdf", world.provider)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content, tmp_path)
    for figure in ("4,500.00", "2,100.00", "1,200.00", "2,000.00"):
        assert figure in text, figure
    assert text.count("1,200.00") >= 2  # 惠民保 and the commercial indemnity policy
    member_line = next(line for line in text.splitlines() if "个人负担合计" in line)
    assert member_line.split()[-1] == "0.00"
    for words in ("超出单价限额", "自付比例", "月度限额", "前序支付方已支付", "结算单", "定额给付"):
        assert words in text, words
    assert "1,500.00" in text and "900.00" in text  # OVER_UNIT_LIMIT and COINSURANCE of tier 1
    assert MASKED in text and ID_NUMBER not in text
    assert "王**" in text and "王秀英" not in text  # the name masked too
    assert "OVER_UNIT_LIMIT" not in text  # words, not codes
    # page 1 as a picture, for people to look at
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = ARTIFACTS / f"statement-{world.gateway.engine.dialect.name}"
    prefix.with_suffix(".pdf").write_bytes(response.content)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(prefix.with_suffix(".pdf")),
            str(prefix),
        ],
        check=True,
    )
    assert prefix.with_suffix(".png").stat().st_size > 10_000


def test_accept_application_pdf_on_the_claim_gives_the_statement_in_english_on_request(
    world: World, sandboxes: SandboxPayers, tmp_path: Path
) -> None:
    claim_id = coordinated(world)
    response = fetch(
        world,
        f"/v1/claims/{claim_id}",
        world.provider,
        accept="application/pdf",
        **{"accept-language": "en-GB,en;q=0.9"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content, tmp_path)
    assert "Settlement statement" in text or "settlement statement" in text
    assert "Above the unit price limit" in text and "Monthly limit" in text
    assert "超出单价限额" not in text
    # JSON stays the answer for everyone else
    assert (
        fetch(world, f"/v1/claims/{claim_id}", world.provider).headers["content-type"] == "application/json"
    )


def test_the_html_statement_is_self_contained_and_shows_the_same_figures(
    world: World, sandboxes: SandboxPayers
) -> None:
    claim_id = coordinated(world)
    response = fetch(world, f"/v1/claims/{claim_id}/statement.html", world.provider)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for figure in ("4,500.00", "2,100.00", "1,200.00", "2,000.00", "1,500.00", "900.00"):
        assert figure in html, figure
    for words in ("超出单价限额", "自付比例", "月度限额", "前序支付方已支付", "个人负担合计"):
        assert words in html, words
    assert MASKED in html and ID_NUMBER not in html and "王秀英" not in html
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"statement-{world.gateway.engine.dialect.name}.html").write_text(html, encoding="utf-8")
    assert "<link" not in html and "<script" not in html and "<style>" in html  # nothing fetched
    assert "style-src 'sha256-" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "private, no-store"
    english = fetch(world, f"/v1/claims/{claim_id}/statement.html?lang=en", world.provider).text
    assert "Already paid by an earlier payer" in english and "前序支付方已支付" not in english
    via_accept = fetch(world, f"/v1/claims/{claim_id}", world.provider, accept="text/html")
    assert via_accept.headers["content-type"].startswith("text/html") and "2,100.00" in via_accept.text


def test_a_payer_sees_only_its_share_on_the_statement(world: World, sandboxes: SandboxPayers) -> None:
    claim_id = coordinated(world)
    response = fetch(world, f"/v1/claims/{claim_id}/statement.html", world.payer("huiminbao"))
    assert response.status_code == 200, response.text
    html = response.text
    assert "1,200.00" in html and "惠民保" in html
    # the other payers' decisions are not the 惠民保 insurer's business (what they paid before it
    # is: its own PRIOR_PAYER_PAID reason says 2,100.00)
    assert "政策性长期护理保险" not in html and "第一层" not in html and "ACME" not in html
    assert "个人负担合计" not in html
    assert "本结算单仅列示贵方承担部分" in html
    assert MASKED in html and ID_NUMBER not in html


def test_another_provider_gets_404_and_an_unlisted_role_403(world: World, sandboxes: SandboxPayers) -> None:
    claim_id = coordinated(world)
    other = world.key(Role.PROVIDER, "P9999999999")
    for path in (f"/v1/claims/{claim_id}/statement.pdf", f"/v1/claims/{claim_id}/statement.html"):
        answer = fetch(world, path, other)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
    assert fetch(world, f"/v1/claims/{claim_id}", other, accept="application/pdf").status_code == 404
    assert fetch(world, "/v1/claims/not-a-uuid/statement.pdf", world.provider).status_code == 404
    admin = world.key(Role.ADMIN, "ops")
    assert fetch(world, f"/v1/claims/{claim_id}/statement.pdf", admin).status_code == 403


def test_a_missing_font_is_a_503_problem_and_the_html_still_works(
    world: World, sandboxes: SandboxPayers, tmp_path: Path
) -> None:
    claim_id = coordinated(world)
    gateway = world.gateway
    gateway.settings = dataclasses.replace(gateway.settings, statement_font=str(tmp_path / "none.ttc"))
    answer = fetch(world, f"/v1/claims/{claim_id}/statement.pdf", world.provider)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "none.ttc" in answer.json()["detail"]
    assert fetch(world, f"/v1/claims/{claim_id}/statement.html", world.provider).status_code == 200


def test_the_statement_lists_adjustments_after_a_revision(world: World, sandboxes: SandboxPayers) -> None:
    claim_id = coordinated(world)
    revision = {
        "claim_id": claim_id,
        "product_code": "CITY-LTCI-2025",
        "status": "decided",
        "cause": "audit: 2 bed-days not delivered",
        "lines": [
            {
                "line_no": 1,
                "paid_fen": 180000,
                "reasons": [
                    {"code": "OVER_UNIT_LIMIT", "amount_fen": 150000},
                    {"code": "COINSURANCE", "amount_fen": 120000},
                ],
            }
        ],
    }
    answer = world.post("/v1/payers/ltc-admin-east/decisions", revision, world.payer("ltc-admin-east"))
    assert answer.json()["outcome"] == "revised", answer.text
    drain(world)
    html = fetch(world, f"/v1/claims/{claim_id}/statement.html", world.provider).text
    assert "重新协调后的调整" in html
    assert "-300.00" in html and "150.00" in html  # tier 1's recovery, the later tiers' top-ups
    assert "追回" in html and "补付" in html and "audit: 2 bed-days not delivered" in html


def test_the_monthly_xlsx_has_chinese_headers_yuan_formats_dates_frozen_header_filter_and_totals(
    world: World, sandboxes: SandboxPayers, tmp_path: Path
) -> None:
    coordinated(world)
    world.submit(world.claim_body(claim_number="P3301020001-202611-0002"))
    drain(world)
    response = fetch(world, f"{MONTH}.xlsx", world.provider)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert sheet is not None
    headers = [c.value for c in sheet[1]]
    assert headers[:5] == ["结算单号", "服务开始日期", "服务结束日期", "参保人身份证号", "费用金额（元）"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")
    first = [c.value for c in sheet[2]]
    assert first[0] == "P3301020001-202611-0001"
    assert isinstance(first[1], datetime) and first[1].date().isoformat() == "2026-11-01"
    assert sheet.cell(2, 2).is_date
    assert first[3] == MASKED
    assert first[4:9] == [4500, 2100, 1200, 1200, 0]  # billed, tiers 1–3, the member, in yuan
    assert sheet.cell(2, 5).number_format == "#,##0.00"
    assert first[9] == "已协调"
    totals_row = sheet.max_row
    assert sheet.cell(totals_row, 1).value == "合计"
    assert str(sheet.cell(totals_row, 5).value).startswith("=SUBTOTAL(109,E2:E")
    cached = openpyxl.load_workbook(io.BytesIO(response.content), data_only=True).active
    assert cached is not None
    for column in range(5, 10):
        values = [cached.cell(r, column).value or 0 for r in range(2, totals_row)]
        assert cached.cell(totals_row, column).value == pytest.approx(sum(values))
    assert cached.cell(totals_row, 5).value == 9000  # the two claims' 4,500.00
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"monthly-{world.gateway.engine.dialect.name}.xlsx").write_bytes(response.content)
    english = openpyxl.load_workbook(
        io.BytesIO(fetch(world, f"{MONTH}.xlsx?lang=en", world.provider).content)
    )
    assert english.active is not None and english.active.cell(1, 1).value == "Claim number"


def test_the_monthly_csv_is_utf8_with_a_bom_and_yuan_with_two_decimals(
    world: World, sandboxes: SandboxPayers
) -> None:
    coordinated(world)
    response = fetch(world, f"{MONTH}.csv", world.provider)
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "结算单号" and rows[0][3] == "参保人身份证号"
    assert rows[1][:9] == [
        "P3301020001-202611-0001",
        "2026-11-01",
        "2026-11-30",
        MASKED,
        "4500.00",
        "2100.00",
        "1200.00",
        "1200.00",
        "0.00",
    ]
    assert ID_NUMBER.encode() not in response.content
    assert len(rows) == 2


def test_the_monthly_statement_is_the_providers_own_or_the_bureaus(
    world: World, sandboxes: SandboxPayers
) -> None:
    coordinated(world)
    other = world.key(Role.PROVIDER, "P9999999999")
    assert fetch(world, f"{MONTH}.csv", other).status_code == 404
    assert fetch(world, f"{MONTH}.csv", world.payer("huiminbao")).status_code == 403
    bureau = fetch(world, f"{MONTH}.csv", world.bureau)
    assert bureau.status_code == 200 and "P3301020001-202611-0001" in bureau.text
    # one payer's claims: every claim of the example went to the 惠民保 insurer, none to the west
    assert "P3301020001-202611-0001" in fetch(world, f"{MONTH}.csv?payer=huiminbao", world.provider).text
    west = fetch(world, f"{MONTH}.csv?payer=ltc-admin-west", world.provider)
    assert len(list(csv.reader(io.StringIO(west.content.decode("utf-8-sig"))))) == 1
    # another month has no claims; a bad month or payer is named
    empty = fetch(world, "/v1/providers/P3301020001/monthly-statements/2026-10.xlsx", world.provider)
    assert empty.status_code == 200
    bad = fetch(world, "/v1/providers/P3301020001/monthly-statements/2026-13.csv", world.provider)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/month"
    unknown = fetch(world, f"{MONTH}.csv?payer=nobody", world.provider)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/payer"


def test_the_openapi_description_lists_the_documents_and_their_media(world: World) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    pdf = paths["/v1/claims/{claim_id}/statement.pdf"]["get"]
    assert set(pdf["responses"]["200"]["content"]) == {"application/pdf"}
    assert [p["name"] for p in pdf["parameters"]] == ["claim_id", "lang"]
    claim = paths["/v1/claims/{claim_id}"]["get"]["responses"]["200"]["content"]
    assert set(claim) == {"application/json", "application/pdf", "text/html"}
    xlsx = paths["/v1/providers/{provider_code}/monthly-statements/{month}.xlsx"]["get"]
    assert (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        in xlsx["responses"]["200"]["content"]
    )
    assert {p["name"] for p in xlsx["parameters"]} == {"provider_code", "month", "lang", "payer"}
    assert "/v1/providers/{provider_code}/monthly-statements/{month}.csv" in paths


def test_the_language_is_the_query_then_accept_language_then_chinese() -> None:
    assert negotiate("en", "zh-CN") == "en"
    assert negotiate(None, "fr-FR, en-US;q=0.8, zh;q=0.5") == "en"
    assert negotiate(None, "en;q=0.2, zh-CN;q=0.9") == "zh"
    assert negotiate("xx", "de") == negotiate(None, None) == "zh"
    assert negotiate(None, "en;q=bad") == "zh"


def test_a_statement_before_coordination_says_the_member_share_is_open() -> None:
    view: dict[str, Any] = {
        "claim_id": "00000000-0000-0000-0000-000000000001",
        "claim_number": "C-1",
        "provider_code": "P1",
        "member_id_number": ID_NUMBER,
        "period": {"start": "2026-11-01", "end": "2026-11-30"},
        "status": "coordinating",
        "round": 1,
        "billed_fen": 10000,
        "payers": [{"tier": 1, "payer_code": "fund", "product_code": "T1", "status": "decided"}],
        "lines": [
            {
                "line_no": 1,
                "service_code": "NEW-SERVICE",
                "service_date": "2026-11-03",
                "service_end_date": None,
                "quantity": 1,
                "unit_price_fen": 10000,
                "billed_fen": 10000,
                "payments": [
                    {
                        "payer_code": "fund",
                        "product_code": "T1",
                        "paid_fen": 7000,
                        "reasons": [
                            {"code": "COINSURANCE", "amount_fen": 3000},
                            {"code": "A_NEWER_CODE", "amount_fen": 0},
                        ],
                    }
                ],
                "member_responsibility_fen": None,
            }
        ],
        "member_responsibility_fen": None,
        "fixed_benefits": [],
        "adjustments": [],
        "received_at": "2026-12-01T02:00:00+00:00",
        "coordinated_at": None,
    }
    statement = build(view, Names(), Translator("zh"), datetime(2026, 12, 1, 16, 30, tzinfo=UTC))
    assert not statement.final and statement.member_pays is None
    assert statement.member_id_number == MASKED
    assert statement.received_at == "2026-12-01 10:00" and statement.printed_at == "2026-12-02 00:30"
    assert [u.reason for u in statement.lines[0].payments[0].unpaid] == ["自付比例"]  # a zero is no reason
    assert statement.lines[0].service == "NEW-SERVICE"
    html = render_page(statement)
    assert "尚未协调完成，个人负担待定" in html and "个人负担合计" not in html
    assert Translator("en").reason("A_NEWER_CODE") == "A_NEWER_CODE"  # unknown: shown as its code
