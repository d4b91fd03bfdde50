"""Parties and scoping: every endpoint against every role (allowed, denied), and across parties:
a provider never sees another provider's claims, a payer sees only the shares routed to it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.services.keys import Role
from tests.integration.test_payers import drain
from tests.integration.world import World

ROLES = [Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER, Role.ADMIN]

# The contract of domain.md section 7: who may call what (route template → roles).
ALLOWED: dict[tuple[str, str], set[Role]] = {
    ("POST", "/v1/providers"): {Role.BUREAU},
    ("POST", "/v1/payers/{payer_code}/enrollments"): {Role.PAYER, Role.BUREAU},
    ("POST", "/v1/assessment-agencies"): {Role.BUREAU},
    ("POST", "/v1/assessments"): {Role.PROVIDER, Role.BUREAU},
    ("POST", "/v1/members/history"): {Role.BUREAU},
    ("POST", "/v1/coverage/query"): {Role.PROVIDER, Role.BUREAU},
    ("POST", "/v1/claims"): {Role.PROVIDER},
    ("GET", "/v1/claims"): {Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER},
    ("POST", "/v1/claims/search"): {Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER},
    ("GET", "/v1/claims/{claim_id}"): {Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER},
    ("GET", "/v1/claims/{claim_id}/statement.html"): {
        Role.PROVIDER,
        Role.PAYER,
        Role.BUREAU,
        Role.RECONCILER,
    },
    ("GET", "/v1/claims/{claim_id}/statement.pdf"): {Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER},
    ("GET", "/v1/providers/{provider_code}/monthly-statements/{month}.xlsx"): {Role.PROVIDER, Role.BUREAU},
    ("GET", "/v1/providers/{provider_code}/monthly-statements/{month}.csv"): {Role.PROVIDER, Role.BUREAU},
    ("POST", "/v1/claims/{claim_id}/void"): {Role.PROVIDER},
    ("POST", "/v1/claims/{claim_id}/replace"): {Role.PROVIDER},
    ("POST", "/v1/payers/{payer_code}/decisions"): {Role.PAYER},
    ("POST", "/v1/payers/{payer_code}/statements"): {Role.PAYER, Role.BUREAU},
    ("PUT", "/v1/payers/{payer_code}/routes"): {Role.BUREAU},
    ("GET", "/v1/payers/{payer_code}/routes"): {Role.BUREAU},
    ("GET", "/v1/steps/failed"): {Role.BUREAU},
    ("POST", "/v1/simulations"): {Role.BUREAU},
    ("POST", "/v1/claims/batches"): {Role.PROVIDER},
    ("GET", "/v1/claims/batches/{batch_id}"): {Role.PROVIDER, Role.BUREAU},
    ("GET", "/v1/claims/batches/template.xlsx"): {Role.PROVIDER, Role.BUREAU},
    ("GET", "/v1/claims/batches/template.csv"): {Role.PROVIDER, Role.BUREAU},
    ("GET", "/v1/simulations/{id}"): {Role.BUREAU, Role.PAYER},
    ("POST", "/v1/steps/{step_id}/rerun"): {Role.BUREAU},
    ("POST", "/v1/notices/{notice_id}/resend"): {Role.BUREAU},
    ("POST", "/v1/reconciliation/runs"): {Role.RECONCILER, Role.BUREAU},
    ("GET", "/v1/reconciliation/runs"): {Role.RECONCILER, Role.BUREAU},
    ("GET", "/v1/reconciliation/runs/{run}"): {Role.RECONCILER, Role.BUREAU},
    ("GET", "/v1/reconciliation/mismatches"): {Role.RECONCILER, Role.BUREAU},
    ("GET", "/v1/reconciliation/mismatches/{id}"): {Role.RECONCILER, Role.BUREAU},
    ("POST", "/v1/reconciliation/mismatches/{id}/resolution"): {Role.RECONCILER},
    ("POST", "/v1/reconciliation/mismatches/resolutions"): {Role.RECONCILER},
    ("GET", "/v1/reconciliation/batches"): {Role.RECONCILER, Role.BUREAU},
    ("POST", "/v1/reconciliation/batches"): {Role.RECONCILER},
    ("GET", "/v1/reconciliation/batches/{id}"): {Role.RECONCILER, Role.BUREAU},
    ("GET", "/v1/reconciliation/settlement-batches"): {Role.RECONCILER, Role.BUREAU, Role.PAYER},
    ("POST", "/v1/reconciliation/settlement-batches"): {Role.RECONCILER},
    ("GET", "/v1/reconciliation/settlement-batches/{id}"): {Role.RECONCILER, Role.BUREAU, Role.PAYER},
    ("GET", "/v1/reconciliation/settlement-batches/{id}.xlsx"): {Role.RECONCILER, Role.BUREAU, Role.PAYER},
    ("GET", "/v1/reconciliation/settlement-batches/{id}.csv"): {Role.RECONCILER, Role.BUREAU, Role.PAYER},
    ("GET", "/v1/reconciliation/settlement-batches/{id}/payment-file.xlsx"): {
        Role.RECONCILER,
        Role.BUREAU,
        Role.PAYER,
    },
    ("GET", "/v1/reconciliation/settlement-batches/{id}/payment-file.csv"): {
        Role.RECONCILER,
        Role.BUREAU,
        Role.PAYER,
    },
    # the transition's own rule (reconciliation/clearing.py) says which of the two takes which step
    ("POST", "/v1/reconciliation/settlement-batches/{id}/transitions"): {Role.RECONCILER, Role.BUREAU},
    ("POST", "/v1/webhooks"): {Role.PROVIDER},
    ("GET", "/v1/webhooks"): {Role.PROVIDER},
    ("DELETE", "/v1/webhooks/{webhook_id}"): {Role.PROVIDER},
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): {Role.PROVIDER},
    ("POST", "/v1/webhooks/deliveries/{delivery_id}/replay"): {Role.PROVIDER},
}
EXAMPLE = {
    "{payer_code}": "huiminbao",
    "{claim_id}": "00000000-0000-0000-0000-000000000000",
    "{step_id}": "1",
    "{run}": "2026-11-30",
    "{id}": "1",
    "{provider_code}": "P3301020001",
    "{month}": "2026-11",
    "{webhook_id}": "1",
    "{batch_id}": "1",
    "{delivery_id}": "1",
}


def concrete(template: str) -> str:
    for name, value in EXAMPLE.items():
        template = template.replace(name, value)
    return template


def party_of(role: Role, world: World) -> str:
    return {
        Role.PROVIDER: world.scenario["provider"]["provider_code"],
        Role.PAYER: "huiminbao",
        Role.BUREAU: "bureau",
        Role.RECONCILER: "zhang",
        Role.ADMIN: "ops",
    }[role]


def test_every_api_endpoint_is_in_the_matrix(world: World) -> None:
    from starlette.routing import Route

    declared = {
        (m, r.path)
        for r in world.client.app.routes
        if isinstance(r, Route) and r.path.startswith("/v1")
        for m in (r.methods or set()) - {"HEAD"}
    }
    assert declared == set(ALLOWED)


@pytest.mark.parametrize(("method", "path"), sorted(ALLOWED))
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_each_role_is_allowed_or_denied(world: World, method: str, path: str, role: Role) -> None:
    key = world.key(role, party_of(role, world))
    url = concrete(path)
    headers = {"Authorization": f"Bearer {key}"}
    body: Any = {} if method in ("POST", "PUT") else None
    response = world.client.request(method, url, json=body, headers=headers)
    denied_by_role = response.status_code == 403 and "may not do this" in response.json()["detail"]
    if role in ALLOWED[(method, path)]:
        # past the role check (a 403 after it is the use case's own rule, e.g. an unregistered provider)
        assert response.status_code != 401 and not denied_by_role, response.text
    else:
        assert denied_by_role, (role, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    anonymous = world.client.request(method, url, json=body)
    assert anonymous.status_code == 401


def test_a_provider_never_sees_another_provider_s_claim(world: World) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    other = world.key(Role.PROVIDER, "P-OTHER")
    answer = world.get(f"/v1/claims/{claim_id}", other)
    assert answer.status_code == 404  # the same answer as for a claim that does not exist
    assert world.get(f"/v1/claims/{claim_id}", world.provider).status_code == 200


def test_a_payer_sees_only_the_shares_routed_to_it(world: World) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id, world.payer("huiminbao"))
    assert [s["product_code"] for s in view["payers"]] == ["HMB-LTC-2026"]
    assert [p["product_code"] for line in view["lines"] for p in line["payments"]] == ["HMB-LTC-2026"]
    assert view["fixed_benefits"] == [] and view["member_responsibility_fen"] is None
    assert view["member_id_number"] == "110105********002X"
    acme = world.claim(claim_id, world.payer("acme-life"))
    assert {s["product_code"] for s in acme["payers"]} == {"ACME-LTC-CARE", "ACME-LTC-ANNUITY"}
    assert [f["amount_fen"] for f in acme["fixed_benefits"]] == [200000]
    assert world.get(f"/v1/claims/{claim_id}", world.payer("not-routed")).status_code == 404


def test_payers_act_only_for_themselves(world: World) -> None:
    world.setup()
    body = {
        "enrollments": [
            {"id_number": "110105199001019998", "product_code": "ACME-LTC-CARE", "start_date": "2025-01-01"}
        ]
    }
    assert world.post("/v1/payers/acme-life/enrollments", body, world.payer("huiminbao")).status_code == 403
    tier1 = {
        "enrollments": [
            {"id_number": "110105199001019998", "product_code": "CITY-LTCI-2025", "start_date": "2025-01-01"}
        ]
    }
    refused = world.post("/v1/payers/policy-ltci/enrollments", tier1, world.payer("policy-ltci"))
    assert refused.status_code == 422  # named on the field: tier-1 enrolment comes from the bureau
    assert refused.json()["errors"][0]["pointer"] == "/enrollments/0/product_code"
