"""The provider portal's boundaries (issue 21 §6), on SQLite and PostgreSQL: a provider sees and
corrects only its own claims (another's is a 404 on every page and form), only a provider key opens
the portal and a provider key never opens the staff console, and a form without the session's
token changes nothing. The walk itself is tests/browser/test_portal_ui.py."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

from gateway.services.keys import Role
from gateway.storage.tables import ClaimBatchRow
from ltc_gateway.portal.web import COOKIE
from reconciliation.ui.sessions import COOKIE as STAFF_COOKIE
from tests.integration.test_claim_batches import as_csv, follow, month_rows
from tests.integration.world import World

BASE = "http://testserver"
ORIGIN = {"Origin": BASE}
HIDDEN = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = HIDDEN.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def portal_sign_in(world: World, key: str) -> int:
    """The login form as a browser sends it, signed out first; the answer (303 into the portal)."""
    world.client.cookies.delete(COOKIE, path="/portal")
    page = world.client.get(f"{BASE}/portal/login", follow_redirects=False)
    form = {"key": key, "csrf": csrf_of(page.text)}
    answer = world.client.post(f"{BASE}/portal/login", data=form, headers=ORIGIN, follow_redirects=False)
    return answer.status_code


def test_another_providers_claim_is_not_found_on_every_page_and_form(world: World) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    other = world.key(Role.PROVIDER, "P9999999999")
    assert portal_sign_in(world, other) == 303
    page = world.client.get("/portal/")
    csrf = csrf_of(page.text)
    assert page.status_code == 200 and claim_id not in page.text
    for path in ("", "/statement", "/statement.pdf"):
        assert world.client.get(f"/portal/claims/{claim_id}{path}").status_code == 404, path
    void = {"csrf": csrf, "reason": "不是我的"}
    assert world.client.post(f"/portal/claims/{claim_id}/void", data=void, headers=ORIGIN).status_code == 404
    files = {"file": ("c.csv", b"x", "text/csv")}
    answer = world.client.post(
        f"/portal/claims/{claim_id}/replace", data={"csrf": csrf}, files=files, headers=ORIGIN
    )
    assert answer.status_code == 404
    assert world.claim(claim_id)["status"] != "voided"

    assert portal_sign_in(world, world.provider) == 303  # its own provider: the claim and its actions
    page = world.client.get(f"/portal/claims/{claim_id}")
    assert page.status_code == 200 and 'id="void"' in page.text
    forged = {"reason": "no token"}  # a form without the session's token changes nothing
    answer = world.client.post(f"/portal/claims/{claim_id}/void", data=forged, headers=ORIGIN)
    assert answer.status_code == 403 and world.claim(claim_id)["status"] != "voided"


def test_only_a_provider_key_opens_the_portal_and_never_the_staff_console(world: World) -> None:
    staff = world.key(Role.RECONCILER, "zhang")
    assert portal_sign_in(world, staff) == 401
    assert portal_sign_in(world, world.bureau) == 401
    assert world.client.get("/portal/", follow_redirects=False).headers["location"] == "/portal/login"

    page = world.client.get(f"{BASE}/ui/login")  # the staff console refuses a provider key
    form = {"key": world.provider, "csrf": csrf_of(page.text)}
    refused = world.client.post("/ui/login", data=form, headers=ORIGIN, follow_redirects=False)
    assert refused.status_code == 401

    assert portal_sign_in(world, world.provider) == 303
    token = world.client.cookies[COOKIE]
    mine = world.client.get("/portal/")
    assert mine.status_code == 200 and mine.headers["cache-control"] == "private, no-store"
    # the portal's session token presented as a staff session opens nothing there
    world.client.cookies.set(STAFF_COOKIE, token, path="/ui")
    answer = world.client.get("/ui/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    assert answer.headers["x-frame-options"] == "DENY"


def test_a_background_batch_shows_its_progress_and_a_refused_form_keeps_its_input(world: World) -> None:
    world.setup()
    world.gateway.settings = replace(
        world.gateway.settings, batch_sync_rows=0
    )  # every file in the background
    assert portal_sign_in(world, world.provider) == 303
    csrf = csrf_of(world.client.get("/portal/batches").text)
    files = {"file": ("2026-11.csv", as_csv(month_rows(world, claims=2)), "text/csv")}
    answer = world.client.post(
        "/portal/batches",
        data={"csrf": csrf, "accept": "all"},
        files=files,
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    batch = follow(world, "/v1/claims/batches/" + location.rsplit("/", 1)[1])
    with world.gateway.sessions.begin() as session:  # as it stood while its thread was still checking
        row = session.get_one(ClaimBatchRow, uuid.UUID(batch["batch_id"]))
        row.status, row.rows_checked = "checking", 1
    running = world.client.get(location).text
    assert '<meta http-equiv="refresh" content="2">' in running and '<progress max="3" value="1">' in running
    with world.gateway.sessions.begin() as session:
        session.get_one(ClaimBatchRow, uuid.UUID(batch["batch_id"])).status = "accepted"
    done = world.client.get(location).text
    assert "http-equiv" not in done and done.count("/portal/claims/") == 2

    wrong = {"csrf": csrf, "url": "http://localhost/hook", "claim.voided": "1"}
    refused = world.client.post("/portal/webhooks", data=wrong, headers=ORIGIN)
    assert refused.status_code == 422 and 'value="http://localhost/hook"' in refused.text
    assert 'name="claim.voided" value="1" checked' in refused.text
    assert 'name="claim.coordinated" value="1" checked' not in refused.text

    world.gateway.settings = replace(world.gateway.settings, max_batch_bytes=100)  # a form is read bounded
    files = {"file": ("big.csv", b"x" * 70_000, "text/csv")}
    too_large = world.client.post("/portal/batches", data={"csrf": csrf}, files=files, headers=ORIGIN)
    assert too_large.status_code == 413
