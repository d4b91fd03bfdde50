"""Webhooks to providers (docs/webhooks.md), against a real local HTTP receiver on a loopback
port: a coordinated claim reaches it signed, and docs/webhooks.md's own verification example
accepts the request; a receiver that is down for a while gets the event once it is up; one that
stays down dead-letters it, and a replay delivers it; another provider can neither read nor
replay; the secret is in no table as text and in no log line. Retries are short (settings)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Text, select, type_coerce

from gateway.observability.metrics import REGISTRY
from gateway.orchestration.moves import fail
from gateway.orchestration.webhook_delivery import DeliveryPolicy, WebhookDispatcher
from gateway.orchestration.worker import Worker
from gateway.services.keys import Role
from gateway.storage import personal
from gateway.storage.rekey import rekey_messages
from gateway.storage.tables import ClaimRow, WebhookDeliveryRow, WebhookEndpointRow
from tests.integration.contract_tour import Exchange
from tests.integration.openapi_check import check_live, gateway_description_of
from tests.integration.test_personal_data import as_texts, data_keys
from tests.integration.world import World, auth

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


class Receiver:
    """A provider's endpoint: records each request, answers 200."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A loopback port nothing listens on (the receiver that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def local(world: World) -> World:
    """The example's provider, with webhooks to loopback allowed and short retries."""
    world.gateway.settings = replace(
        world.gateway.settings,
        webhook_allow_local=True,
        webhook_retry_seconds=0.02,
        webhook_retry_max_seconds=0.05,
        webhook_max_attempts=3,
    )
    assert world.post("/v1/providers", world.scenario["provider"], world.bureau).status_code == 201
    return world


@pytest.fixture
def hooks(local: World) -> World:
    """The worked example's world (products, enrolments, the assessment) besides."""
    local.load_products()
    local.register_agency()
    for enrollment in local.scenario["enrollments"]:
        payer = enrollment.pop("payer_code")
        key = local.bureau if payer == "policy-ltci" else local.payer(payer)
        answer = local.post(f"/v1/payers/{payer}/enrollments", {"enrollments": [enrollment]}, key)
        assert answer.status_code == 200, answer.text
    answer = local.post("/v1/assessments", local.scenario["assessment"], local.agency)
    assert answer.status_code == 201, answer.text
    local.assessment_id = answer.json()["assessment_id"]
    return local


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def dispatcher(world: World) -> WebhookDispatcher:
    return WebhookDispatcher(world.gateway.sessions, DeliveryPolicy.from_settings(world.gateway.settings))


def deliver_until(world: World, done: Callable[[], bool], rounds: int = 200) -> None:
    """Send what is due until ``done``; retries come due after the short backoff."""
    sender = dispatcher(world)
    for _ in range(rounds):
        sender.drain()
        if done():
            return
        time.sleep(0.01)
    raise AssertionError("not done after the rounds allowed")


def register(world: World, url: str, events: list[str] | None = None, key: str | None = None) -> Any:
    body = {"url": url, "event_types": events or ["claim.coordinated"]}
    answer = world.post("/v1/webhooks", body, key or world.provider)
    assert answer.status_code == 201, answer.text
    return answer.json()


def coordinated_claim(world: World) -> str:
    claim_id: str = world.submit().json()["claim_id"]
    world.coordinate()
    return claim_id


def log_of(world: World, webhook_id: int, key: str | None = None) -> list[dict[str, Any]]:
    answer = world.get(f"/v1/webhooks/{webhook_id}/deliveries", key or world.provider)
    assert answer.status_code == 200, answer.text
    deliveries: list[dict[str, Any]] = answer.json()["deliveries"]
    return deliveries


def docs_verify() -> Callable[..., bool]:
    """The verification example of docs/webhooks.md, run as it is written there."""
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert code is not None, "docs/webhooks.md has no python example"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_a_coordinated_claim_reaches_the_receiver_signed_as_the_docs_verify_it_without_personal_data(
    hooks: World, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = {"url": receiver.url, "event_types": ["claim.coordinated"]}
    once = {**auth(hooks.provider), "Idempotency-Key": "hook-1"}
    answer = hooks.client.post("/v1/webhooks", json=request, headers=once)
    assert answer.status_code == 201, answer.text
    assert hooks.client.post("/v1/webhooks", json=request, headers=once).json() == answer.json()  # kept
    endpoint = answer.json()
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    claim_id = hooks.submit().json()["claim_id"]
    delivered = REGISTRY.get_sample_value("ltc_webhook_deliveries_total", {"outcome": "delivered"}) or 0
    # a worker as `ltc-gateway worker` makes it: the fan-out, then its webhooks
    gateway = hooks.gateway
    Worker.from_settings(gateway.sessions, gateway.catalogue, gateway.settings).drain()
    assert len(receiver.received) == 1
    assert (
        REGISTRY.get_sample_value("ltc_webhook_deliveries_total", {"outcome": "delivered"}) == delivered + 1
    )
    headers, body = receiver.received[0]
    verify = docs_verify()
    assert verify(secret, headers["x-ltc-signature"], body)
    assert not verify(secret, headers["x-ltc-signature"], body.replace(b"coordinated", b"failed"))
    assert not verify("whsec_another", headers["x-ltc-signature"], body)
    stale = re.sub(r"t=\d+", f"t={int(time.time()) - 3600}", headers["x-ltc-signature"])
    assert not verify(secret, stale, body)  # an old timestamp: a replayed request
    event = json.loads(body)
    assert set(event) == {"event_id", "type", "occurred_at", "claim_id", "claim_number", "status", "round"}
    assert event["type"] == "claim.coordinated" and event["status"] == "coordinated"
    assert event["claim_id"] == claim_id and headers["x-ltc-event-id"] == event["event_id"]
    member = hooks.scenario["assessment"]["member"]
    assert member["id_number"] not in body.decode() and member["name"] not in body.decode()
    [logged] = log_of(hooks, endpoint["webhook_id"])
    assert logged["status"] == "sent" and logged["attempts"] == 1 and logged["last_status_code"] == 200
    assert logged["event_id"] == event["event_id"] and logged["next_attempt_at"] is None
    # the list never shows the secret again; the secret is in no column as text, nor in any log line
    listed = hooks.get("/v1/webhooks", hooks.provider).json()["webhooks"]
    assert [w["webhook_id"] for w in listed] == [endpoint["webhook_id"]] and "secret" not in listed[0]
    metadata = MetaData()
    metadata.reflect(bind=hooks.gateway.engine)
    with hooks.gateway.engine.connect() as connection:
        stored = [
            f"{table.name}.{column}"
            for table in metadata.sorted_tables
            for row in connection.execute(select(table))
            for column, value in row._mapping.items()
            if any(secret in text for text in as_texts(value))
        ]
    assert stored == []
    assert caplog.records and not [r for r in caplog.records if secret in r.getMessage() + str(r.__dict__)]


def test_a_receiver_down_for_a_while_gets_the_event_once_it_is_up(hooks: World) -> None:
    """A running worker (as ``ltc-gateway worker``): it coordinates the claim, is refused by the
    receiver until it starts, and then delivers the event to it, once."""
    port = free_port()
    endpoint = register(hooks, f"http://127.0.0.1:{port}/hooks")
    gateway = hooks.gateway
    gateway.settings = replace(gateway.settings, webhook_max_attempts=10_000, worker_poll_seconds=0.02)
    hooks.submit()
    receivers: list[Receiver] = []  # made once the port is to listen: binding it starts that

    def refused_twice() -> int:  # two attempts or more made and recorded (none in flight): how many
        with gateway.sessions.begin() as session:
            row = session.scalar(select(WebhookDeliveryRow))
            settled = row is not None and row.attempts >= 2 and row.lease_owner is None
            return row.attempts if row is not None and settled else 0

    async def until(done: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + 60  # bounds the wait; fails only if it never comes
        while not (value := await asyncio.to_thread(done)):
            assert time.monotonic() < deadline, "never came"
            await asyncio.sleep(0.02)
        return value

    async def scenario() -> tuple[int, list[dict[str, Any]]]:
        stop = asyncio.Event()
        worker = Worker.from_settings(gateway.sessions, gateway.catalogue, gateway.settings)
        running = asyncio.create_task(worker.run(stop))
        try:
            failed = await until(refused_twice)  # refused, and retried: nothing listens yet
            down = await asyncio.to_thread(log_of, hooks, endpoint["webhook_id"])
            receivers.append(Receiver(port).start())
            await until(lambda: len(receivers[0].received) >= 1)
        finally:
            stop.set()
            await running
        return failed, down

    try:
        failed, [waiting] = asyncio.run(scenario())
        [sent] = log_of(hooks, endpoint["webhook_id"])
    finally:
        for receiver in receivers:
            receiver.stop()
    assert waiting["status"] == "waiting" and waiting["attempts"] >= 2 and waiting["last_error"]
    assert waiting["next_attempt_at"] is not None and waiting["last_status_code"] is None
    assert sent["status"] == "sent" and sent["attempts"] > failed and sent["last_status_code"] == 200
    assert [h["x-ltc-event-id"] for h, _ in receivers[0].received] == [sent["event_id"]]  # once


def test_a_receiver_always_down_dead_letters_the_event_and_a_replay_delivers_it_to_its_provider_only(
    hooks: World,
) -> None:
    port = free_port()
    body = {"url": f"http://127.0.0.1:{port}/hooks", "event_types": ["claim.coordinated"]}
    registered = hooks.post("/v1/webhooks", body, hooks.provider)
    assert registered.status_code == 201 and registered.headers["location"].startswith("/v1/webhooks/")
    webhook_id = registered.json()["webhook_id"]
    coordinated_claim(hooks)
    deliver_until(hooks, lambda: log_of(hooks, webhook_id)[0]["status"] == "dead")
    [dead] = log_of(hooks, webhook_id)
    assert dead["dead_lettered"] and dead["attempts"] == 3
    assert "gave up after 3 attempts" in dead["last_error"]
    # another provider sees none of it, and cannot replay or delete it
    other = hooks.key(Role.PROVIDER, "another-care-home")
    assert hooks.get(f"/v1/webhooks/{webhook_id}/deliveries", other).status_code == 404
    replay = f"/v1/webhooks/deliveries/{dead['delivery_id']}/replay"
    assert hooks.post(replay, None, other).status_code == 404
    assert hooks.client.delete(f"/v1/webhooks/{webhook_id}", headers=auth(other)).status_code == 404
    assert hooks.get("/v1/webhooks", other).json() == {"webhooks": []}
    receiver = Receiver(port).start()
    try:
        once = {**auth(hooks.provider), "Idempotency-Key": "replay-1"}
        first = hooks.client.post(replay, headers=once)
        assert first.status_code == 201, first.text
        again = hooks.client.post(replay, headers=once)
        assert again.json() == first.json() and again.headers["Idempotency-Replayed"] == "true"
        replayed = first.json()
        assert replayed["replay_of"] == dead["delivery_id"] and replayed["event_id"] == dead["event_id"]
        waiting = f"/v1/webhooks/deliveries/{replayed['delivery_id']}/replay"
        assert hooks.post(waiting, None, hooks.provider).status_code == 409  # nothing to replay yet
        deliver_until(hooks, lambda: len(receiver.received) == 1)
        assert receiver.received[0][0]["x-ltc-event-id"] == dead["event_id"]
        newest, oldest = log_of(hooks, webhook_id)
        assert newest["status"] == "sent" and oldest["status"] == "dead"
        # the real answers are the ones the contract declares
        page = hooks.get(f"/v1/webhooks/{webhook_id}/deliveries?limit=1", hooks.provider)
        assert page.json()["next_cursor"] == str(newest["delivery_id"])
        rest = hooks.get(
            f"/v1/webhooks/{webhook_id}/deliveries?cursor={page.json()['next_cursor']}", hooks.provider
        )
        assert [d["delivery_id"] for d in rest.json()["deliveries"]] == [oldest["delivery_id"]]
        deleted = hooks.client.delete(f"/v1/webhooks/{webhook_id}", headers=auth(hooks.provider))
        listed = hooks.get("/v1/webhooks", hooks.provider)
        answers = [
            ("post", "/v1/webhooks", registered),
            ("get", "/v1/webhooks", listed),
            ("get", "/v1/webhooks/{webhook_id}/deliveries", page),
            ("post", "/v1/webhooks/deliveries/{delivery_id}/replay", first),
            ("post", "/v1/webhooks/deliveries/{delivery_id}/replay", again),
            ("delete", "/v1/webhooks/{webhook_id}", deleted),
        ]
        exchanges = [
            Exchange(m, p, a.status_code, "application/json", dict(a.headers), a.json())
            for m, p, a in answers
        ]
        check_live(gateway_description_of(hooks), exchanges)
    finally:
        receiver.stop()


def test_the_fan_out_emits_failed_revised_and_voided_in_the_claims_own_transaction(hooks: World) -> None:
    events = ["claim.coordinated", "claim.failed", "claim.revised", "claim.voided"]
    endpoint = register(hooks, "http://127.0.0.1:9/hooks", events)
    claim_id = coordinated_claim(hooks)
    revision = {
        "claim_id": claim_id,
        "product_code": "CITY-LTCI-2025",
        "status": "decided",
        "cause": "audit: 2 bed-days not delivered",
        "lines": [
            {
                "line_no": 1,
                "paid_fen": 180000,
                "reasons": [
                    {"code": "OVER_UNIT_LIMIT", "amount_fen": 150000},
                    {"code": "COINSURANCE", "amount_fen": 120000},
                ],
            }
        ],
    }
    answer = hooks.post("/v1/payers/policy-ltci/decisions", revision, hooks.payer("policy-ltci"))
    assert answer.json()["outcome"] == "revised", answer.text
    hooks.coordinate()
    with hooks.gateway.sessions() as session:
        fail(session.get_one(ClaimRow, uuid.UUID(claim_id)))  # as a dead-lettered step fails it
        session.rollback()  # the change rolled back: no event either
    with hooks.gateway.sessions.begin() as session:
        fail(session.get_one(ClaimRow, uuid.UUID(claim_id)))
    voided = hooks.post(f"/v1/claims/{claim_id}/void", {"reason": "entered twice"}, hooks.provider)
    assert voided.status_code == 200, voided.text
    with hooks.gateway.sessions.begin() as session:
        rows = session.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id)).all()
        sent = [(r.event_type, r.payload["status"], r.payload["round"]) for r in rows]
    assert sent == [
        ("claim.coordinated", "coordinated", 1),
        ("claim.revised", "coordinating", 2),
        ("claim.coordinated", "coordinated", 2),
        ("claim.failed", "failed", 2),
        ("claim.voided", "voided", 3),
    ]
    assert len(log_of(hooks, endpoint["webhook_id"])) == 5


def test_rotating_the_data_key_re_encrypts_webhook_secrets(local: World) -> None:
    secret = register(local, "http://127.0.0.1:9/hooks")["secret"]
    newer = "k2:" + base64.b64encode(bytes(range(32))).decode()
    with data_keys(f"{newer},{personal._DEVELOPMENT}"):
        assert rekey_messages(local.gateway.sessions)["webhook_secrets"] == 1
        assert rekey_messages(local.gateway.sessions)["webhook_secrets"] == 0  # nothing left
        with local.gateway.sessions.begin() as session:
            stored = session.scalar(select(type_coerce(WebhookEndpointRow.secret, Text)))
            assert stored is not None and stored.startswith("k2:") and secret not in stored
            assert session.scalar(select(WebhookEndpointRow.secret)) == secret


def test_registration_refuses_bad_targets_and_is_bounded(local: World) -> None:
    hooks = local
    provider = hooks.provider
    cases = {
        "ftp://care.example/x": "/url",
        "http://user:pw@127.0.0.1/x": "/url",
        "http://127.0.0.1/x#frag": "/url",
    }
    for url, pointer in cases.items():
        answer = hooks.post("/v1/webhooks", {"url": url, "event_types": ["claim.coordinated"]}, provider)
        assert answer.status_code == 422, url
        assert [e["pointer"] for e in answer.json()["errors"]] == [pointer], answer.text
    body = {"url": "http://127.0.0.1/x", "event_types": ["claim.paid"]}
    unknown = hooks.post("/v1/webhooks", body, provider)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/event_types/0"
    # production rules: https only, and no local or private targets
    settings = hooks.gateway.settings
    hooks.gateway.settings = replace(settings, webhook_allow_local=False, webhook_max_endpoints=2)
    for url in (
        "http://care.example/x",
        "https://127.0.0.1/x",
        "https://169.254.169.254/x",
        "https://localhost/x",
    ):
        answer = hooks.post("/v1/webhooks", {"url": url, "event_types": ["claim.coordinated"]}, provider)
        assert answer.status_code == 422 and answer.json()["errors"][0]["pointer"] == "/url", url
    hooks.gateway.settings = replace(hooks.gateway.settings, webhook_allow_local=True)
    first = register(hooks, "http://127.0.0.1:9/a")
    register(hooks, "http://127.0.0.1:9/b")
    third = {"url": "http://127.0.0.1:9/c", "event_types": ["claim.failed"]}
    assert hooks.post("/v1/webhooks", third, provider).status_code == 409
    path = f"/v1/webhooks/{first['webhook_id']}"
    deleted = hooks.client.delete(path, headers=auth(provider))
    assert deleted.status_code == 200 and deleted.json()["deleted_at"] is not None
    assert "secret" not in deleted.json()
    assert hooks.client.delete(path, headers=auth(provider)).json() == deleted.json()
    register(hooks, "http://127.0.0.1:9/c")  # room again
    bad = hooks.get(f"/v1/webhooks/{first['webhook_id']}/deliveries?limit=0", provider)
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/limit"
    # only providers have webhooks
    assert hooks.get("/v1/webhooks", hooks.bureau).status_code == 403
