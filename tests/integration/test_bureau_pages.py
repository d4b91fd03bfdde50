"""The bureau's pages in the staff console (issue 22 §1): the supervision queue (filters, keyset
pages, assign, notes, close with a reason; audited), a dead letter's request beside the payer's
answer with its lineage and a rerun, and the fund page with its figures, warning and workbook.
A reconciler gets 403. On SQLite and PostgreSQL, through the app with a signed-in session."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from gateway.bootstrap import Gateway
from gateway.services.keys import Role
from gateway.storage.tables import (
    AuditEntryRow,
    ClaimRow,
    FlagRow,
    OutboxRow,
    PayerStepRow,
    SupervisionNoteRow,
)
from ltc_gateway.app import create_app
from tests.integration.test_staff_sessions import ORIGIN, csrf_of, key_for, sign_in
from tests.integration.world import World

ID_NUMBER = "11010519491231002X"


@pytest.fixture
def coordinated(gateway: Gateway) -> Iterator[tuple[World, str]]:
    """The worked example coordinated, then its tier-1 step dead-lettered (as a payer's
    permanent fault leaves it), and one adjustment notice the outbox gave up on."""
    with TestClient(create_app(gateway, embedded_workers=0)) as client:
        world = World(gateway, client).setup()
        claim_id = world.submit().json()["claim_id"]
        world.coordinate()
        yield world, claim_id


def _dead_letter(gateway: Gateway, claim_id: str) -> int:
    from uuid import UUID

    from gateway.orchestration.recording import flag

    with gateway.sessions.begin() as session:
        claim = session.get_one(ClaimRow, UUID(claim_id))
        step = session.scalars(
            select(PayerStepRow).where(PayerStepRow.claim_id == claim.claim_id).order_by(PayerStepRow.seq)
        ).first()
        assert step is not None
        step.status, step.last_error = "dead", "payer answered 404"
        flag(session, claim, "step_dead", "payer answered 404", step)
        session.add(
            OutboxRow(
                kind="adjustment",
                payer_code=step.payer_code,
                claim_id=claim.claim_id,
                idempotency_key=f"test-dead-{claim_id}",
                payload={"member": {"id_number": ID_NUMBER, "name": "王秀英"}, "delta_fen": -100},
                status="dead",
                last_error="gave up after 8 attempts",
            )
        )
        session.flush()
        return step.step_id


def _staff(gateway: Gateway, role: Role) -> TestClient:
    client = TestClient(create_app(gateway, embedded_workers=0), follow_redirects=False)
    sign_in(client, key_for(gateway, "bureau" if role is Role.BUREAU else "zhang", role)[1])
    return client


def test_a_reconciler_gets_403_on_every_bureau_page(gateway: Gateway) -> None:
    with _staff(gateway, Role.RECONCILER) as staff:
        for path in (
            "/ui/supervision",
            "/ui/dead-letters",
            "/ui/dead-letters/1",
            "/ui/fund",
            "/ui/fund.xlsx",
            "/ui/routing",
            "/ui/dead-notices/1",
        ):
            assert staff.get(path).status_code == 403, path
        csrf = csrf_of(staff.get("/ui/queue").text)
        posted = staff.post("/ui/fund", data={"csrf": csrf, "payer_code": "policy-ltci"}, headers=ORIGIN)
        assert posted.status_code == 403


def test_the_supervision_queue_lists_filters_pages_assigns_notes_and_closes_with_audit(
    gateway: Gateway, coordinated: tuple[World, str]
) -> None:
    _, claim_id = coordinated
    _dead_letter(gateway, claim_id)
    with gateway.sessions.begin() as session:
        flags = session.scalars(select(FlagRow)).all()
    with _staff(gateway, Role.BUREAU) as staff:
        page = staff.get("/ui/supervision")
        assert page.status_code == 200
        kinds = re.findall(r'data-kind="([a-z_]+)"', page.text)
        assert set(kinds) == {f.kind for f in flags} | {"notice_dead"}
        assert staff.get("/ui/supervision?kind=notice_dead").text.count('data-kind="') == 1
        assert staff.get("/ui/supervision?kind=nonsense").status_code == 422
        # keyset pages: one by one, every item once
        from gateway.services import supervision

        with gateway.sessions.begin() as session:
            seen, after = [], ""
            while True:
                listing = supervision.list_items(session, {"after": after} if after else {}, limit=1)
                seen += [(i["source"], i["source_id"]) for i in listing["items"]]
                if not listing["next"]:
                    break
                after = listing["next"]
        assert len(seen) == len(set(seen)) == len(kinds)

        item = next(f for f in flags if f.kind == "step_dead")
        where = f"/ui/supervision/flag/{item.id}"
        csrf = csrf_of(staff.get(where).text)
        refused = staff.post(where, data={"csrf": csrf, "action": "close", "note": "kept"}, headers=ORIGIN)
        assert refused.status_code == 422 and ">kept</textarea>" in refused.text  # the form keeps input
        for form in (
            {"action": "assign", "assignee": "李敏"},
            {"action": "note", "note": "支付方已修复配置"},
            {"action": "close", "reason": "rerun", "note": ""},
        ):
            answer = staff.post(where, data={"csrf": csrf, **form}, headers=ORIGIN)
            assert answer.status_code == 303, answer.text
        shown = staff.get(where).text
        assert "李敏" in shown and "支付方已修复配置" in shown and 'id="handle"' not in shown
        again = staff.post(where, data={"csrf": csrf, "action": "note", "note": "x"}, headers=ORIGIN)
        assert again.status_code == 409
        assert f'/ui/supervision/flag/{item.id}"' not in staff.get("/ui/supervision").text
        assert f'/ui/supervision/flag/{item.id}"' in staff.get("/ui/supervision?state=closed").text
        assert staff.get("/ui/supervision?assignee=李敏&state=all").text.count('data-kind="') == 1
    with gateway.sessions.begin() as session:
        actions = session.scalars(
            select(AuditEntryRow.action)
            .where(AuditEntryRow.subject == f"supervision:flag/{item.id}")
            .order_by(AuditEntryRow.id)
        ).all()
        assert actions == ["supervision.assign", "supervision.note", "supervision.close"]
        assert session.scalars(select(SupervisionNoteRow.text)).all() == ["支付方已修复配置"]


def test_a_dead_letter_shows_request_and_answer_masked_and_a_rerun_shows_its_lineage(
    gateway: Gateway, coordinated: tuple[World, str]
) -> None:
    _, claim_id = coordinated
    step_id = _dead_letter(gateway, claim_id)
    with _staff(gateway, Role.BUREAU) as staff:
        listed = staff.get("/ui/dead-letters").text
        assert f'/ui/dead-letters/{step_id}"' in listed
        page = staff.get(f"/ui/dead-letters/{step_id}")
        assert page.status_code == 200 and 'id="request"' in page.text and 'id="response"' in page.text
        with gateway.sessions.begin() as session:
            stored = session.get_one(PayerStepRow, step_id).request
        full = stored["member"]["id_number"]  # opened through the sealed-fields path
        assert full not in page.text and full[:6] + "*" * 8 + full[-4:] in page.text
        csrf = csrf_of(page.text)
        answer = staff.post(f"/ui/dead-letters/{step_id}/rerun", data={"csrf": csrf}, headers=ORIGIN)
        assert answer.status_code == 303
        new_page = staff.get(answer.headers["location"]).text
        assert f"#{step_id}" in new_page and 'id="rerun-button"' not in new_page
        lineage = re.findall(
            r"<tr[^>]*><td class=\"num\">(\d+)</td><td><a href=\"/ui/dead-letters/(\d+)\">", new_page
        )
        assert [a for a, _ in lineage] == ["1", "2"] and lineage[0][1] == str(step_id)
        twice = staff.post(f"/ui/dead-letters/{step_id}/rerun", data={"csrf": csrf}, headers=ORIGIN)
        assert twice.status_code == 303 and "problem" in staff.get(twice.headers["location"]).text
        with gateway.sessions.begin() as session:
            outbox_id = session.scalars(select(OutboxRow.id).where(OutboxRow.status == "dead")).one()
        notice = staff.get(f"/ui/dead-notices/{outbox_id}")
        assert (
            notice.status_code == 200 and ID_NUMBER not in notice.text and "110105********002X" in notice.text
        )
        assert "王**" in notice.text and "王秀英" not in notice.text
        assert 'id="resend-button"' in notice.text and f"test-dead-{claim_id}</code>" in notice.text
        resent = staff.post(f"/ui/dead-notices/{outbox_id}/resend", data={"csrf": csrf}, headers=ORIGIN)
        assert resent.status_code == 303
        after = staff.get(resent.headers["location"]).text
        assert 'id="resend-button"' not in after and "gave up after 8 attempts" in after
        assert re.search(r'<td class="num">2</td><td class="num">1</td>', after)
        again = staff.post(f"/ui/dead-notices/{outbox_id}/resend", data={"csrf": csrf}, headers=ORIGIN)
        assert "problem" in staff.get(again.headers["location"]).text
    with gateway.sessions.begin() as session:
        audit = session.scalars(
            select(AuditEntryRow.action).where(AuditEntryRow.subject == f"step:{step_id}")
        ).all()
        assert audit == ["supervision.rerun"]
        row = session.get_one(OutboxRow, outbox_id)
        assert (row.status, row.idempotency_key, row.payload["delta_fen"]) == (
            "waiting",
            f"test-dead-{claim_id}",
            -100,
        )


def test_the_fund_page_shows_paid_by_tier_the_budget_the_months_left_warning_and_a_workbook(
    gateway: Gateway, coordinated: tuple[World, str]
) -> None:
    with gateway.sessions.begin() as session:
        year = session.scalar(select(ClaimRow.period_start)).year  # type: ignore[union-attr]
    with _staff(gateway, Role.BUREAU) as staff:
        page = staff.get(f"/ui/fund?year={year}")
        assert page.status_code == 200 and 'id="fund-chart"' in page.text
        assert "policy-ltci" in page.text and 'id="warning"' not in page.text
        csrf = csrf_of(page.text)
        bad = {
            "csrf": csrf,
            "payer_code": "policy-ltci",
            "year": str(year),
            "budget": "lots",
            "warn_months": "3",
        }
        refused = staff.post("/ui/fund", data=bad, headers=ORIGIN)
        assert refused.status_code == 422 and 'value="lots"' in refused.text
        good = {**bad, "budget": "1000000.00", "balance": "0.01", "balance_on": f"{year}-12-01"}
        assert staff.post("/ui/fund", data=good, headers=ORIGIN).status_code == 303
        shown = staff.get(f"/ui/fund?year={year}&lang=en").text
        assert "1,000,000.00" in shown and 'id="warning"' in shown and "policy-ltci" in shown
        assert staff.get("/ui/fund?year=12").status_code == 422
        book = staff.get(f"/ui/fund.xlsx?year={year}")
        assert book.status_code == 200 and book.headers["content-type"].startswith("application/vnd.openxml")
        names = zipfile.ZipFile(io.BytesIO(book.content)).namelist()
        assert sum(1 for n in names if n.startswith("xl/worksheets/sheet")) == 7
    with gateway.sessions.begin() as session:
        assert session.scalars(
            select(AuditEntryRow.action).where(AuditEntryRow.action == "fund.figures")
        ).all()
    from gateway.services import fund

    with gateway.sessions.begin() as session:
        figures = fund.report(session, year)
        tier1 = next(f for f in figures["funds"] if f["payer_code"] == "policy-ltci")
        paid = sum(
            r["paid_fen"] for r in figures["by_month"] if r["tier"] == 1 and r["payer_code"] == "policy-ltci"
        )
        assert paid > 0 and tier1["paid_fen"] >= paid and tier1["warning"] is True
        assert sum(r["paid_fen"] for r in figures["by"]["setting"]) == sum(
            r["paid_fen"] for r in figures["by_month"]
        )


def test_scorecards_routing_and_audit_search(gateway: Gateway, coordinated: tuple[World, str]) -> None:
    """Item 4: a settling party's month (claims, decision times, dead-letter rate); dated route
    versions added on the routing page (a refused change comes back as typed, the field named,
    back-dating over a routed claim refused; listed with their states; audited); the audit trail
    searched by action."""
    _, claim_id = coordinated
    _dead_letter(gateway, claim_id)
    from gateway.services.scorecards import scorecards

    with gateway.sessions.begin() as session:
        year = session.scalar(select(ClaimRow.period_start)).year  # type: ignore[union-attr]
        cards = {c["party"]: c for c in scorecards(session, year)}
    fund = cards["policy-ltci"]
    assert fund["claims"] == 1 and fund["dead"] == 1 and fund["dead_rate"] == 100.0
    assert cards["huiminbao"]["median_seconds"] is not None and cards["huiminbao"]["dead"] == 0
    with _staff(gateway, Role.BUREAU) as staff:
        page = staff.get(f"/ui/scorecards?year={year}")
        assert page.status_code == 200 and "policy-ltci" in page.text and "100.0%" in page.text
        routing = staff.get("/ui/routing")
        assert routing.status_code == 200 and "policy-ltci" in routing.text
        csrf = csrf_of(routing.text)
        form = {
            "csrf": csrf,
            "payer_code": "policy-ltci",
            "effective_from": "someday",
            "routes": "330106 huiminbao",
        }
        for changed, status, named in (
            ({}, 422, "生效日期"),
            ({"effective_from": "2026-12-01", "routes": "330106 no-such-admin"}, 422, "第 1 行"),
            # over the coordinated claim (its provider's district 330102, service from 2026-11-01)
            ({"effective_from": "2026-11-01", "routes": "330102 huiminbao"}, 409, "P3301020001-202611-0001"),
        ):
            bad = staff.post("/ui/routing", data={**form, **changed}, headers=ORIGIN)
            assert bad.status_code == status and named in bad.text, bad.text
            typed = {**form, **changed}
            assert (
                f'value="{typed["effective_from"]}"' in bad.text
                and f"{typed['routes']}</textarea>" in bad.text
            )
        good = {**form, "effective_from": "2026-12-01", "routes": "330106 huiminbao\n330105 acme-life"}
        assert staff.post("/ui/routing", data=good, headers=ORIGIN).status_code == 303
        later = {**form, "effective_from": "2099-01-01", "routes": "330106 -"}
        assert staff.post("/ui/routing", data=later, headers=ORIGIN).status_code == 303
        shown = staff.get("/ui/routing?lang=en").text
        rows = re.findall(r'<tr class="route-(\w+)" data-district="(\d+)">', shown)
        assert rows == [("current", "330105"), ("current", "330106"), ("future", "330106")]
        assert "2099-01-01" in shown and "Not routed" in shown
        found = staff.get("/ui/audit?action=routes.")
        assert found.status_code == 200 and found.text.count('class="action">routes.versioned<') == 2
        assert staff.get("/ui/audit?from=someday").status_code == 422


def test_the_audit_page_verifies_the_chain_in_the_background_and_shows_the_verdict(
    gateway: Gateway, coordinated: tuple[World, str]
) -> None:
    """``audit verify``'s result on the audit page: started from the page, recorded as an audit
    entry, shown with its entries counted; an edited entry turns the next verdict."""
    with _staff(gateway, Role.BUREAU) as staff:
        page = staff.get("/ui/audit")
        assert 'id="verify"' in page.text and "审计链尚未核验" in page.text

        def verified(seen: int) -> str:
            started = staff.post("/ui/audit/verify", data={"csrf": csrf_of(page.text)}, headers=ORIGIN)
            assert started.status_code == 303
            for _ in range(300):  # until the thread has recorded its verdict (a bound on polls)
                shown = staff.get("/ui/audit?action=audit.verified")
                assert shown.status_code == 200, shown.text
                if shown.text.count('class="action">audit.verified<') > seen:
                    return shown.text
                time.sleep(0.05)
            raise AssertionError("no verdict recorded")

        intact = verified(0)
        assert 'data-intact="yes"' in intact and "审计链完整" in intact
        with gateway.sessions.begin() as session:
            first = session.scalar(select(AuditEntryRow).order_by(AuditEntryRow.id).limit(1))
            assert first is not None
            session.execute(update(AuditEntryRow).where(AuditEntryRow.id == first.id).values(actor="mallory"))
        broken = verified(1)
        assert 'data-intact="no"' in broken and f"entry {first.id}" in broken
