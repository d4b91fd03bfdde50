"""/docs in Debian's chromium: Swagger UI from the installed bundle, under the app's content
security policy (no violation), with no request leaving the server; the operations are listed,
one expands with its example answer and a call is tried from the page. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from gateway.services.keys import Role, create_key
from ltc_gateway.app import create_app
from tests.browser.test_staff_ui import ARGS, ARTIFACTS, CHROMIUM


@pytest.fixture
def served(gateway: Gateway) -> Iterator[tuple[str, str]]:
    if gateway.engine.dialect.name != "sqlite":
        pytest.skip("once: the viewer and its bundle do not touch the database")
    with gateway.sessions.begin() as session:
        key = create_key(session, Role.BUREAU, "bureau")[1]
    server = BackgroundServer(create_app(gateway, embedded_workers=0)).start()
    try:
        yield server.url, key
    finally:
        server.stop()


def test_docs_is_an_interactive_viewer_served_from_the_bundle_without_the_internet(
    served: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    base, key = served
    here = urlsplit(base).netloc
    violations: list[str] = []
    elsewhere: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.callspec.id
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15000)
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        page.on(
            "request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).netloc not in (here, "") else None
        )
        try:
            page.goto(f"{base}/docs")
            page.wait_for_selector(".opblock-summary-path")
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert {"/v1/claims", "/v1/reconciliation/mismatches", "/readyz"} <= {p.strip() for p in paths}
            page.screenshot(path=str(ARTIFACTS / f"{name}-docs.png"))

            # expand the queue: its query parameters and its example answer are shown
            page.locator("#operations-reconciliation-get_mismatches .opblock-summary").click()
            block = page.locator("#operations-reconciliation-get_mismatches")
            block.locator(".parameters").wait_for()
            assert "min_amount_fen" in block.inner_text()
            assert "AMOUNT_MISMATCH" in block.locator(".responses-wrapper").inner_text()

            # authorise and try a call from the page: the live answer is shown
            page.click(".auth-wrapper .authorize")
            page.fill(".auth-container input", key)
            page.click(".auth-btn-wrapper .authorize")
            page.click(".btn-done")
            page.locator("#operations-steps-get_failed_steps .opblock-summary").click()
            steps = page.locator("#operations-steps-get_failed_steps")
            steps.locator(".try-out__btn").click()
            steps.locator(".execute").click()
            steps.locator(".live-responses-table tbody .response-col_status").first.wait_for()
            assert (
                "200" in steps.locator(".live-responses-table tbody .response-col_status").first.inner_text()
            )
            block.locator(".parameters").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"{name}-docs-expanded.png"))
            steps.locator(".live-responses-table").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"{name}-docs-tried.png"))

            # the payer side's description, from the selector in the top bar
            page.select_option(".topbar select", label="what a REST payer implements")
            page.get_by_text("/claim-shares/{idempotency_key}").wait_for()
            page.screenshot(path=str(ARTIFACTS / f"{name}-docs-payer.png"))
        finally:
            browser.close()
    assert violations == []
    assert elsewhere == []
