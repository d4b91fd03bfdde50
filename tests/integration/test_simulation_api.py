"""Policy simulation over HTTP (domain.md sections 7 and 9), on SQLite and PostgreSQL: the bureau
starts one (202), polls its progress and reads the report; the same inputs give the same figures;
a payer reads the anonymised coverage gap only; the refusals name the field."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from gateway.bootstrap import Gateway
from gateway.services.keys import Role, create_key
from gateway.simulation import city
from gateway.storage.migrate import upgrade_engine
from gateway.storage.tables import AuditEntryRow, SimulationRow, utcnow
from ltc_gateway.app import create_app

DRAFT = json.loads(
    (Path(__file__).parents[2] / "examples" / "drafts" / "tier1-75-percent-grade2.json").read_text()
)
K = 2  # small enough for the small city to publish some cells


def _done(client: TestClient, location: str, key: str) -> dict[str, Any]:
    """Polled as a client would, until it is no longer queued or running (bounded, no clock)."""
    seen = []
    for _ in range(3000):
        view = client.get(location, headers={"Authorization": f"Bearer {key}"}).json()
        seen.append(view["progress"]["phase"])
        if view["status"] not in ("queued", "running"):
            return view
        time.sleep(0.05)
    raise AssertionError(f"still running: {seen[-3:]}")


def test_the_bureau_starts_a_simulation_polls_it_and_a_payer_sees_the_anonymised_gap_only(
    gateway: Gateway,
) -> None:
    upgrade_engine(gateway.engine)
    period = city.generate(gateway, 6, seed=3)
    gateway.settings = replace(gateway.settings, simulation_min_cell_members=K, simulation_max_running=2)
    with gateway.sessions.begin() as session:
        bureau = {"Authorization": f"Bearer {create_key(session, Role.BUREAU, 'bureau')[1]}"}
        payer_key = create_key(session, Role.PAYER, city.TIER2)[1]
        provider = {"Authorization": f"Bearer {create_key(session, Role.PROVIDER, 'P330102N01')[1]}"}
    document = {
        "period": {"from": period.first, "to": period.last},
        "drafts": [DRAFT],
        "funding": {"per_person_year_fen": 9000, "fund_balance_fen": 10_000_000},
    }
    with TestClient(create_app(gateway, embedded_workers=0)) as client:
        started = client.post("/v1/simulations", json=document, headers={**bureau, "Idempotency-Key": "s-1"})
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert location == f"/v1/simulations/{started.json()['simulation_id']}"
        again = client.post("/v1/simulations", json=document, headers={**bureau, "Idempotency-Key": "s-1"})
        assert again.headers.get("idempotency-replayed") == "true" and again.json() == started.json()

        first = _done(client, location, bureau["Authorization"][7:])
        assert first["status"] == "done", first
        assert first["progress"] == {"phase": "done", "done": 6, "total": 6, "unit": "members"}
        report = first["report"]
        assert report["drafts"] == ["CITY-LTCI-2025"] and report["members"] == 6
        tier1 = report["tiers"]["tier 1"]["paid_fen"]
        assert tier1[1] > tier1[0]  # 75 % and grade 2: the fund pays more
        assert report["funding"]["months_of_payment_left"][1] is not None

        # the same inputs (another request) give the same figures, with the same digest
        second = client.post("/v1/simulations", json=document, headers=bureau)
        repeat = _done(client, second.headers["location"], bureau["Authorization"][7:])
        assert repeat["report"] == report and repeat["inputs_digest"] == first["inputs_digest"]
        # unchanged products: every tier's simulated figure is what was paid
        plain = client.post("/v1/simulations", json={"period": document["period"]}, headers=bureau)
        unchanged = _done(client, plain.headers["location"], bureau["Authorization"][7:])["report"]
        assert all(e["paid_fen"][0] == e["paid_fen"][1] for e in unchanged["products"].values())

        # a payer: the coverage gap, no member, no fund figure, no cell under k
        as_payer = client.get(location, headers={"Authorization": f"Bearer {payer_key}"})
        assert as_payer.status_code == 200
        seen = as_payer.json()
        assert set(seen) == {
            "simulation_id",
            "status",
            "progress",
            "period",
            "created_at",
            "finished_at",
            "coverage_gap",
        }
        assert "M-" not in as_payer.text and "fen" not in json.dumps(seen["progress"])
        cells = seen["coverage_gap"]["cells"]
        assert any(not c["suppressed"] for c in cells) and any(c["suppressed"] for c in cells)
        assert all(c["members"] >= K for c in cells if not c["suppressed"])
        assert all(set(c) == {"grade", "setting", "month", "suppressed"} for c in cells if c["suppressed"])
        payer = {"Authorization": f"Bearer {payer_key}"}
        assert client.post("/v1/simulations", json=document, headers=payer).status_code == 403
        assert client.get(location, headers=provider).status_code == 403
        assert client.get("/v1/simulations/99999", headers=bureau).status_code == 404

        # refusals name the field
        for body, pointer in (
            ({"period": {"from": "2026-13", "to": "2026-12"}}, "/period/from"),
            ({"period": {"from": "2026-05", "to": "2026-01"}}, "/period/to"),
            ({"period": {"from": "2024-01", "to": "2026-01"}}, "/period/to"),
            ({"period": document["period"], "drafts": [{"product_code": "NONE"}]}, "/drafts/0/product_code"),
            (
                {
                    "period": document["period"],
                    "drafts": [
                        {"product_code": "CITY-LTCI-2025", "changes": {"eligibility": {"min_grade": 9}}}
                    ],
                },
                "/drafts/0/eligibility/min_grade",
            ),
            ({"generated": {"members": 0}}, "/generated/members"),
            ({"generated": {"members": 2}, "speed": "fast"}, "/speed"),
        ):
            refused = client.post("/v1/simulations", json=body, headers=bureau)
            assert refused.status_code == 422, body
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert any(e["pointer"].startswith(pointer) for e in refused.json()["errors"]), refused.json()

        # at most LTC_SIMULATION_MAX_RUNNING at once
        with gateway.sessions.begin() as session:
            for _ in range(2):
                session.add(
                    SimulationRow(
                        created_by="t",
                        inputs=document,
                        status="running",
                        phase="replaying",
                        updated_at=utcnow(),
                    )
                )
        busy = client.post("/v1/simulations", json=document, headers=bureau)
        assert busy.status_code == 409, busy.text

    with gateway.sessions() as session:
        audited = session.execute(
            select(AuditEntryRow.action, AuditEntryRow.actor, AuditEntryRow.detail)
            .where(AuditEntryRow.subject == f"simulation:{first['simulation_id']}")
            .order_by(AuditEntryRow.id)
        ).all()
    assert [a for a, _, _ in audited] == ["simulation.started", "simulation.done"]
    assert all(actor.startswith("bureau:bureau") for _, actor, _ in audited)
    assert audited[0][2]["inputs_digest"] == first["inputs_digest"]


def test_a_simulation_running_when_the_application_stops_is_stored_as_stopped(gateway: Gateway) -> None:
    with gateway.sessions.begin() as session:
        bureau = {"Authorization": f"Bearer {create_key(session, Role.BUREAU, 'bureau')[1]}"}
    with TestClient(create_app(gateway, embedded_workers=0)) as client:
        started = client.post("/v1/simulations", json={"generated": {"members": 3}}, headers=bureau)
        assert started.status_code == 202, started.text
    # the application stopped (its lifespan ended) while the city was being generated
    with gateway.sessions() as session:
        row = session.get_one(SimulationRow, started.json()["simulation_id"])
        actions = session.scalars(
            select(AuditEntryRow.action)
            .where(AuditEntryRow.subject == f"simulation:{row.id}")
            .order_by(AuditEntryRow.id)
        ).all()
    assert row.status == "failed" and (row.error or "").startswith("stopped"), (row.status, row.error)
    assert list(actions) == ["simulation.started", "simulation.failed"]
