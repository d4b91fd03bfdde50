"""The worked example's world, set up through the public API as its parties would."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from starlette.testclient import TestClient

from examples import example, example_products
from gateway.bootstrap import Gateway
from gateway.orchestration.worker import Worker
from gateway.reference.registry import load_product
from gateway.services.keys import Role, create_key
from tests.people import own_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class World:
    gateway: Gateway
    client: TestClient
    keys: dict[str, str] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(example("worked-example.json")))
    assessment_id: str | None = None

    def key(self, role: Role, party: str) -> str:
        name = f"{role.value}:{party}"
        if name not in self.keys:
            with self.gateway.sessions.begin() as session:
                self.keys[name] = create_key(session, role, party)[1]
        return self.keys[name]

    def staff_key(self, username: str, *staff_roles: str, role: Role = Role.RECONCILER) -> str:
        """A key of ``username``'s own (the account made on first use, reconciler and approver
        unless ``staff_roles`` says), as four-eyes steps need: it acts as that person."""
        name = f"{role.value}:person:{username}"
        if name not in self.keys:
            self.keys[name] = own_key(self.gateway, username, *staff_roles, role=role)
        return self.keys[name]

    @property
    def bureau(self) -> str:
        return self.key(Role.BUREAU, "bureau")

    @property
    def provider(self) -> str:
        return self.key(Role.PROVIDER, self.scenario["provider"]["provider_code"])

    @property
    def agency(self) -> str:
        return self.key(Role.PROVIDER, self.scenario["assessment"]["agency_code"])

    def payer(self, code: str) -> str:
        return self.key(Role.PAYER, code)

    def post(self, path: str, body: Any, key: str, **kwargs: Any) -> Any:
        return self.client.post(path, json=body, headers=auth(key), **kwargs)

    def get(self, path: str, key: str) -> Any:
        return self.client.get(path, headers=auth(key))

    def load_products(self) -> None:
        with self.gateway.sessions.begin() as session:
            for product in example_products():
                load_product(session, product)

    def setup(self) -> World:
        """Products, provider, enrolments in every tier and the grade-4 assessment."""
        self.load_products()
        assert self.post("/v1/providers", self.scenario["provider"], self.bureau).status_code == 201
        self.register_agency()
        for enrollment in self.scenario["enrollments"]:
            payer = enrollment.pop("payer_code")
            key = self.bureau if payer == "policy-ltci" else self.payer(payer)
            response = self.post(f"/v1/payers/{payer}/enrollments", {"enrollments": [enrollment]}, key)
            assert response.status_code == 200, response.text
        response = self.post("/v1/assessments", self.scenario["assessment"], self.agency)
        assert response.status_code == 201, response.text
        self.assessment_id = response.json()["assessment_id"]
        return self

    def register_agency(self) -> None:
        """The bureau designates the example's assessment agency (the only party that assesses)."""
        response = self.post("/v1/assessment-agencies", self.scenario["agency"], self.bureau)
        assert response.status_code in (200, 201), response.text

    def claim_body(self, **changes: Any) -> dict[str, Any]:
        body = copy.deepcopy(self.scenario["claim"])
        body["assessment_id"] = self.assessment_id
        body.update(changes)
        return body

    def submit(self, body: dict[str, Any] | None = None) -> Any:
        return self.post("/v1/claims", body or self.claim_body(), self.provider)

    def coordinate(self) -> int:
        return Worker(self.gateway.sessions, self.gateway.catalogue).drain()

    def claim(self, claim_id: str, key: str | None = None) -> dict[str, Any]:
        response = self.get(f"/v1/claims/{claim_id}", key or self.provider)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result
