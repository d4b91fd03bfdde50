"""Two reconcilers at a large queue, in Debian's chromium (issue 22's walk): they page through it,
search by claim number, write off a selection in bulk (what is above the four-eyes threshold waits
for the other person), approve each other's write-offs, and export the rest; in Chinese, in
English and at a phone's width. Screenshots go to tests/artifacts/queue-*.png."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from gateway.storage.tables import MismatchRow
from ltc_gateway.app import create_app
from ltc_sandbox.generator import Night, generate_night
from reconciliation.api import reconciliation_for
from tests.browser import test_staff_ui
from tests.browser.test_staff_ui import ARTIFACTS, sign_in
from tests.integration.test_work_queue import plant
from tests.people import person

browser_page = test_staff_ui.browser_page  # the same chromium page, as a fixture here too
PLANTED = 130  # more than two pages of 50


@pytest.fixture
def large_queue(gateway: Gateway) -> Iterator[tuple[str, Night, dict[str, tuple[str, str]]]]:
    night = generate_night(gateway, claims_per_kind=1, matched_claims=1)
    reconciliation_for(gateway).run(night.business_date)
    plant(gateway, PLANTED, day=night.business_date)  # 0.01-50.00 yuan differences
    plant(gateway, 2, base=300_000, day=night.business_date)  # about 3,000 yuan: above the threshold
    people = {who: person(gateway, who, "reconciler", "approver") for who in ("zhang", "li")}
    server = BackgroundServer(create_app(gateway, embedded_workers=0)).start()
    try:
        yield server.url, night, people
    finally:
        server.stop()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"queue-{name}.png"), full_page=True)


def ids_on(page: Page) -> list[int]:
    return [int(i) for i in page.locator("#queue tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")]


def bulk(page: Page, ids: list[int], action: str, note: str) -> str:
    for mismatch_id in ids:
        page.check(f"#queue tr[data-id='{mismatch_id}'] input.pick")
    page.select_option("#bulk-action-select", action)
    page.fill("#bulk-note", note)
    page.click("#bulk-submit")
    page.wait_for_selector(".message, .problem")
    return page.locator(".message, .problem").first.inner_text()


def test_two_reconcilers_page_search_resolve_in_bulk_approve_each_other_and_export(
    large_queue: tuple[str, Night, dict[str, tuple[str, str]]], gateway: Gateway, browser_page: Page
) -> None:
    base, _, people = large_queue
    page = browser_page
    with gateway.sessions.begin() as session:
        open_items = session.scalar(select(MismatchRow.id).where(MismatchRow.status == "open").limit(1))
        total = len(session.scalars(select(MismatchRow.id).where(MismatchRow.status == "open")).all())
    assert open_items is not None and total > PLANTED

    sign_in(page, base, people["zhang"])
    page.goto(f"{base}/ui/queue")
    assert f"{total:,}" in page.locator("#totals").inner_text()
    first = ids_on(page)
    assert len(first) == 50
    shot(page, "first-page-zh")
    # the next page by its cursor, then the one after, then back: no row twice, none skipped
    page.click("#next-page")
    second = ids_on(page)
    page.click("#next-page")
    third = ids_on(page)
    assert len(second) == 50 and not set(first) & set(second) and not set(second) & set(third)
    page.click("#previous-page")
    assert ids_on(page) == second
    # sorted by difference, largest first: the two above the threshold lead
    page.goto(f"{base}/ui/queue?payer=planted")
    page.click("a.sort[data-sort=difference]")
    page.click("a.sort[data-sort=difference]")
    differences = page.locator("#queue tbody td.num:nth-child(10)").all_inner_texts()
    assert differences[:2] and all(float(d.replace(",", "")) > 2_000 for d in differences[:2])
    largest = ids_on(page)[:2]

    # search by the claim number of one of the night's mismatches
    with gateway.sessions.begin() as session:
        claim_numbers = dict(
            session.execute(
                select(MismatchRow.id, MismatchRow.claim_id).where(MismatchRow.payer_code != "planted")
            ).all()
        )
    page.goto(f"{base}/ui/queue")
    number = page.locator(f"#queue tr[data-id='{next(iter(claim_numbers))}'] td").nth(4).inner_text()
    page.fill("#claim-number", number)
    page.click("#search")
    found = page.locator("#queue tbody tr td:nth-child(5)").all_inner_texts()
    assert found and set(found) == {number}
    shot(page, "searched-zh")

    # zhang writes off three small ones and the two large ones in one go: the small are done,
    # the large wait for a second person
    page.goto(f"{base}/ui/queue?payer=planted&sort=-difference")
    small = ids_on(page)[-3:]
    said = bulk(page, [*largest, *small], "write_off", "批量核销小额差异")
    assert "5 条成功，0 条未处理" in said and "；其中 2 条金额超过限额" in said, said
    shot(page, "bulk-done-zh")
    with gateway.sessions.begin() as session:
        status = dict(
            session.execute(
                select(MismatchRow.id, MismatchRow.status).where(MismatchRow.id.in_([*largest, *small]))
            ).all()
        )
    assert [status[i] for i in small] == ["resolved"] * 3
    assert [status[i] for i in largest] == ["pending_approval"] * 2

    # zhang may not approve his own; li approves them, in bulk
    page.goto(f"{base}/ui/queue?status=pending_approval")
    assert sorted(ids_on(page)) == sorted(largest)
    refused = bulk(page, largest, "approve", "自己复核")
    assert "另一名对账员" in refused, refused
    sign_in(page, base, people["li"])
    page.goto(f"{base}/ui/queue?status=pending_approval")
    approved = bulk(page, largest, "approve", "已核对退款凭证")
    assert "2 条成功，0 条未处理" in approved, approved
    with gateway.sessions.begin() as session:
        assert set(session.scalars(select(MismatchRow.status).where(MismatchRow.id.in_(largest))).all()) == {
            "resolved"
        }

    # in English, exported: every open row and the totals, read back by openpyxl
    page.goto(f"{base}/ui/queue")
    page.click("#language")
    assert page.locator("h1").inner_text().startswith("Work queue")
    shot(page, "english")
    with page.expect_download() as xlsx_download:
        page.click("#export-xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "No." and len(rows) == 1 + (total - 5) + 1  # header, open items, totals

    # at a phone's width nothing runs off the side of the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/ui/queue")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "phone")
