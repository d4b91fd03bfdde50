from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gateway.bootstrap import Gateway
from gateway.domain.products import Product
from gateway.reference.registry import onboard
from ltc_gateway.app import create_app
from ltc_sandbox.payer_set import SandboxPayers
from tests.integration.world import World, example_products


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gateway, embedded_workers=0)) as test_client:
        yield test_client


@pytest.fixture
def world(gateway: Gateway, client: TestClient) -> World:
    return World(gateway, client)


@pytest.fixture
def sandboxes(world: World) -> Iterator[SandboxPayers]:
    products = [Product.model_validate(p) for p in example_products()]
    payers = SandboxPayers(products).start()
    with world.gateway.sessions.begin() as session:
        onboard(session, payers.payer_documents(), example_products())
    yield payers
    payers.stop()
