"""The provider portal in Debian's chromium: a provider signs in with its own key, uploads a month of
50 claims with 3 faulty rows, reads the faults by row, fixes the file and uploads it again, sees the
claims coordinated, opens a statement, downloads its PDF and the month's 对账单, voids one claim and
replaces another with a corrected sheet, and adds a webhook (its secret shown once). In Chinese, in
English and at phone width (no horizontal scroll). Screenshots go to tests/artifacts/portal-*.png.
(SQLite only: the scoping is tested on both databases in tests/integration/test_portal.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import openpyxl
import pytest
from starlette.testclient import TestClient

from examples import example_products
from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from gateway.domain.products import Product
from gateway.reference.registry import onboard
from ltc_gateway.app import create_app
from ltc_sandbox.payer_set import SandboxPayers
from tests.browser.test_staff_ui import ARTIFACTS, Page, browser_page  # noqa: F401 (a fixture)
from tests.conftest import DatabaseUnderTest
from tests.integration.test_claim_batches import as_csv, break_three, month_rows
from tests.integration.test_payers import drain
from tests.integration.world import World


@pytest.fixture
def portal(database: DatabaseUnderTest, gateway: Gateway) -> Iterator[tuple[str, World]]:
    if database.backend != "sqlite":
        pytest.skip("the browser walk runs once; scoping is tested on both databases elsewhere")
    payers = SandboxPayers([Product.model_validate(p) for p in example_products()]).start()
    with TestClient(create_app(gateway, embedded_workers=0)) as client:
        world = World(gateway, client)
        with gateway.sessions.begin() as session:  # the payers on loopback, as in production
            onboard(session, payers.payer_documents(), example_products())
        world.setup()
        server = BackgroundServer(create_app(gateway)).start()
        try:
            yield server.url, world
        finally:
            server.stop()
            payers.stop()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


def upload(page: Page, base: str, name: str, body: bytes) -> None:
    page.goto(f"{base}/portal/batches")
    page.set_input_files("#file", {"name": name, "mimeType": "text/csv", "buffer": body})
    page.click("#upload-submit")
    page.wait_for_selector("#batch-status")


def coordinate(world: World) -> None:
    """The fan-out, drained on a thread of its own (Playwright's loop runs on this one)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(drain, world).result()


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_providers_day_in_the_portal(
    portal: tuple[str, World],
    browser_page: Page,  # noqa: F811
    tmp_path: object,
) -> None:
    base, world = portal
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{base}/portal/")
    assert page.url.endswith("/portal/login")
    page.fill("input[name=key]", world.bureau)  # a staff key does not open the portal
    page.click("button[type=submit]")
    assert page.locator(".problem").count() == 1
    page.fill("input[name=key]", world.provider)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    assert page.locator("#no-claims").count() == 1

    rows = month_rows(world)
    bed_days = next(r for r in rows if r["claim_number"].endswith("B001"))  # the worked example's line
    bed_days.update(service_code="INST-BED-DAY", setting="机构护理", method="per_diem", quantity=30)
    bed_days.update(service_end_date=date(2026, 11, 30), unit_price_yuan="150.00", billed_yuan="4500.00")
    bed_days["service_date"] = date(2026, 11, 1)
    faulty = [dict(r) for r in rows]
    expected = break_three(faulty)
    upload(page, base, "2026-11.csv", as_csv(faulty))
    assert page.locator("#batch-status").get_attribute("data-status") == "rejected"
    faults = page.locator("#faults tbody tr")
    assert sorted(int(r.get_attribute("data-row") or 0) for r in faults.all()) == sorted(expected)
    assert "应为整数" in page.locator("#faults").inner_text()  # the fault in Chinese
    shot(page, "1-faults")
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_sideways_scroll(page)
    shot(page, "1-faults-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    upload(page, base, "2026-11-fixed.csv", as_csv(rows))
    assert page.locator("#batch-status").get_attribute("data-status") == "accepted"
    assert page.locator("#claims-total").inner_text() == "50 / 50"
    coordinate(world)
    page.goto(f"{base}/portal/?status=coordinated")
    assert page.locator("#claims tbody tr[data-status=coordinated]").count() == 50
    shot(page, "2-claims")

    page.fill("input[name=claim_number]", "P3301020001-202611-B001")
    page.click("#filters button")
    page.click("#claims a")
    assert page.locator("#status").inner_text() == "已结算"
    assert page.locator("#billed").inner_text() == "4,500.00"
    claim_url = page.url
    page.click("#statement")
    assert "P3301020001-202611-B001" in page.locator("article.ltc-statement").inner_text()
    assert page.locator("#statement-pdf").get_attribute("href", timeout=1000).startswith("/portal/")
    shot(page, "3-statement")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "3-statement-phone")
    assert no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(claim_url + "?lang=zh")
    with page.expect_download() as pdf:
        page.click("#statement-pdf")
    assert pdf.value.suggested_filename == "statement-P3301020001-202611-B001.pdf"
    saved = f"{tmp_path}/statement.pdf"
    pdf.value.save_as(saved)
    with open(saved, "rb") as file:
        assert file.read(5) == b"%PDF-"

    page.goto(f"{base}/portal/")
    page.fill("#monthly input[name=month]", "2026-11")
    with page.expect_download() as sheet:
        page.click("#monthly-xlsx")
    saved = f"{tmp_path}/monthly.xlsx"
    sheet.value.save_as(saved)
    records = list(openpyxl.load_workbook(saved).active.iter_rows(values_only=True))
    assert sum(1 for r in records if r and "P3301020001-202611-B" in str(r[0:3])) >= 50

    # void one claim, then replace another of the same month: the void may move the month's fixed
    # benefit to another claim, and the payer, told so by the void notice, does not grant it again
    page.goto(claim_url + "?lang=zh")
    page.fill("#void-reason-input", "服务对象不符")
    page.click("#void-submit")
    page.wait_for_selector(".message")
    assert page.locator("#status").inner_text() == "已作废"
    assert page.locator("#void, #replace").count() == 0  # a voided claim offers no correction
    shot(page, "4-voided")

    page.goto(f"{base}/portal/?claim_number=P3301020001-202611-B002")
    page.click("#claims a")
    corrected = [dict(r) for r in rows if r["claim_number"] == "P3301020001-202611-B002"]
    corrected[0].update(quantity=1, billed_yuan="30.50")
    wrong = [dict(corrected[0], billed_yuan="99.00")]
    page.set_input_files("#replace-file", {"name": "B.csv", "mimeType": "text/csv", "buffer": as_csv(wrong)})
    page.click("#replace-submit")
    assert "金额" in page.locator("#replace-faults").inner_text()  # the faulty row named, nothing changed
    page.set_input_files(
        "#replace-file", {"name": "B002.csv", "mimeType": "text/csv", "buffer": as_csv(corrected)}
    )
    page.click("#replace-submit")
    page.wait_for_selector(".message")
    assert page.locator(".problem").count() == 0
    coordinate(world)
    page.reload()
    replaced = world.claim(page.url.rsplit("/", 1)[1])
    assert page.locator("#status").inner_text() == "已结算", [p.get("error") for p in replaced["payers"]]
    assert page.locator("#billed").inner_text() == "30.50"
    shot(page, "5-replaced")
    page.goto(page.url + "?lang=en")
    assert page.locator("#status").inner_text() == "Coordinated"
    shot(page, "5-replaced-en")

    page.click("#nav-webhooks")
    page.fill("#webhook-url", "https://8.8.8.8/ltc-events")
    page.click("#add-submit")
    assert page.locator("#secret").inner_text().startswith("whsec_")
    page.goto(f"{base}/portal/webhooks")  # the secret was on the answer page only
    assert page.locator("#secret").count() == 0 and page.locator("#hooks tbody tr").count() == 1

    page.goto(f"{base}/portal/?lang=zh&limit=10")  # a page of ten, and the next
    first = page.locator("#claims tbody tr a").all_inner_texts()
    page.click("#next")
    second = page.locator("#claims tbody tr a").all_inner_texts()
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_sideways_scroll(page)
    shot(page, "6-claims-phone")
    assert violations == []
