from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.sandbox import SandboxPayers
from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.domain.products import Product
from gateway.services.registry import load_payer
from gateway.services.routing import set_routes
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
    world.load_products()
    with world.gateway.sessions.begin() as session:
        for document in payers.payer_documents():
            load_payer(session, {k: v for k, v in document.items() if k != "routes"})
        for document in payers.payer_documents():
            if "routes" in document:
                set_routes(session, document["payer_code"], document["routes"])
    yield payers
    payers.stop()
