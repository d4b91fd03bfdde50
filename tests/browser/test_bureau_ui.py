"""The bureau's pages in Debian's chromium (issue 22 §1): a reconciler is turned away; the bureau
reads the fund page and enters its figures, closes a supervision item, reruns a dead letter and
adds dated route versions, in Chinese and English and at phone width. Screenshots go to
tests/artifacts/. The pages' database work is tested on both databases in
tests/integration/test_bureau_pages.py; the browser runs once, on SQLite."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, sync_playwright
from sqlalchemy import select
from starlette.testclient import TestClient

from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from gateway.storage.tables import ClaimRow
from ltc_gateway.app import create_app
from tests.browser.test_staff_ui import ARGS, ARTIFACTS, CHROMIUM, sign_in  # skips without chromium
from tests.integration.test_bureau_pages import _dead_letter
from tests.integration.world import World
from tests.people import person

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def bureau_world(gateway: Gateway) -> Iterator[tuple[str, tuple[str, str], tuple[str, str], int, int]]:
    if not gateway.settings.database_url.startswith("sqlite"):
        pytest.skip("the browser runs once, on SQLite (the integration tests cover PostgreSQL)")
    with TestClient(create_app(gateway, embedded_workers=0)) as client:
        world = World(gateway, client).setup()
        claim_id = world.submit().json()["claim_id"]
        world.coordinate()
    step_id = _dead_letter(gateway, claim_id)
    bureau = person(gateway, "wang", "bureau_supervisor")
    reconciler = person(gateway, "zhang", "reconciler")
    with gateway.sessions.begin() as session:
        year = session.scalar(select(ClaimRow.period_start)).year  # type: ignore[union-attr]
    server = BackgroundServer(create_app(gateway, embedded_workers=0)).start()
    try:
        yield server.url, bureau, reconciler, step_id, year
    finally:
        server.stop()


def test_the_bureau_reads_the_fund_closes_an_item_reruns_a_dead_letter_and_dates_a_route(
    bureau_world: tuple[str, tuple[str, str], tuple[str, str], int, int],
) -> None:
    base, bureau, reconciler, step_id, year = bureau_world
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
            sign_in(page, base, reconciler)
            assert page.goto(f"{base}/ui/fund").status == 403
            sign_in(page, base, bureau)
            # the fund page: enter the budget and balance (a bad amount keeps what was typed)
            page.goto(f"{base}/ui/fund?year={year}")
            assert "基金" in page.inner_text("h1")
            page.click("details summary")
            page.fill("#budget", "一百万")
            page.fill("#balance", "500.00")
            page.click("#save-figures")
            assert page.locator(".problem").count() == 1 and page.input_value("#balance") == "500.00"
            page.fill("#budget", "1000000")
            page.click("#save-figures")
            assert page.locator("#warning").count() == 1
            assert page.locator("#fund-chart rect").count() > 3
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
            page.screenshot(path=str(ARTIFACTS / "bureau-fund-zh-phone.png"), full_page=True)
            with page.expect_download() as download:
                page.click("#xlsx")
            assert download.value.suggested_filename == f"fund-{year}.xlsx"
            # the supervision queue: open the dead step's item, assign, close with a reason
            page.goto(f"{base}/ui/supervision?kind=step_dead")
            page.click("a.open-item")
            page.select_option("#action", "assign")
            page.fill("#assignee-input", "李敏")
            page.click("#submit")
            assert page.inner_text("#assignee") == "李敏"
            page.select_option("#action", "close")
            page.select_option("#reason", "rerun")
            page.fill("#note", "配置已修复，已重新执行")
            page.click("#submit")
            assert "已关闭" in page.inner_text("#state")
            page.screenshot(path=str(ARTIFACTS / "bureau-supervision-item-zh-phone.png"), full_page=True)
            # the dead letter: request beside the answer, rerun, the lineage
            page.click("#letter")
            assert page.locator("#request").count() == 1 and "*" in page.inner_text("#request")
            page.click("#rerun-button")
            page.wait_for_url(f"{base}/ui/dead-letters/*")
            assert page.locator("#lineage tbody tr").count() == 2
            assert f"#{step_id}" in page.inner_text("#lineage")
            page.screenshot(path=str(ARTIFACTS / "bureau-dead-letter-zh-phone.png"), full_page=True)
            # item 4: scorecards and the audit trail (the rerun and the close are in it) on a phone
            page.goto(f"{base}/ui/scorecards?year={year}")
            assert "policy-ltci" in page.inner_text("#scorecards")
            page.screenshot(path=str(ARTIFACTS / "bureau-scorecards-zh-phone.png"), full_page=True)
            page.goto(f"{base}/ui/audit?action=supervision.")
            assert "supervision.rerun" in page.inner_text("#audit")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
            page.screenshot(path=str(ARTIFACTS / "bureau-audit-zh-phone.png"), full_page=True)
            # routing: a dated version (one back-dated over the routed claim is refused, as typed)
            page.goto(f"{base}/ui/routing")
            page.click("#routes-form-policy-ltci >> xpath=.. >> summary")
            form = page.locator("#routes-form-policy-ltci")
            form.locator(".effective-from").fill("2026-11-01")
            form.locator("textarea").fill("330102 huiminbao")
            form.locator("button").click()
            assert "P3301020001-202611-0001" in page.inner_text(".problem")
            form = page.locator("#routes-form-policy-ltci")
            assert form.locator(".effective-from").input_value() == "2026-11-01"
            form.locator(".effective-from").fill("2026-12-01")
            form.locator("textarea").fill("330102 huiminbao\n330106 acme-life")
            form.locator("button").click()
            assert "已保存" in page.inner_text(".message")
            assert page.locator("#routes-policy-ltci tbody tr").count() == 2
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
            page.screenshot(path=str(ARTIFACTS / "bureau-routing-zh-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(f"{base}/ui/routing?lang=en")
            page.click("#routes-form-policy-ltci >> xpath=.. >> summary")
            form = page.locator("#routes-form-policy-ltci")
            form.locator(".effective-from").fill("2099-01-01")
            form.locator("textarea").fill("330106 -")
            form.locator("button").click()
            assert "saved" in page.inner_text(".message")
            assert "Future" in page.inner_text("#routes-policy-ltci")
            assert "Not routed" in page.inner_text("#routes-policy-ltci")
            page.screenshot(path=str(ARTIFACTS / "bureau-routing-en.png"), full_page=True)
            page.goto(f"{base}/ui/supervision?state=all&lang=en")
            assert "Supervision" in page.inner_text("h1") and "Closed" in page.inner_text("#supervision")
            page.screenshot(path=str(ARTIFACTS / "bureau-supervision-en.png"), full_page=True)
            page.goto(f"{base}/ui/fund?year={year}&lang=en")
            assert "Months of payment left" in page.inner_text("#funds")
            page.screenshot(path=str(ARTIFACTS / "bureau-fund-en.png"), full_page=True)
            for name, path, heading in (
                ("scorecards", f"/ui/scorecards?year={year}", "Administrator scorecards"),
                ("audit", "/ui/audit?action=supervision.", "Audit search"),
                ("dead-letters", "/ui/dead-letters", "Dead letters and refusals"),
            ):
                page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang=en")
                assert heading in page.inner_text("h1"), name
                headers = " ".join(page.locator("th, label, button, h2").all_inner_texts())
                assert headers.strip() and not re.search(r"[\u4e00-\u9fff]", headers), (name, headers)
                page.screenshot(path=str(ARTIFACTS / f"bureau-{name}-en.png"), full_page=True)
        finally:
            context.close()
            browser.close()
    assert not violations, violations
