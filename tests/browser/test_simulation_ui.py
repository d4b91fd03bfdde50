"""The bureau's simulation page in Debian's chromium at phone width: "tier 1 at 75 % instead of
70 %, and grade 2 included" on a small generated city, started from the form, followed while it
runs (the page refreshes itself), then the report's chart and tables, in Chinese and English.
Screenshots go to tests/artifacts/. The page's own database work is the API's (tested on both
databases there); the browser runs once, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, sync_playwright

from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from ltc_gateway.app import create_app
from tests.browser.test_staff_ui import ARGS, ARTIFACTS, CHROMIUM, sign_in  # skips without chromium
from tests.people import person

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def bureau_server(gateway: Gateway) -> Iterator[tuple[str, tuple[str, str], tuple[str, str]]]:
    if not gateway.settings.database_url.startswith("sqlite"):
        pytest.skip("the browser runs once, on SQLite (the API's simulation tests cover PostgreSQL)")
    bureau = person(gateway, "bureau", "bureau_supervisor")
    reconciler = person(gateway, "zhang", "reconciler")
    server = BackgroundServer(create_app(gateway)).start()
    try:
        yield server.url, bureau, reconciler
    finally:
        server.stop()


def test_the_bureau_tries_a_draft_on_a_generated_city_and_sees_the_chart_at_phone_width(
    bureau_server: tuple[str, tuple[str, str], tuple[str, str]],
) -> None:
    base, bureau, reconciler = bureau_server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(accept_downloads=True, viewport=PHONE)
        page = context.new_page()
        page.set_default_timeout(15000)
        violations: list[str] = []

        def watch(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                violations.append(message.text)

        page.on("console", watch)
        try:
            sign_in(page, base, reconciler)  # a reconciler: not theirs to run
            assert page.goto(f"{base}/ui/simulations").status == 403
            sign_in(page, base, bureau)
            page.goto(f"{base}/ui/simulations")
            assert "政策测算" in page.inner_text("h1")
            # an error keeps what was typed
            page.fill("input[name=generated_members]", "4")
            page.fill("input[name=ratio_percent]", "七十五")
            page.fill("input[name=min_grade]", "2")
            page.click("#start-simulation")
            assert "ratio_percent" in page.inner_text(".problem")
            assert page.input_value("input[name=min_grade]") == "2"
            assert page.input_value("input[name=generated_members]") == "4"
            page.fill("input[name=ratio_percent]", "75")
            page.fill("input[name=fund_balance_yuan]", "100000")
            page.click("#start-simulation")
            page.wait_for_url("**/ui/simulations/*")
            page.wait_for_selector("#chart", timeout=120_000)  # refreshed by the page while it runs
            assert page.locator("#chart rect").count() > 12
            tiers = page.inner_text("#tiers")
            assert "第一层" in tiers and "," in tiers  # yuan, with thousands separators
            assert page.locator("#months-left").count() == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
            page.screenshot(path=str(ARTIFACTS / "simulation-zh-phone.png"), full_page=True)
            with page.expect_download() as download:
                page.click("#download")
            assert download.value.suggested_filename.endswith(".xlsx")
            page.goto(page.url + "?lang=en")
            assert "Tier 1 (the fund) paid by month" in page.inner_text("main")
            page.screenshot(path=str(ARTIFACTS / "simulation-en-phone.png"), full_page=True)
        finally:
            context.close()
            browser.close()
    assert not violations, violations
