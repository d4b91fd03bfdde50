from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from tests.integration.world import World


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gateway, embedded_workers=0)) as test_client:
        yield test_client


@pytest.fixture
def world(gateway: Gateway, client: TestClient) -> World:
    return World(gateway, client)
