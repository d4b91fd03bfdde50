"""Staff accounts (issue 22 section 3): people sign in by name and password, their actions are
audited under their name, four eyes compares people, roles limit what they may do, wrong
passwords lock, disabled accounts sign in no more. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from gateway.bootstrap import Gateway
from gateway.errors import Forbidden
from gateway.services import staff
from gateway.services.keys import Role, authenticate
from gateway.storage.tables import AuditEntryRow, MismatchRow, utcnow
from ltc_gateway.app import create_app
from ltc_gateway.cli import main
from ltc_sandbox.generator import generate_night
from reconciliation import queue
from reconciliation.api import reconciliation_for
from reconciliation.ui.sessions import COOKIE
from tests.integration.test_staff_sessions import ORIGIN, csrf_of
from tests.people import PASSWORD, person


@pytest.fixture
def app(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gateway, embedded_workers=0), follow_redirects=False) as client:
        yield client


def browser(app: TestClient) -> TestClient:
    """Another browser on the same server (its own cookies)."""
    return TestClient(app.app, follow_redirects=False)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> int:
    page = client.get("/ui/login")
    answer = client.post(
        "/ui/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
        headers=ORIGIN,
    )
    return answer.status_code


def post(client: TestClient, mismatch_id: int, expect: int = 303, **form: str) -> str:
    token = csrf_of(client.get(f"/ui/mismatches/{mismatch_id}").text)
    answer = client.post(
        f"/ui/mismatches/{mismatch_id}/resolve", data={**form, "csrf": token}, headers=ORIGIN
    )
    assert answer.status_code == expect, answer.text
    return answer.text


def status(gateway: Gateway, mismatch_id: int) -> str:
    with gateway.sessions.begin() as session:
        return session.get(MismatchRow, mismatch_id).status  # type: ignore[union-attr]


def test_a_person_asks_a_write_off_only_another_person_approves_and_the_trail_names_them(
    gateway: Gateway, app: TestClient
) -> None:
    night = generate_night(gateway, claims_per_kind=1, matched_claims=0)
    reconciliation_for(gateway).run(night.business_date)
    with gateway.sessions.begin() as session:
        duplicate = session.scalars(
            select(MismatchRow).where(MismatchRow.kind == "DUPLICATE_SETTLEMENT")
        ).first()
        assert duplicate is not None
        mismatch_id = duplicate.id
    person(gateway, "zhang", "reconciler", "approver")
    person(gateway, "li", "approver")
    assert sign_in(app, "zhang") == 303
    post(app, mismatch_id, action="write_off", note="重复支付，线下已退回")
    assert status(gateway, mismatch_id) == "pending_approval"
    # zhang again, in a second browser (a second session): still the same person
    with browser(app) as second:
        assert sign_in(second, "zhang") == 303
        refused = post(second, mismatch_id, expect=403, action="approve", note="自己复核")
        assert "另一名对账员" in refused and status(gateway, mismatch_id) == "pending_approval"
    # and with a key of zhang's own, over the API: still the same person
    with gateway.sessions.begin() as session:
        own_key = staff.issue_key(session, "zhang", Role.RECONCILER, "test")[1]
    over_api = app.post(
        f"/v1/reconciliation/mismatches/{mismatch_id}/resolution",
        json={"action": "approve", "note": "自己复核"},
        headers={"Authorization": f"Bearer {own_key}"},
    )
    assert over_api.status_code == 403 and "four eyes" in over_api.json()["detail"]
    with browser(app) as other:
        assert sign_in(other, "li") == 303
        post(other, mismatch_id, action="approve", note="已核对退款凭证")
    assert status(gateway, mismatch_id) == "resolved"
    with gateway.sessions.begin() as session:
        trail = session.execute(
            select(AuditEntryRow.action, AuditEntryRow.actor).where(
                AuditEntryRow.subject == f"mismatch:{mismatch_id}"
            )
        ).all()
    assert ("mismatch.write_off", "person:zhang") in trail and ("mismatch.approve", "person:li") in trail


def test_roles_limit_what_a_person_may_do(gateway: Gateway, app: TestClient) -> None:
    reconciler = person(gateway, "wang", "reconciler")
    person(gateway, "zhao", "bureau_supervisor")
    with gateway.sessions.begin() as session:
        only_reconciler = staff.sign_in(session, *reconciler)
        assert only_reconciler is not None
        # approving needs the approver role, before anything else is looked at
        with pytest.raises(Forbidden, match="approver"):
            queue.resolve(
                session,
                only_reconciler,
                1,
                {"action": "approve", "note": "x"},
                write_off_approval_fen=0,
                catalogue=gateway.catalogue,
                today=utcnow().date(),
            )
    assert sign_in(app, "wang") == 303
    assert app.get("/ui/queue").status_code == 200
    assert app.get("/ui/simulations").status_code == 403  # bureau pages are the supervisor's
    with browser(app) as bureau:
        assert sign_in(bureau, "zhao") == 303
        assert bureau.get("/ui/simulations").status_code == 200


def test_wrong_passwords_lock_the_account_and_a_new_password_lifts_it(gateway: Gateway) -> None:
    username, password = person(gateway, "sun", "reconciler")
    now = utcnow()
    for _ in range(staff.MAX_FAILED):
        with gateway.sessions.begin() as session:
            assert staff.sign_in(session, username, "wrong password!", now) is None
    with gateway.sessions.begin() as session:
        assert staff.sign_in(session, username, password, now) is None  # locked: even the right one
        assert staff.list_accounts(session)[0]["locked"]
        later = now + timedelta(minutes=staff.LOCK_MINUTES, seconds=1)
        assert staff.sign_in(session, username, password, later) is not None  # the lock runs out
        locked = session.scalars(
            select(AuditEntryRow.action).where(AuditEntryRow.subject == "staff:sun")
        ).all()
        assert "staff.locked" in locked


def test_a_disabled_account_cannot_sign_in_and_its_open_session_ends(
    gateway: Gateway, app: TestClient
) -> None:
    person(gateway, "qian", "reconciler")
    assert sign_in(app, "qian") == 303 and app.get("/ui/").status_code == 200
    with gateway.sessions.begin() as session:
        staff.disable(session, "qian", "test")
    assert app.get("/ui/").headers["location"] == "/ui/login"
    app.cookies.delete(COOKIE)
    assert sign_in(app, "qian") == 401


def test_the_stored_password_is_a_hash_and_the_name_is_sealed(gateway: Gateway) -> None:
    person(gateway, "zhou", "approver")
    with gateway.sessions.begin() as session:
        name, hashed = session.execute(text("SELECT display_name, password_hash FROM staff_accounts")).one()
    assert PASSWORD not in hashed and hashed.startswith("scrypt$")
    assert "Zhou 测试" not in name and "Zhou" not in name
    assert staff.verify_password(PASSWORD, hashed) and not staff.verify_password("wrong", hashed)


def test_the_staff_commands_read_the_password_from_stdin_and_never_echo_it(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LTC_DATABASE_URL", gateway.settings.database_url)
    secret = "a long secret phrase"

    def ltc(*args: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        assert secret not in out + err
        return code, out + err

    code, said = ltc(
        "staff", "add", "wu", "--name", "吴某", "--role", "reconciler", "--role", "approver", stdin=secret
    )
    assert code == 0, said
    code, said = ltc("staff", "list")
    assert code == 0 and "wu\t吴某\tapprover,reconciler\tactive" in said
    for args, stdin in (
        (("staff", "add", "wu", "--name", "吴某", "--role", "reconciler"), secret),  # exists
        (("staff", "add", "zheng", "--name", "郑某", "--role", "reconciler"), "short"),  # too short
        (("staff", "disable", "nobody"), ""),
        (("staff", "key", "wu", "--role", "bureau"), ""),  # wu's roles open the reconciler's key only
    ):
        code, said = ltc(*args, stdin=stdin)
        lines = [line for line in said.splitlines() if " WARNING " not in line]  # the dev-keys warning
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), said
    code, said = ltc("staff", "key", "wu", "--role", "reconciler")
    own_key = said.splitlines()[0]
    with gateway.sessions.begin() as session:
        holder = authenticate(session, own_key)
    assert code == 0 and holder is not None and holder.person == "wu" and "approver" in holder.staff_roles
    assert ltc("staff", "password", "wu", stdin="another long phrase")[0] == 0
    assert ltc("staff", "disable", "wu")[0] == 0
    with gateway.sessions.begin() as session:
        assert staff.sign_in(session, "wu", "another long phrase") is None  # disabled
        assert authenticate(session, own_key) is None  # and so are the keys of wu's own
        actions = session.scalars(
            select(AuditEntryRow.action).where(AuditEntryRow.subject == "staff:wu")
        ).all()
    assert {"staff.created", "staff.password_changed", "staff.disabled"} <= set(actions)
