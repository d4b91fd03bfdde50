"""Personal data at rest: the ID number and the name are stored encrypted and found by a keyed
hash, in the members table and in every stored message and answer; rotating the data key
re-encrypts them all (``ltc-gateway data rekey``)."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import JSON, Engine, MetaData, Text, select, text, type_coerce, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.redaction import BLANK
from gateway.api.server import BackgroundServer
from gateway.ledger import business_date
from gateway.observability.logging import JsonFormatter
from gateway.orchestration.steps import RetryPolicy
from gateway.reference.registry import load_payer
from gateway.services.keys import Role
from gateway.storage import personal
from gateway.storage.tables import ClaimRow, IdempotencyKeyRow, OutboxRow, PayerStepRow, utcnow
from ltc_sandbox.payer_set import SandboxPayers
from tests.integration.test_cli import ltc
from tests.integration.test_payers import drain, one_body_per_key
from tests.integration.world import World, auth

ID_NUMBER, NAME = "11010519491231002X", "王秀英"
# The ID number without its check character (an ``x`` or a dropped ``X`` is still the number),
# and the name as JSON writes it by default (``\u738b…``).
RENAMED = "王秀瑛"  # the name a later assessment gives the member
NEEDLES = (ID_NUMBER, ID_NUMBER[:17], NAME, json.dumps(NAME)[1:-1], RENAMED, json.dumps(RENAMED)[1:-1])


def raw_members(world: World) -> list[tuple[str, str, str | None]]:
    with world.gateway.sessions.begin() as session:
        return [
            tuple(r) for r in session.execute(text("SELECT id_hash, id_number_enc, name_enc FROM members"))
        ]  # type: ignore[misc]


def test_the_id_number_and_name_are_never_stored_as_text(world: World) -> None:
    world.setup()
    [(id_hash, id_enc, name_enc)] = raw_members(world)
    stored = f"{id_hash}{id_enc}{name_enc}"
    assert ID_NUMBER not in stored and NAME not in stored and "002X" not in stored
    assert personal.decrypt(id_enc) == ID_NUMBER and personal.decrypt(name_enc or "") == NAME
    assert id_hash == personal.lookup_hash(ID_NUMBER)
    # found by the keyed hash: the coverage query and the claim still work
    coverage = world.post("/v1/coverage/query", {"id_number": ID_NUMBER, "on": "2026-11-15"}, world.bureau)
    assert coverage.status_code == 200 and coverage.json()["tiers"][0]["coverages"]
    assert world.submit().status_code == 202
    # encryption is randomised: the same text encrypts differently each time
    assert personal.encrypt(ID_NUMBER) != personal.encrypt(ID_NUMBER)


def test_rotating_the_data_key_re_encrypts_every_member(world: World, tmp_path: Path) -> None:
    world.setup()
    [(_, before, _)] = raw_members(world)
    old = os.environ.get("LTC_DATA_KEYS", "")
    new_key = "k2:" + base64.b64encode(os.urandom(32)).decode()
    current = old or personal._DEVELOPMENT
    env_keys = f"{new_key},{current}"
    result = ltc(
        "data",
        "rekey",
        url=world.gateway.settings.database_url,
        cwd=tmp_path,
        env={"LTC_DATA_KEYS": env_keys},
    )
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 1 members under data key 'k2'" in result.stdout
    [(_, after, _)] = raw_members(world)
    assert before.split(":")[0] != "k2" and after.startswith("k2:")
    os.environ["LTC_DATA_KEYS"] = env_keys
    personal._keys.cache_clear()
    try:
        assert personal.decrypt(after) == ID_NUMBER
    finally:
        if old:
            os.environ["LTC_DATA_KEYS"] = old
        else:
            del os.environ["LTC_DATA_KEYS"]
        personal._keys.cache_clear()


def as_texts(value: Any) -> list[str]:
    """Every way a stored value reads as text: as it is, and JSON text decoded (escapes undone)."""
    if value is None:
        return []
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return [raw.decode("utf-8", "replace"), raw.hex()]
    if isinstance(value, dict | list):
        return [json.dumps(value, ensure_ascii=False), json.dumps(value)]
    texts = [str(value)]
    if isinstance(value, str) and value[:1] in ("{", "[", '"'):
        with suppress(ValueError):
            texts.append(json.dumps(json.loads(value), ensure_ascii=False))
    return texts


def plain_personal_data(engine: Engine) -> tuple[list[str], dict[str, int]]:
    """Where the ID number or the name is stored as text: every column of every table, read raw
    (reflected, so no type of the gateway's opens anything); and the rows read per table."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    found, rows = [], {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows[table.name] = 0
            for row in connection.execute(select(table)):
                rows[table.name] += 1
                for column, value in row._mapping.items():
                    for needle in NEEDLES:
                        if any(needle in text_ for text_ in as_texts(value)):
                            found.append(f"{table.name}.{column}: {needle}")
    return sorted(set(found)), rows


def test_no_column_of_any_table_holds_the_id_number_or_the_name_as_text_after_a_full_flow(
    world: World, sandboxes: SandboxPayers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ltc_gateway")
    world.setup()
    # a later assessment names the member differently: the change is stored (and audited) too
    later = copy.deepcopy(world.scenario["assessment"])
    later["concluded_on"], later["member"]["name"] = "2026-09-02", RENAMED
    renamed = world.post("/v1/assessments", later, world.agency)
    assert renamed.status_code < 300, renamed.text
    # POSTs with an Idempotency-Key, each replayed: their stored answers are kept too
    once = {"Idempotency-Key": "personal-data-1"}
    coverage = {"id_number": ID_NUMBER, "on": "2026-11-15"}
    for path, body, key in (
        ("/v1/assessments", world.scenario["assessment"], world.agency),
        ("/v1/coverage/query", coverage, world.bureau),
        ("/v1/claims", world.claim_body(), world.provider),
    ):
        first = world.client.post(path, json=body, headers={**auth(key), **once})
        again = world.client.post(path, json=body, headers={**auth(key), **once})
        assert first.status_code in (200, 201, 202), first.text
        assert again.headers.get("idempotency-replayed") == "true"
        assert (again.status_code, again.content) == (first.status_code, first.content)
    claim_id = first.json()["claim_id"]  # the last one: the claim
    drain(world)  # through the sandbox payers (REST, REST, SOAP), with the assessment notices
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
    answer = world.post("/v1/payers/ltc-admin-east/decisions", revision, world.payer("ltc-admin-east"))
    assert answer.json()["outcome"] == "revised", answer.text
    drain(world)  # the later tiers again, and the adjustment notices
    view = world.claim(claim_id)
    assert view["status"] == "coordinated" and view["round"] == 2
    one_body_per_key(sandboxes)
    day = business_date().isoformat()
    statement = {
        "entries": [
            {
                "claim_id": claim_id,
                "line_no": 1,
                "paid_fen": 99900,
                "payer_reference": "HMB-X",
                "settled_on": day,
            }
        ]
    }
    imported = world.post("/v1/payers/huiminbao/statements", statement, world.payer("huiminbao"))
    assert imported.status_code == 201, imported.text
    reconciler = world.key(Role.RECONCILER, "zhang")
    run = world.post("/v1/reconciliation/runs", {"business_date": day, "wait": True}, reconciler)
    assert run.status_code == 201, run.text
    mismatches = world.get("/v1/reconciliation/mismatches", reconciler).json()["mismatches"]
    assert mismatches  # the statement's odd entry is a work item
    note = {"action": "request_correction", "note": "asked the payer"}
    acted = world.post(f"/v1/reconciliation/mismatches/{mismatches[0]['id']}/resolution", note, reconciler)
    assert acted.status_code == 200, acted.text

    found, rows = plain_personal_data(world.gateway.engine)
    assert found == [], found
    for table in ("payer_steps", "outbox", "idempotency_keys", "audit_log", "statement_lines", "mismatches"):
        assert rows[table] > 0, table  # the flow reached every table that might hold them
    # …and the personal data is there, sealed: the stored requests and notices open to it
    with world.gateway.sessions.begin() as session:
        requests = [r for r in session.scalars(select(PayerStepRow.request)) if r]
        notices = [
            p for k, p in session.execute(select(OutboxRow.kind, OutboxRow.payload)) if k == "assessment"
        ]
    assert requests and all(r["member"]["id_number"] == ID_NUMBER for r in requests)
    # each assessment's notice carries the member as that assessment recorded them
    assert notices and {n["member"]["name"] for n in notices} <= {NAME, RENAMED}
    assert any(n["member"]["name"] == NAME for n in notices)
    logged = [JsonFormatter().format(record) for record in caplog.records]
    assert logged and not [line for line in logged if any(needle in line for needle in NEEDLES)]


@contextmanager
def data_keys(keys: str) -> Iterator[None]:
    """This process encrypts and decrypts with ``keys`` (LTC_DATA_KEYS) meanwhile."""
    old = os.environ.get("LTC_DATA_KEYS")
    os.environ["LTC_DATA_KEYS"] = keys
    personal._keys.cache_clear()
    try:
        yield
    finally:
        if old is None:
            del os.environ["LTC_DATA_KEYS"]
        else:
            os.environ["LTC_DATA_KEYS"] = old
        personal._keys.cache_clear()


def sealed_values(world: World) -> list[str]:
    """The stored ciphertexts of every personal field and kept answer, as the database holds them."""
    values: list[str] = []

    def collect(document: Any) -> None:
        if isinstance(document, dict):
            for key, value in document.items():
                if key in personal.PERSONAL_FIELDS and isinstance(value, str):
                    values.append(value)
                else:
                    collect(value)
        elif isinstance(document, list):
            for value in document:
                collect(value)

    with world.gateway.engine.connect() as connection:
        for column in (PayerStepRow.request, OutboxRow.payload):
            for (stored,) in connection.execute(select(type_coerce(column, JSON))):
                collect(stored)
        values += connection.scalars(select(type_coerce(IdempotencyKeyRow.body, Text))).all()
    return values


def test_rotating_the_data_key_re_encrypts_stored_requests_notices_and_answers_and_a_resend_is_the_same(
    world: World, sandboxes: SandboxPayers, tmp_path: Path
) -> None:
    hmb = sandboxes.payers["huiminbao"]
    hmb.faults.fail_first = 4  # one lease's three calls fail; the step waits, its request stored
    world.setup()
    submitted = world.client.post(
        "/v1/claims", json=world.claim_body(), headers={**auth(world.provider), "Idempotency-Key": "k-1"}
    )
    assert submitted.status_code == 202, submitted.text
    claim_id = submitted.json()["claim_id"]
    waiting = RetryPolicy(
        attempts_per_lease=3, initial_seconds=0.01, max_seconds=0.02, lease_retry_seconds=3600
    )
    drain(world, waiting)
    assert [len(digests) for digests in hmb.submissions.values()] == [3]
    before = sealed_values(world)
    assert len(before) >= 4 and not [v for v in before if v.startswith("k2:")]
    with world.gateway.sessions.begin() as session:
        requests = len([r for r in session.scalars(select(PayerStepRow.request)) if r])
        notices = len(session.scalars(select(OutboxRow.id)).all())
    assert (requests, notices) == (2, 2)  # tier 1 decided, 惠民保 waiting; their assessment notices

    current = os.environ.get("LTC_DATA_KEYS") or personal._DEVELOPMENT
    keys = "k2:" + base64.b64encode(os.urandom(32)).decode() + "," + current
    result = ltc(
        "data", "rekey", url=world.gateway.settings.database_url, cwd=tmp_path, env={"LTC_DATA_KEYS": keys}
    )
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 2 stored requests, 2 notices and 1 kept answers under data key 'k2'" in result.stdout
    with data_keys(keys):
        after = sealed_values(world)
        assert len(after) == len(before) and all(v.startswith("k2:") for v in after)
        again = ltc(
            "data",
            "rekey",
            url=world.gateway.settings.database_url,
            cwd=tmp_path,
            env={"LTC_DATA_KEYS": keys},
        )
        assert "re-encrypted 0 stored requests, 0 notices and 0 kept answers" in again.stdout  # nothing left
        # the waiting step is resent from its resealed request: the same bytes under the same key
        with world.gateway.sessions.begin() as session:
            session.execute(update(ClaimRow).values(next_attempt_at=utcnow()))
        drain(world)
        assert world.claim(claim_id)["status"] == "coordinated"
        replayed = world.client.post(
            "/v1/claims", json=world.claim_body(), headers={**auth(world.provider), "Idempotency-Key": "k-1"}
        )
        assert replayed.content == submitted.content
    [digests] = hmb.submissions.values()
    assert len(digests) == 5 and len(set(digests)) == 1
    one_body_per_key(sandboxes)


def test_the_migration_seals_the_messages_stored_before_it(world: World, sandboxes: SandboxPayers) -> None:
    """Rows as revision 0010 left them (plain), sealed by 0016 in place; they read back the same."""
    world.setup()
    headers = {**auth(world.bureau), "Idempotency-Key": "q-1"}
    world.client.post(
        "/v1/coverage/query", json={"id_number": ID_NUMBER, "on": "2026-11-15"}, headers=headers
    )
    world.submit()
    drain(world)

    def stored() -> tuple[list[Any], ...]:
        with world.gateway.sessions.begin() as session:
            return (
                session.scalars(select(PayerStepRow.request).order_by(PayerStepRow.step_id)).all(),
                session.scalars(select(OutboxRow.payload).order_by(OutboxRow.id)).all(),
                session.scalars(select(IdempotencyKeyRow.body)).all(),
            )

    read = stored()
    path = Path(personal.__file__).parent / "migrations" / "versions" / "0016_sealed_messages.py"
    spec = importlib.util.spec_from_file_location("sealed_messages", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    def run(step: Any) -> None:
        with world.gateway.engine.begin() as connection:
            context = MigrationContext.configure(connection)
            with Operations.context(context):
                step()

    run(migration.downgrade)  # back to the plain form of revision 0010
    found, _ = plain_personal_data(world.gateway.engine)
    assert {f.partition(":")[0] for f in found} == {"payer_steps.request", "outbox.payload"}
    run(migration.upgrade)
    assert plain_personal_data(world.gateway.engine)[0] == []
    assert stored() == read


def echoing_payer() -> Starlette:
    """A payer that refuses every message, quoting the member it was sent (as some do)."""

    async def refuse(request: Request) -> JSONResponse:
        member = (await request.json()).get("member") or {}
        quoted = (
            f"member {member.get('name')} ({member.get('id_number')}, {member.get('id_number', '')[:17]})"
        )
        return JSONResponse({"error": f"not our member: {quoted}"}, status_code=422)

    return Starlette(routes=[Route("/{path:path}", refuse, methods=["POST", "GET"])])


def test_a_payers_error_that_quotes_the_member_is_stored_and_logged_without_them(
    world: World, sandboxes: SandboxPayers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ltc_gateway")
    server = BackgroundServer(echoing_payer()).start()
    try:
        with world.gateway.sessions.begin() as session:
            load_payer(
                session,
                {
                    "payer_code": "huiminbao",
                    "adapter": {"type": "rest", "base_url": server.url, "timeout_seconds": 5},
                },
            )
        world.setup()
        claim_id = world.submit().json()["claim_id"]
        drain(world)
    finally:
        server.stop()
    view = world.claim(claim_id, world.bureau)
    [dead] = [s for s in view["payers"] if s["status"] == "dead"]
    assert (
        dead["payer_code"] == "huiminbao"
        and "HTTP 422" in dead["error"]
        and "not our member" in dead["error"]
    )
    assert f"member {BLANK} ({BLANK}, {BLANK})" in dead["error"]  # what the payer said, less the member
    with world.gateway.sessions.begin() as session:
        notice = session.scalars(select(OutboxRow).where(OutboxRow.payer_code == "huiminbao")).one()
        assert notice.status == "dead" and notice.last_error and BLANK in notice.last_error
    assert plain_personal_data(world.gateway.engine)[0] == []  # steps, flags, audit, outbox
    logged = [JsonFormatter().format(record) for record in caplog.records]
    assert any("payer call failed" in line for line in logged)
    assert not [line for line in logged if any(needle in line for needle in NEEDLES)]
