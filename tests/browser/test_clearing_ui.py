"""The clearing pages in Debian's chromium: a batch walked 申报 → 初审 → 复核 → 拨付 → 清算 by three
people, each page offering only the actions its state and the person's role allow; the payment
file downloaded. Screenshots go to tests/artifacts/clearing-*.png. (SQLite only: the lifecycle
itself is tested on both databases in tests/integration/test_clearing.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import openpyxl
import pytest

from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from gateway.storage.tables import SettlementItemRow
from ltc_gateway.app import create_app
from tests.browser.test_staff_ui import ARTIFACTS, Page, browser_page, sign_in  # noqa: F401 (a fixture)
from tests.conftest import DatabaseUnderTest
from tests.people import person

People = dict[str, tuple[str, str]]  # name → (username, password)


@pytest.fixture
def clearing(database: DatabaseUnderTest, gateway: Gateway) -> Iterator[tuple[str, People]]:
    if database.backend != "sqlite":
        pytest.skip("the browser walk runs once; the lifecycle is tested on both databases elsewhere")
    claim = uuid.uuid4()
    with gateway.sessions.begin() as session:
        for line_no, amount in ((1, 15_000), (2, -1_000)):
            at = datetime(2026, 11, 20, 2, tzinfo=UTC)
            session.add(
                SettlementItemRow(
                    payer_code="huiminbao",
                    claim_id=claim,
                    line_no=line_no,
                    amount_fen=amount,
                    source=f"adjustment:{line_no}",
                    created_at=at,
                )
            )
    keys = {
        "zhang": person(gateway, "zhang", "reconciler"),
        "li": person(gateway, "li", "approver"),
        "bureau": person(gateway, "bureau", "bureau_supervisor"),
    }
    server = BackgroundServer(create_app(gateway)).start()
    try:
        yield server.url, keys
    finally:
        server.stop()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"clearing-{name}.png"), full_page=True)


def act(page: Page, action: str, reference: str = "") -> None:
    if reference:
        page.fill("#payment-reference", reference)
    page.click(f"#submit-{action}")
    page.wait_for_selector(".message, .problem")
    assert page.locator(".problem").count() == 0, page.locator(".problem").inner_text()


def test_a_batch_is_walked_through_its_states_by_three_people(
    clearing: tuple[str, People],
    browser_page: Page,  # noqa: F811
    tmp_path: object,
) -> None:
    base, keys = clearing
    page = browser_page
    sign_in(page, base, keys["zhang"])
    page.click("text=结算批次")
    assert page.locator("#pending td").first.inner_text() == "huiminbao"
    page.fill("#declare-payer", "huiminbao")
    page.fill("#declare-period", "2026-11")
    page.click("#declare-submit")
    page.wait_for_selector("#steps")
    batch_url = page.url
    assert page.locator("#status").inner_text() == "申报" and page.locator("#net").inner_text() == "140.00"
    assert [f.get_attribute("id") for f in page.locator("#actions form").all()] == ["do-first_review"]
    shot(page, "1-declared")
    act(page, "first_review")
    assert page.locator("#status").inner_text() == "初审"
    assert page.locator("#no-actions").count() == 1  # zhang reviewed first: 复核 is not offered to zhang
    shot(page, "2-first-review")

    sign_in(page, base, keys["li"])
    page.goto(batch_url)
    act(page, "second_review")
    assert page.locator("#status").inner_text() == "复核" and page.locator("#frozen").count() == 1
    assert page.locator("#no-actions").count() == 1  # a reconciler does not disburse
    shot(page, "3-second-review")

    sign_in(page, base, keys["bureau"])
    page.goto(batch_url)
    act(page, "disburse", reference="ICBC-20261205-0042")
    assert page.locator("#reference").inner_text() == "ICBC-20261205-0042"
    with page.expect_download() as download:
        page.click("#payment-xlsx")
    saved = f"{tmp_path}/payment.xlsx"
    download.value.save_as(saved)
    rows = list(openpyxl.load_workbook(saved).active.iter_rows(values_only=True))
    assert rows[0][3] == "净额（元）" and rows[1][3] == 140.0 and rows[1][6] == "ICBC-20261205-0042"
    shot(page, "4-disbursed")

    sign_in(page, base, keys["zhang"])
    page.goto(batch_url + "?lang=en")
    act(page, "clear")
    assert page.locator("#status").inner_text() == "Cleared"
    assert [s.inner_text() for s in page.locator("#history tbody tr td:nth-child(3)").all()] == [
        "person:zhang",
        "person:zhang",
        "person:li",
        "person:bureau",
        "person:zhang",
    ]
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    shot(page, "5-cleared-phone")
