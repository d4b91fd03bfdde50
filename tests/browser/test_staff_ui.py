"""The staff UI end to end: Debian's chromium, driven by Playwright, against a real server on a
loopback port. One mismatch of every kind is resolved through the pages (every form with its CSRF
token, under a content security policy that the pages never violate), the four-eyes rule is kept
by two people, signing out ends the session, a forged cross-site form changes nothing, and the
queue is exported. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from ltc_gateway.app import create_app
from ltc_sandbox.generator import Night, generate_night
from tests.people import person

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    if os.environ.get("LTC_REQUIRE_BROWSER"):
        raise RuntimeError(
            "LTC_REQUIRE_BROWSER is set and /usr/bin/chromium is missing (apt-get install chromium)"
        )
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium fonts-wqy-microhei)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, sync_playwright  # noqa: E402


@pytest.fixture
def staff(gateway: Gateway) -> Iterator[tuple[str, Night, dict[str, tuple[str, str]]]]:
    night = generate_night(gateway, claims_per_kind=1, matched_claims=1)
    # both may approve: the same person still may not approve their own write-off
    keys = {who: person(gateway, who, "reconciler", "approver") for who in ("zhang", "li")}
    server = BackgroundServer(create_app(gateway, embedded_workers=1)).start()
    try:
        yield server.url, night, keys
    finally:
        server.stop()


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def shot(page: Page, name: str, request: pytest.FixtureRequest) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.callspec.id}-{name}.png"), full_page=True)


def sign_in(page: Page, base: str, who: tuple[str, str]) -> None:
    """Sign in as a person: (username, password)."""
    if page.locator("#logout").count():
        page.click("#logout button")
        page.wait_for_url(f"{base}/ui/login")
    else:
        page.goto(f"{base}/ui/login")
    page.fill("input[name=username]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/")


def resolve(
    page: Page, base: str, kind: str, action: str, note: str, amount: str = "", payer: str = ""
) -> str:
    page.goto(f"{base}/ui/queue?kind={kind}" + (f"&payer={payer}" if payer else ""))
    page.click(f"#queue tr[data-kind={kind}] a")
    page.select_option("#action", action)
    if amount:
        page.fill("#amount", amount)
    page.fill("#note", note)
    page.click("#submit")
    page.wait_for_selector(".message, .problem")
    assert page.locator(".problem").count() == 0, page.locator(".problem").inner_text()
    return page.locator("#status").inner_text()


def test_a_reconciler_resolves_one_mismatch_of_each_kind_in_the_browser(
    staff: tuple[str, Night, dict[str, tuple[str, str]]], browser_page: Page, request: pytest.FixtureRequest
) -> None:
    base, night, keys = staff
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{base}/ui/")
    assert page.url.endswith("/ui/login")  # nothing without signing in
    page.fill("input[name=username]", "zhang")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "密码错误" in page.locator(".problem").inner_text()
    shot(page, "sign-in", request)
    sign_in(page, base, keys["zhang"])
    # the stylesheet is a file of ours, so the policy lets it in
    assert page.eval_on_selector("header", "h => getComputedStyle(h).backgroundColor") == "rgb(31, 78, 121)"

    page.fill("input[name=business_date]", night.business_date.isoformat())
    page.click("#start-run")
    # the run works in the background; its page shows the phase until it is done
    page.wait_for_url(f"{base}/ui/runs/{night.business_date.isoformat()}")
    assert "对账进度" in page.locator("h1").inner_text()
    page.wait_for_selector("#run-status[data-status=done]", timeout=60000)
    assert "已完成" in page.locator("#run-phase").inner_text()
    assert page.locator("#payer-totals tbody tr").count() >= 2  # each payer and the sum
    shot(page, "run-done", request)
    page.goto(f"{base}/ui/")
    assert page.locator("#runs tbody tr").count() == 1
    assert page.locator("#chart rect").count() > 6
    assert "金额不符" in page.locator("#runs thead").inner_text()  # Chinese first
    assert "总额一致（组）" in page.locator("#runs thead").inner_text()  # level 1: groups agreed / all
    assert re.search(r"\b\d+ / \d+\b", page.locator("#runs tbody tr").first.inner_text())
    shot(page, "runs", request)

    page.goto(f"{base}/ui/queue")
    kinds = set(page.locator("#queue tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kind)"))
    assert kinds == {k for k, *_ in night.expected}
    ages = page.locator("#queue tbody td.age").all_inner_texts()
    assert ages and all(int(a) >= 0 for a in ages)  # counted to the queue's date, never negative
    assert "合计" in page.locator("#totals-row").inner_text()
    shot(page, "queue", request)

    # a duplicate explains itself: both statement lines, who settled what, and only its actions
    page.click("#queue tr[data-kind=DUPLICATE_SETTLEMENT] a")
    assert page.locator("#statement-lines tbody tr").count() == 2
    assert page.locator("#per-payer tbody tr").count() >= 1
    offered = page.locator("#action option").evaluate_all("os => os.map(o => o.value)")
    assert offered == ["request_correction", "recover", "write_off", "carry_forward"]
    shot(page, "duplicate", request)
    # at a phone's width nothing runs off the side of the screen
    page.set_viewport_size({"width": 390, "height": 844})
    for where, name in ((page.url, "phone-mismatch"), (f"{base}/ui/queue", "phone-queue")):
        page.goto(where)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, overflow)
        shot(page, name, request)
    page.set_viewport_size({"width": 1280, "height": 900})

    outcomes: dict[str, Any] = {}
    # 惠民保's 10.00: within the four-eyes threshold (tier 3's larger one would wait for approval)
    outcomes["AMOUNT_MISMATCH"] = resolve(
        page, base, "AMOUNT_MISMATCH", "recover", "多付部分向机构追回", payer="huiminbao"
    )
    outcomes["MISSING_AT_PAYER"] = resolve(
        page, base, "MISSING_AT_PAYER", "request_correction", "请支付方补报结算"
    )
    outcomes["UNKNOWN_AT_GATEWAY"] = resolve(
        page, base, "UNKNOWN_AT_GATEWAY", "write_off", "非本网关理赔，小额核销"
    )
    outcomes["OVER_COORDINATED"] = resolve(
        page, base, "OVER_COORDINATED", "carry_forward", "等待支付方追回后再看"
    )
    outcomes["STALE_COORDINATION"] = resolve(
        page, base, "STALE_COORDINATION", "accept_payer", "采纳支付方金额"
    )
    shot(page, "accepted", request)
    assert page.locator("#history tbody tr").count() == 2  # found by the run, then accepted
    assert "对账发现" in page.locator("#history tbody tr").first.inner_text()

    # four eyes: 1,200.00 paid twice is above the threshold; zhang asks, li approves
    assert resolve(page, base, "DUPLICATE_SETTLEMENT", "write_off", "重复支付，线下已退回") == "待复核"
    detail = page.url.split("?")[0]
    page.select_option("#action", "approve")
    page.fill("#note", "自己复核")
    page.click("#submit")
    assert "另一名对账员" in page.locator(".problem").inner_text()  # the refusal in Chinese
    assert page.locator("#note").input_value() == "自己复核"  # and the form keeps what was typed
    sign_in(page, base, keys["li"])
    page.goto(detail)
    page.select_option("#action", "approve")
    page.fill("#note", "已核对退款凭证")
    page.click("#submit")
    page.wait_for_selector(".message")
    outcomes["DUPLICATE_SETTLEMENT"] = page.locator("#status").inner_text()
    assert page.locator("#history tbody tr").count() == 3  # found, asked, approved
    shot(page, "four-eyes", request)

    assert outcomes == {
        "AMOUNT_MISMATCH": "已处理",
        "MISSING_AT_PAYER": "待支付方更正",
        "UNKNOWN_AT_GATEWAY": "已处理",
        "OVER_COORDINATED": "已结转",
        "STALE_COORDINATION": "已处理",
        "DUPLICATE_SETTLEMENT": "已处理",
    }

    # English is one click away, and the exports carry the queue
    page.goto(f"{base}/ui/queue?status=resolved")
    page.click("#language")
    assert page.locator("h1").inner_text().startswith("Work queue")
    with page.expect_download() as csv_download:
        page.click("#export-csv")
    csv_text = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[0].startswith("No.,Kind,Payer,Claim number,Provider")
    assert len(csv_text.splitlines()) == 1 + 4  # the four resolved items
    with page.expect_download() as xlsx_download:
        page.click("#export-xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + 4 + 1  # the header, the items, the totals
    assert "Stale coordination" in [r[1] for r in rows]
    shot(page, "english", request)
    assert violations == []

    # signing out ends the session: the pages want a sign-in again, even by the back button
    page.click("#logout button")
    page.wait_for_url(f"{base}/ui/login")
    page.go_back()
    page.goto(f"{base}/ui/queue")
    assert page.url.endswith("/ui/login")


def test_a_form_posted_from_another_site_changes_nothing(
    gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    if gateway.engine.dialect.name != "sqlite":
        pytest.skip("once: the cookie and origin checks come before any database work")
    base, night, keys = request.getfixturevalue("staff")
    page: Page = request.getfixturevalue("browser_page")
    sign_in(page, base, keys["zhang"])
    form = (
        f'<form id="f" method="post" action="{base}/ui/runs">'
        f'<input name="business_date" value="{night.business_date.isoformat()}"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    # another site's page that posts to ours as soon as it loads (it has no token to offer): the
    # SameSite cookie stays at home, so it meets the sign-in page
    evil = "http://evil.example/"
    page.route(evil, lambda route: route.fulfill(content_type="text/html", body=form))
    page.goto(evil)
    page.wait_for_url(f"{base}/ui/login")
    # the same site on another port (the cookie goes along): our origin check refuses it
    neighbour = f"http://127.0.0.1:{1 if base.endswith(':9') else 9}/"
    page.route(neighbour, lambda route: route.fulfill(content_type="text/html", body=form))
    page.goto(neighbour)
    page.wait_for_url(f"{base}/ui/runs")
    assert "请求被拒绝" in page.locator("h1").inner_text()
    shot(page, "forged", request)
    page.goto(f"{base}/ui/")
    assert page.locator("#runs tbody tr").first.inner_text() in ("无", "None")  # no run was started
