"""The staff UI's sessions and forms (issue 18, item 11): server-side sessions that expire and end at
logout, cookies that hold no key, a CSRF token and an origin check on every POST, security headers
on every answer, and no free text from the URL on a page. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from gateway.bootstrap import Gateway
from gateway.services.keys import Role, create_key, revoke_key
from gateway.storage.tables import (
    MismatchActionRow,
    MismatchRow,
    ReconciliationRunRow,
    UiSessionRow,
    utcnow,
)
from ltc_gateway.app import create_app
from ltc_sandbox.generator import generate_night
from reconciliation.api import reconciliation_for
from reconciliation.ui.sessions import COOKIE, LOGIN_COOKIE

ORIGIN = {"Origin": "http://testserver"}
HIDDEN = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture
def staff(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gateway, embedded_workers=0), follow_redirects=False) as client:
        yield client


def key_for(gateway: Gateway, party: str = "zhang", role: Role = Role.RECONCILER) -> tuple[str, str]:
    with gateway.sessions.begin() as session:
        return create_key(session, role, party)


def csrf_of(html: str) -> str:
    found = HIDDEN.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, key: str, base: str = "http://testserver") -> str:
    """Sign in through the login form as a browser would; the session cookie's token."""
    page = client.get(f"{base}/ui/login")
    answer = client.post(
        f"{base}/ui/login", data={"key": key, "csrf": csrf_of(page.text)}, headers={"Origin": base}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/", answer.text
    return client.cookies[COOKIE]


def signed_in(client: TestClient) -> bool:
    return client.get("/ui/").status_code == 200


def set_cookie_header(answer: object, name: str) -> str:
    headers = [h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{name}=")]  # type: ignore[attr-defined]
    assert len(headers) == 1, headers
    return headers[0]


def test_the_session_cookie_holds_a_random_token_and_the_database_only_its_hash(
    gateway: Gateway, staff: TestClient
) -> None:
    key_id, key = key_for(gateway)
    token = sign_in(staff, key)
    assert key not in token and key_id not in token and len(token) >= 43
    with gateway.sessions.begin() as session:
        row = session.scalars(select(UiSessionRow)).one()
        assert (row.key_id, row.role, row.party_code) == (key_id, "reconciler", "zhang")
        assert token not in row.token_hash and len(row.token_hash) == 64
        assert row.expires_at - row.created_at == timedelta(hours=12)
    assert signed_in(staff)


def test_the_session_cookie_is_httponly_samesite_strict_for_ui_and_not_secure_over_plain_http(
    gateway: Gateway, staff: TestClient
) -> None:
    _, key = key_for(gateway)
    page = staff.get("/ui/login")
    login_cookie = set_cookie_header(page, LOGIN_COOKIE).lower()
    assert "httponly" in login_cookie and "samesite=strict" in login_cookie and "max-age=600" in login_cookie
    answer = staff.post("/ui/login", data={"key": key, "csrf": csrf_of(page.text)}, headers=ORIGIN)
    cookie = set_cookie_header(answer, COOKIE).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert "secure" not in cookie  # plain http, LTC_UI_SECURE_COOKIES=auto


def test_the_session_cookie_is_secure_over_https_and_when_the_setting_says_so(gateway: Gateway) -> None:
    _, key = key_for(gateway)
    with TestClient(create_app(gateway, embedded_workers=0), base_url="https://testserver") as client:
        page = client.get("/ui/login")
        assert "; secure" in set_cookie_header(page, LOGIN_COOKIE).lower()
        answer = client.post(
            "/ui/login",
            data={"key": key, "csrf": csrf_of(page.text)},
            headers={"Origin": "https://testserver"},
            follow_redirects=False,
        )
        assert "; secure" in set_cookie_header(answer, COOKIE).lower()
        assert client.get("/ui/", follow_redirects=False).status_code == 200
    gateway.settings = replace(gateway.settings, ui_secure_cookies="true")
    with TestClient(create_app(gateway, embedded_workers=0)) as client:  # TLS ends at a silent proxy
        assert "; secure" in set_cookie_header(client.get("/ui/login"), LOGIN_COOKIE).lower()


def test_an_unknown_secure_cookies_setting_is_refused_at_start(gateway: Gateway) -> None:
    gateway.settings = replace(gateway.settings, ui_secure_cookies="yes please")
    with pytest.raises(ValueError, match="LTC_UI_SECURE_COOKIES"):
        create_app(gateway, embedded_workers=0)


def test_logout_ends_the_session_on_the_server_so_a_replayed_cookie_signs_no_one_in(
    gateway: Gateway, staff: TestClient
) -> None:
    _, key = key_for(gateway)
    token = sign_in(staff, key)
    page = staff.get("/ui/")
    answer = staff.post("/ui/logout", data={"csrf": csrf_of(page.text)}, headers=ORIGIN)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    assert COOKIE not in staff.cookies
    staff.cookies.set(COOKIE, token, path="/ui")  # the old cookie, replayed
    replayed = staff.get("/ui/")
    assert replayed.status_code == 303 and replayed.headers["location"] == "/ui/login"
    with gateway.sessions.begin() as session:
        assert session.scalars(select(UiSessionRow.revoked_at)).one() is not None


def test_an_idle_session_ends_after_the_idle_expiry(gateway: Gateway, staff: TestClient) -> None:
    _, key = key_for(gateway)
    sign_in(staff, key)

    def idle_for(minutes: int) -> None:
        with gateway.sessions.begin() as session:
            session.execute(update(UiSessionRow).values(last_seen_at=utcnow() - timedelta(minutes=minutes)))

    idle_for(29)
    assert signed_in(staff)  # and the visit counts as use
    with gateway.sessions.begin() as session:
        assert utcnow() - session.scalars(select(UiSessionRow.last_seen_at)).one() < timedelta(minutes=1)
    idle_for(30)
    assert not signed_in(staff)
    assert staff.post("/ui/logout", data={}, headers=ORIGIN).headers["location"] == "/ui/login"
    assert COOKIE not in staff.cookies  # the ended session's cookie is cleared too


def test_a_session_ends_at_its_absolute_expiry_however_busy(gateway: Gateway, staff: TestClient) -> None:
    _, key = key_for(gateway)
    sign_in(staff, key)
    assert signed_in(staff)
    with gateway.sessions.begin() as session:
        session.execute(update(UiSessionRow).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert not signed_in(staff)


def test_revoking_the_api_key_ends_its_sessions(gateway: Gateway, staff: TestClient) -> None:
    key_id, key = key_for(gateway)
    sign_in(staff, key)
    assert signed_in(staff)
    with gateway.sessions.begin() as session:
        revoke_key(session, key_id)
    assert not signed_in(staff)


def test_signing_in_again_in_the_same_browser_ends_the_previous_session(
    gateway: Gateway, staff: TestClient
) -> None:
    first = sign_in(staff, key_for(gateway, "zhang")[1])
    sign_in(staff, key_for(gateway, "li")[1])
    staff.cookies.set(COOKIE, first, path="/ui")
    assert not signed_in(staff)


def runs(gateway: Gateway) -> int:
    with gateway.sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(ReconciliationRunRow)) or 0


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    gateway: Gateway, staff: TestClient
) -> None:
    night = generate_night(gateway, claims_per_kind=1, matched_claims=0)
    reconciliation_for(gateway).run(night.business_date)
    with gateway.sessions.begin() as session:
        mismatch = session.scalars(select(MismatchRow).where(MismatchRow.kind == "AMOUNT_MISMATCH")).first()
        assert mismatch is not None
        mismatch_id, before = mismatch.id, mismatch.status
    _, key = key_for(gateway)
    sign_in(staff, key)
    other = TestClient(
        staff.app, follow_redirects=False
    )  # another signed-in session's token is no good here either
    with other:
        sign_in(other, key_for(gateway, "li")[1])
        foreign = csrf_of(other.get("/ui/").text)
    day = {"business_date": (night.business_date + timedelta(days=1)).isoformat()}
    resolution = {"action": "carry_forward", "note": "forged"}
    for token in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": foreign}):
        refused = staff.post("/ui/runs", data={**day, **token}, headers=ORIGIN)
        assert refused.status_code == 403 and "请求被拒绝" in refused.text
        refused = staff.post(
            f"/ui/mismatches/{mismatch_id}/resolve", data={**resolution, **token}, headers=ORIGIN
        )
        assert refused.status_code == 403
        assert staff.post("/ui/logout", data=token, headers=ORIGIN).status_code == 403
    assert runs(gateway) == 1 and signed_in(staff)
    with gateway.sessions.begin() as session:
        assert session.get(MismatchRow, mismatch_id).status == before  # type: ignore[union-attr]
        actions = session.scalars(
            select(MismatchActionRow.action).where(MismatchActionRow.mismatch_id == mismatch_id)
        )
        assert "carry_forward" not in list(actions)
    # the page's own token does it
    token = csrf_of(staff.get(f"/ui/mismatches/{mismatch_id}").text)
    done = staff.post(
        f"/ui/mismatches/{mismatch_id}/resolve", data={**resolution, "csrf": token}, headers=ORIGIN
    )
    assert done.status_code == 303
    with gateway.sessions.begin() as session:
        assert session.get(MismatchRow, mismatch_id).status == "carried"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/ui/"},
        {},  # neither Origin nor Referer
    ],
    ids=["other-site", "look-alike", "opaque", "referer-other-site", "none"],
)
def test_a_cross_origin_post_is_refused_even_with_the_right_token(
    gateway: Gateway, staff: TestClient, headers: dict[str, str]
) -> None:
    _, key = key_for(gateway)
    sign_in(staff, key)
    token = csrf_of(staff.get("/ui/").text)
    day = {"business_date": "2026-11-01", "csrf": token}
    assert staff.post("/ui/runs", data=day, headers=headers).status_code == 403
    assert runs(gateway) == 0
    # same page, our origin (or, without Origin, our Referer): accepted
    assert staff.post("/ui/runs", data=day, headers={"Referer": "http://testserver/ui/"}).status_code == 303
    assert runs(gateway) == 1


def test_the_login_form_needs_its_pre_session_token_and_our_origin(
    gateway: Gateway, staff: TestClient
) -> None:
    _, key = key_for(gateway)
    token = csrf_of(staff.get("/ui/login").text)
    assert token and staff.cookies[LOGIN_COOKIE] == token
    for data, headers in (
        ({"key": key}, ORIGIN),
        ({"key": key, "csrf": "x" * 43}, ORIGIN),
        ({"key": key, "csrf": token}, {"Origin": "http://evil.example"}),
    ):
        answer = staff.post("/ui/login", data=data, headers=headers)
        assert answer.status_code == 403 and COOKIE not in staff.cookies
    with gateway.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(UiSessionRow)) == 0
    # a bad key is told so, on a form that still works
    wrong = staff.post("/ui/login", data={"key": "ltc_wrong", "csrf": token}, headers=ORIGIN)
    assert wrong.status_code == 401 and "密码错误" in wrong.text
    assert (
        staff.post("/ui/login", data={"key": key, "csrf": csrf_of(wrong.text)}, headers=ORIGIN).status_code
        == 303
    )


def test_security_headers_are_on_every_ui_page_and_api_answer(gateway: Gateway, staff: TestClient) -> None:
    _, key = key_for(gateway)
    answers = [staff.get("/ui/login"), staff.get("/ui/"), staff.get("/docs"), staff.get("/v1/claims/x")]
    sign_in(staff, key)
    answers += [staff.get(p) for p in ("/ui/", "/ui/queue", "/ui/queue.csv", "/ui/static/staff.css")]
    answers.append(staff.post("/ui/runs", data={}, headers=ORIGIN))  # the 403 page
    for answer in answers:
        csp = answer.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, answer.url
        assert "'unsafe-inline'" not in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
    assert staff.get("/ui/queue").headers["cache-control"] == "no-store"
    assert staff.get("/ui/static/staff.css").headers["content-type"].startswith("text/css")
    assert staff.get("/static/docs.css").status_code == 200


def test_the_pages_have_no_inline_script_or_style_so_the_policy_allows_them(
    gateway: Gateway, staff: TestClient
) -> None:
    night = generate_night(gateway, claims_per_kind=1, matched_claims=0)
    reconciliation_for(gateway).run(night.business_date)
    pages = [staff.get("/ui/login").text, staff.get("/docs").text]
    sign_in(staff, key_for(gateway)[1])
    with gateway.sessions.begin() as session:
        some = session.scalars(select(MismatchRow.id)).first()
    pages += [staff.get(p).text for p in ("/ui/", "/ui/queue", f"/ui/mismatches/{some}")]
    for html in pages:
        # a script only from a file (/docs loads Swagger UI), never inline
        assert not re.search(r"<script(?![^>]*\ssrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", html, re.I)
        assert not re.search(r"<script[^>]*>[^<\s]", html, re.I)
        assert 'rel="stylesheet"' in html


def test_free_text_in_the_url_is_not_shown_on_staff_pages(gateway: Gateway, staff: TestClient) -> None:
    evil = "<script>alert(1)</script>"
    sign_in(staff, key_for(gateway)[1])
    for path in ("/ui/", "/ui/queue", "/ui/login"):
        html = staff.get(path, params={"message": evil, "problem": "请立即转账", "x": evil}).text
        # (the queue's own script comes from a file: /ui/static/queue.js)
        assert "alert(1)" not in html and "请立即转账" not in html and "<script>" not in html


def test_the_message_after_an_action_comes_from_the_session_and_is_shown_once(
    gateway: Gateway, staff: TestClient
) -> None:
    sign_in(staff, key_for(gateway)[1])
    token = csrf_of(staff.get("/ui/").text)
    answer = staff.post("/ui/runs", data={"business_date": "2026-02-30", "csrf": token}, headers=ORIGIN)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"  # no text in the URL
    refused = "业务日期无效或超出可对账范围。"  # the refusal in the page's language
    assert 'class="problem"' in (first := staff.get("/ui/").text) and refused in first
    assert refused not in staff.get("/ui/").text
    answer = staff.post("/ui/runs", data={"business_date": "2026-11-01", "csrf": token}, headers=ORIGIN)
    assert answer.headers["location"] == "/ui/runs/2026-11-01"  # the run's progress, in the background
    assert re.search(
        r'class="message"[^>]*>2026-11-01 的对账已在后台开始', staff.get("/ui/runs/2026-11-01").text
    )
    for _ in range(600):  # the run ends before the test does (a bound on polls, not a time)
        if 'data-status="running"' not in (page := staff.get("/ui/runs/2026-11-01").text):
            break
        time.sleep(0.05)
    assert 'class="message"' not in page and 'data-status="done"' in page


def test_a_form_whose_bytes_are_not_utf8_is_refused_not_a_server_error(
    gateway: Gateway, staff: TestClient
) -> None:
    page = staff.get("/ui/login")
    body = b"key=\xff\xfe&csrf=" + csrf_of(page.text).encode()
    headers = {**ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}
    assert staff.post("/ui/login", content=body, headers=headers).status_code == 401
