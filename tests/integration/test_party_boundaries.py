"""Party boundaries on members and assessments (issue 18, item 3): only a designated assessment
agency assesses; an assessment never silently rewrites the member's identity; a claim is routed
by the assessment it cites."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from gateway.reference.registry import load_payer
from gateway.services.keys import Role
from gateway.storage.personal import encrypt, lookup_hash
from gateway.storage.tables import (
    AssessmentRow,
    AuditEntryRow,
    IdempotencyKeyRow,
    MemberVersionRow,
    PayerStepRow,
    utcnow,
)
from tests.integration.test_migrations import _upgrade, empty  # noqa: F401 (a fixture)
from tests.integration.world import World

OTHER_PROVIDER = {
    "provider_code": "P3301060002",
    "name": "另一家护理院",
    "district": "330106",
    "designated": True,
    "designated_from": "2024-01-01",
}
# where the member moved, as a later assessment records it
MOVED = {"text": "杭州市西湖区新居路8号", "lat": 30.2741, "lon": 120.1551, "district": "330106"}


def later_assessment(world: World, **member: Any) -> dict[str, Any]:
    body = copy.deepcopy(world.scenario["assessment"])
    body["concluded_on"] = "2026-10-15"
    body["member"].update(member)
    return body


def history(world: World, key: str) -> Any:
    return world.post("/v1/members/history", {"id_number": world.scenario["claim"]["member_id_number"]}, key)


def test_a_provider_that_is_not_an_assessment_agency_is_refused_with_403(world: World) -> None:
    world.setup()
    assert world.post("/v1/providers", OTHER_PROVIDER, world.bureau).status_code == 201
    other = world.key(Role.PROVIDER, OTHER_PROVIDER["provider_code"])
    # provider B grades provider A's member under its own code, with a new name and address
    body = later_assessment(world, name="李四", address=MOVED)
    del body["agency_code"]
    response = world.post("/v1/assessments", body, other)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["pointer"] for e in response.json()["errors"]] == ["/agency_code"]
    # naming another agency is refused as well, and so is the bureau naming no agency
    named = dict(body, agency_code=world.scenario["agency"]["agency_code"])
    assert world.post("/v1/assessments", named, other).status_code == 403
    assert world.post("/v1/assessments", body, world.bureau).status_code == 403
    # nothing changed: the member is as the agency recorded them, and the latest assessment is its
    versions = history(world, world.bureau).json()["versions"]
    assert [(v["version"], v["name"]) for v in versions] == [(1, "王秀英")]
    coverage = world.post(
        "/v1/coverage/query", {"id_number": body["member"]["id_number"], "on": "2026-11-30"}, world.provider
    ).json()
    assert coverage["assessment"]["assessment_id"] == world.assessment_id


def test_a_provider_grades_its_own_residents_only_where_the_city_allows_it(world: World) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    assert claim_id
    assert world.post("/v1/providers", OTHER_PROVIDER, world.bureau).status_code == 201
    other = world.key(Role.PROVIDER, OTHER_PROVIDER["provider_code"])
    own = later_assessment(world, id_number="110105199001019998", name="赵六")
    del own["agency_code"]
    assert world.post("/v1/assessments", own, world.provider).status_code == 403  # off by default
    world.gateway.settings = replace(world.gateway.settings, providers_may_assess=True)
    graded = world.post("/v1/assessments", own, world.provider)
    assert graded.status_code == 201, graded.text
    assert graded.json()["agency_code"] == world.scenario["provider"]["provider_code"]
    # provider A has claimed for its member: provider B may not grade them, even where allowed
    theirs = later_assessment(world)
    del theirs["agency_code"]
    refused = world.post("/v1/assessments", theirs, other)
    assert refused.status_code == 403
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/member/id_number"]


def test_an_agency_assessment_with_a_new_name_and_address_records_member_version_2(world: World) -> None:
    world.setup()
    before = datetime.now().astimezone()
    renamed = later_assessment(world, name="王秀英(更名)", address=MOVED)
    response = world.post("/v1/assessments", renamed, world.agency)
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["member_version"] == 2
    answer = history(world, world.bureau)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    first, new = found["versions"]
    # the old version is kept as it was
    assert (first["version"], first["name"], first["address"]["district"]) == (1, "王秀英", None)
    assert first["address"]["text"] == world.scenario["assessment"]["member"]["address"]["text"]
    assert (new["version"], new["name"], new["address"]) == (2, "王秀英(更名)", MOVED)
    # who and when
    agency = world.scenario["agency"]["agency_code"]
    assert new["recorded_by"]["party_code"] == agency
    assert new["recorded_by"]["key_id"] == world.agency.split("_")[1]
    assert datetime.fromisoformat(new["recorded_at"]) >= before
    assert first["recorded_by"]["party_code"] == agency
    assert [(a["assessment_id"], a["member_version"]) for a in found["assessments"]] == [
        (world.assessment_id, 1),
        (second["assessment_id"], 2),
    ]
    # audited, with the versions and what changed, never the name or address themselves
    with world.gateway.sessions.begin() as session:
        entries = list(
            session.scalars(select(AuditEntryRow).where(AuditEntryRow.action == "member.identity_changed"))
        )
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor == f"provider:{agency}"
    assert entry.detail["before"]["version"] == 1 and entry.detail["after"]["version"] == 2
    assert entry.detail["changed"] == ["name", "address"]
    assert entry.detail["assessment_id"] == second["assessment_id"]
    assert "王秀英" not in str(entry.detail) and "新居路" not in str(entry.detail)
    # the same identity again records no version
    again = later_assessment(world, name="王秀英(更名)", address=MOVED)
    again["concluded_on"] = "2026-10-20"
    assert world.post("/v1/assessments", again, world.agency).json()["member_version"] == 2
    # a read: an Idempotency-Key does not store the answer (names and addresses) in plain text
    keyed = world.client.post(
        "/v1/members/history",
        json={"id_number": world.scenario["claim"]["member_id_number"]},
        headers={"Authorization": f"Bearer {world.bureau}", "Idempotency-Key": "history-1"},
    )
    assert keyed.status_code == 200 and keyed.json()["versions"] == found["versions"]
    with world.gateway.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyKeyRow)) == 0
    # the bureau sees the history; no other party does
    for key in (world.provider, world.agency, world.payer("huiminbao"), world.key(Role.RECONCILER, "zhang")):
        denied = history(world, key)
        assert denied.status_code == 403, denied.text
    unknown = world.post("/v1/members/history", {"id_number": "110105199001019998"}, world.bureau)
    assert unknown.status_code == 404


def route_districts(world: World) -> None:
    """Tier 1 is administered by district: 330102 east, 330106 west."""
    with world.gateway.sessions.begin() as session:
        for code in ("ltc-admin-east", "ltc-admin-west"):
            load_payer(session, {"payer_code": code})
    routes = {
        "routes": [
            {"district": "330102", "administrator_code": "ltc-admin-east"},
            {"district": "330106", "administrator_code": "ltc-admin-west"},
        ]
    }
    response = world.client.put(
        "/v1/payers/policy-ltci/routes", json=routes, headers={"Authorization": f"Bearer {world.bureau}"}
    )
    assert response.status_code == 200, response.text


def tier_one(world: World, claim_id: str) -> dict[str, Any]:
    view = world.claim(claim_id, world.bureau)
    step: dict[str, Any] = next(s for s in view["payers"] if s["product_code"] == "CITY-LTCI-2025")
    return step


def test_a_claim_citing_assessment_1_routes_to_the_district_of_assessment_1_after_a_later_one(
    world: World,
) -> None:
    world.load_products()
    route_districts(world)
    world.scenario["assessment"]["member"]["address"]["district"] = "330102"
    world.setup()
    moved = world.post("/v1/assessments", later_assessment(world, address=MOVED), world.agency)
    assert moved.status_code == 201, moved.text
    # provider A's next claim cites assessment 1: it stays with the east administrator
    cites_first = world.submit().json()["claim_id"]
    assert tier_one(world, cites_first)["administrator_code"] == "ltc-admin-east"
    # a claim that cites the later assessment goes where that one says the member lives
    body = world.claim_body(
        claim_number="P3301020001-202611-0002", assessment_id=moved.json()["assessment_id"]
    )
    cites_second = world.submit(body).json()["claim_id"]
    assert tier_one(world, cites_second)["administrator_code"] == "ltc-admin-west"
    # and the share the administrator is asked describes the member as the cited assessment did
    world.coordinate()
    with world.gateway.sessions.begin() as session:
        requests = {
            str(claim_id): request
            for claim_id, request in session.execute(
                select(PayerStepRow.claim_id, PayerStepRow.request).where(
                    PayerStepRow.product_code == "CITY-LTCI-2025"
                )
            )
        }
    assert requests[cites_first]["member"]["district"] == "330102"
    assert requests[cites_second]["member"]["district"] == "330106"
    assert tier_one(world, cites_first)["status"] == "decided"


def test_members_from_before_versioning_get_version_1_and_their_assessments_cite_it(
    empty: Engine,  # noqa: F811 (the fixture imported above)
) -> None:
    _upgrade(empty, "0010")
    member_id, assessment_id = uuid.uuid4(), uuid.uuid4()
    id_number = "11010519491231002X"
    with empty.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO members (member_id, id_hash, id_number_enc, name_enc, address_text, lat, "
                "lon, district, created_at, updated_at) VALUES (:id, :hash, :number, :name, :address, "
                "30.2, 120.1, '330102', :at, :at)"
            ),
            {
                "id": member_id.hex if empty.dialect.name == "sqlite" else member_id,
                "hash": lookup_hash(id_number),
                "number": encrypt(id_number),
                "name": encrypt("王秀英"),
                "address": "杭州市上城区示例路1号",
                "at": utcnow(),
            },
        )
        connection.execute(
            text(
                "INSERT INTO assessments (assessment_id, member_id, agency_code, concluded_on, "
                "disabled_since, scores, adl_score, adl_level, cognition_score, cognition_level, "
                "perception_score, perception_level, grade, effective_from, valid_until, request_digest, "
                "created_at) VALUES (:a, :m, 'EVA', '2026-09-01', '2026-01-01', '{}', 35, 'severe', 8, "
                "'moderate', 12, 'intact', 4, '2026-09-02', '2028-09-01', 'x', :at)"
            ),
            {
                "a": assessment_id.hex if empty.dialect.name == "sqlite" else assessment_id,
                "m": member_id.hex if empty.dialect.name == "sqlite" else member_id,
                "at": utcnow(),
            },
        )
    _upgrade(empty, "head")
    with Session(empty) as session:
        version = session.get_one(MemberVersionRow, (member_id, 1))
        assert (version.name, version.address_text, version.district) == (
            "王秀英",
            "杭州市上城区示例路1号",
            "330102",
        )
        assert version.party_code == "gateway" and version.key_id is None
        assert session.get_one(AssessmentRow, assessment_id).member_version == 1
        stored = session.execute(text("SELECT address_text_enc FROM member_versions")).scalar_one()
        assert "示例路" not in stored  # sealed, as the name is
