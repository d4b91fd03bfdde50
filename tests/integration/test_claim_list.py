"""Claims as a list (issue 21 §1): GET /v1/claims with filters and cursor pagination, and
POST /v1/claims/search by a member's ID number, each scoped to the caller."""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import schemas
from gateway.api.openapi import request_examples
from gateway.domain.identity import id_number_problem
from gateway.observability.logging import JsonFormatter
from gateway.services.keys import Role
from gateway.storage.tables import ClaimRow, MemberRow
from tests.integration.test_payers import drain
from tests.integration.world import World, auth

ID_NUMBER = "11010519491231002X"  # the worked example's member


def other_id_number() -> str:
    """A valid resident ID number of another person (the check digit computed, not guessed)."""
    stem = "33010219500101123"
    return next(stem + d for d in "0123456789X" if not id_number_problem(stem + d))


def listing(world: World, key: str, query: str = "") -> dict[str, Any]:
    response = world.client.get(f"/v1/claims{query}", headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert not list(schemas.validator("responses/claim-list").iter_errors(body))
    return body


def search(world: World, key: str, **body: Any) -> Any:
    return world.post("/v1/claims/search", body, key)


def numbers(page: dict[str, Any]) -> list[str]:
    return sorted(c["claim_number"] for c in page["claims"])


def register_provider(world: World, code: str) -> str:
    provider = dict(world.scenario["provider"], provider_code=code, name="另一家护理院")
    assert world.post("/v1/providers", provider, world.bureau).status_code == 201
    return world.key(Role.PROVIDER, code)


def insert_claims(world: World, count: int, **values: Any) -> list[ClaimRow]:
    """Claims stored as they are (no payer steps), like the first API claim but for ``values``."""
    with world.gateway.sessions.begin() as session:
        model = session.query(ClaimRow).order_by(ClaimRow.created_at).first()
        assert model is not None
        rows = []
        for n in range(count):
            row = ClaimRow(
                claim_id=uuid.uuid4(),
                provider_code=model.provider_code,
                claim_number=f"DIRECT-{uuid.uuid4().hex[:12]}-{n}",
                member_id=model.member_id,
                assessment_id=model.assessment_id,
                period_start=model.period_start,
                period_end=model.period_end,
                status="received",
                billed_fen=1000 + n,
                request_digest="0" * 64,
                next_attempt_at=None,  # not picked up by a worker
            )
            for name, value in values.items():
                setattr(row, name, value(n) if callable(value) else value)
            session.add(row)
            rows.append(row)
        session.flush()
        session.expunge_all()
    return rows


def test_a_provider_lists_and_searches_only_its_own_claims(world: World) -> None:
    world.setup()
    mine = world.submit().json()["claim_id"]
    other = register_provider(world, "P3301020002")
    theirs = world.post("/v1/claims", world.claim_body(), other).json()["claim_id"]
    assert [c["claim_id"] for c in listing(world, world.provider)["claims"]] == [mine]
    assert [c["claim_id"] for c in listing(world, other)["claims"]] == [theirs]
    found = search(world, world.provider, id_number=ID_NUMBER).json()
    assert [c["claim_id"] for c in found["claims"]] == [mine]
    assert [c["claim_id"] for c in search(world, other, id_number=ID_NUMBER).json()["claims"]] == [theirs]
    # another provider's claim number finds nothing, not the other provider's claim
    number = world.claim_body()["claim_number"]
    assert [c["claim_id"] for c in listing(world, other, f"?claim_number={number}")["claims"]] == [theirs]
    for key in (world.bureau, world.key(Role.RECONCILER, "zhang")):
        assert {c["claim_id"] for c in listing(world, key)["claims"]} == {mine, theirs}


def test_a_payer_lists_only_claims_routed_to_it_with_only_its_own_figures(world: World) -> None:
    world.setup()
    routed = world.submit().json()["claim_id"]
    drain(world)
    unrouted = insert_claims(world, 1)[0]
    page = listing(world, world.payer("huiminbao"))
    assert [c["claim_id"] for c in page["claims"]] == [routed]
    summary = page["claims"][0]
    assert [s["product_code"] for s in summary["payers"]] == ["HMB-LTC-2026"]
    assert summary["member_responsibility_fen"] is None
    view = world.claim(routed, world.payer("huiminbao"))
    own = sum(p["paid_fen"] for line in view["lines"] for p in line["payments"])
    assert summary["paid_fen"] == summary["payers"][0]["paid_fen"] == own
    bureau = {c["claim_id"]: c for c in listing(world, world.bureau)["claims"]}
    assert set(bureau) == {routed, str(unrouted.claim_id)}
    full = world.claim(routed, world.bureau)
    assert bureau[routed]["member_responsibility_fen"] == full["member_responsibility_fen"] is not None
    assert len(bureau[routed]["payers"]) == len(full["payers"]) > 1
    assert bureau[routed]["paid_fen"] == sum(p["paid_fen"] for li in full["lines"] for p in li["payments"])
    acme = listing(world, world.payer("acme-life"))["claims"][0]["payers"]
    assert {s["product_code"]: s.get("fixed_benefit_fen") for s in acme} == {
        "ACME-LTC-CARE": None,
        "ACME-LTC-ANNUITY": 200000,  # the worked example's annuity, granted beside the lines
    }
    assert listing(world, world.payer("not-routed"))["claims"] == []
    # a payer cannot learn another payer's routing through the filter
    snooping = world.get("/v1/claims?payer=acme-life", world.payer("huiminbao"))
    assert snooping.status_code == 400 and snooping.json()["errors"][0]["pointer"] == "/payer"
    found = search(world, world.payer("huiminbao"), id_number=ID_NUMBER).json()["claims"]
    assert [c["claim_id"] for c in found] == [routed] and found[0]["member_responsibility_fen"] is None


def test_every_filter_narrows_the_list(world: World) -> None:
    world.setup()
    routed = world.submit().json()["claim_number"]  # service month 2026-11, routed to every tier
    drain(world)
    october = insert_claims(
        world, 2, period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), status="failed"
    )
    # coordinated just after and just before midnight, Beijing time, of 2026-12-01
    late = insert_claims(
        world, 1, status="coordinated", coordinated_at=datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    )
    early = insert_claims(
        world, 1, status="coordinated", coordinated_at=datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    )
    key = world.bureau
    everything = numbers(listing(world, key))
    assert len(everything) == 5
    assert numbers(listing(world, key, "?month=2026-10")) == sorted(c.claim_number for c in october)
    assert routed in numbers(listing(world, key, "?month=2026-11"))
    assert len(listing(world, key, "?month=2026-11")["claims"]) == 3
    assert listing(world, key, "?month=2026-09")["claims"] == []
    assert numbers(listing(world, key, "?status=failed")) == sorted(c.claim_number for c in october)
    assert len(listing(world, key, "?status=failed,coordinated")["claims"]) == 5
    assert numbers(listing(world, key, f"?claim_number={october[0].claim_number}")) == [
        october[0].claim_number
    ]
    assert numbers(listing(world, key, "?payer=huiminbao")) == [routed]
    assert listing(world, key, "?payer=nobody")["claims"] == []
    since_date = numbers(listing(world, key, "?coordinated_since=2026-12-01"))
    assert late[0].claim_number in since_date and early[0].claim_number not in since_date
    assert routed in since_date  # coordinated now
    at_utc = numbers(listing(world, key, "?coordinated_since=2026-11-30T15:00:00%2B00:00"))
    assert {late[0].claim_number, early[0].claim_number} <= set(at_utc)
    beijing = numbers(listing(world, key, "?coordinated_since=2026-12-01T00:00:00"))  # no offset: Beijing
    assert beijing == since_date
    both = listing(world, key, "?month=2026-11&status=coordinated&coordinated_since=2026-12-01")
    assert sorted(numbers(both)) == sorted([routed, late[0].claim_number])


def test_pagination_returns_every_claim_exactly_once_in_order_while_claims_arrive(world: World) -> None:
    world.setup()
    world.submit()
    base = datetime.now(UTC) - timedelta(days=1)
    # three arrival times only: the order within a time is the claim_id (the keyset's tie-break)
    insert_claims(world, 119, created_at=lambda n: base + timedelta(seconds=n % 3))
    with world.gateway.sessions.begin() as session:
        everything = [(r.created_at, str(r.claim_id)) for r in session.query(ClaimRow)]
    expected = [claim_id for _, claim_id in sorted(everything, reverse=True)]
    assert len(expected) == 120
    seen: list[str] = []
    query = "?limit=50"
    pages = 0
    while True:
        page = listing(world, world.provider, query)
        pages += 1
        seen.extend(c["claim_id"] for c in page["claims"])
        # claims accepted between pages are newer than the cursor: they do not shift the pages
        insert_claims(world, 3, created_at=lambda n: datetime.now(UTC))
        world.submit(world.claim_body(claim_number=f"ARRIVING-{pages}"))
        if page["next_cursor"] is None:
            break
        query = f"?limit=50&cursor={page['next_cursor']}"
    assert pages == 3 and seen == expected


def _flip(text: str) -> str:
    return text[:5] + ("A" if text[5] != "A" else "B") + text[6:]


def test_a_tampered_or_made_up_cursor_is_refused_with_400_naming_it(world: World) -> None:
    world.setup()
    world.submit()
    insert_claims(world, 4)
    cursor = listing(world, world.provider, "?limit=2")["next_cursor"]
    assert cursor
    body, _, mac = cursor.partition(".")
    forged_body = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b'"at": "', b'"at": "1')
    ).decode()
    other = register_provider(world, "P3301020002")
    attempts = [
        (world.provider, f"?limit=2&cursor={_flip(cursor)}"),
        (world.provider, f"?limit=2&cursor={forged_body.rstrip('=')}.{mac}"),
        (world.provider, "?cursor=garbage"),
        (world.provider, "?cursor=%E4%B8%AD.%E4%B8%AD"),
        (world.provider, f"?status=coordinated&limit=2&cursor={cursor}"),  # another listing's cursor
        (other, f"?limit=2&cursor={cursor}"),  # another caller's
    ]
    for key, query in attempts:
        answer = world.get(f"/v1/claims{query}", key)
        assert answer.status_code == 400, (query, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["pointer"] == "/cursor"
    refused = search(world, world.provider, id_number=ID_NUMBER, cursor=cursor)  # a list's, not a search's
    assert refused.status_code == 400 and refused.json()["errors"][0]["pointer"] == "/cursor"
    assert len(listing(world, world.provider, f"?limit=2&cursor={cursor}")["claims"]) == 2


@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("?colour=red", "/colour"),
        ("?month=2026-13", "/month"),
        ("?month=202611", "/month"),
        ("?month=0000-01", "/month"),
        ("?status=paid", "/status"),
        ("?status=received&status=failed", "/status"),
        ("?limit=0", "/limit"),
        ("?limit=201", "/limit"),
        ("?limit=ten", "/limit"),
        ("?claim_number=A%00B", "/claim_number"),
        ("?payer=%00", "/payer"),
        ("?coordinated_since=yesterday", "/coordinated_since"),
        ("?coordinated_since=2026-02-30", "/coordinated_since"),
        ("?coordinated_since=0001-01-01", "/coordinated_since"),
        ("?coordinated_since=9999-12-31T23:59:59-12:00", "/coordinated_since"),
    ],
)
def test_every_bad_parameter_is_a_400_problem_naming_it(world: World, query: str, pointer: str) -> None:
    answer = world.get(f"/v1/claims{query}", world.bureau)
    # control characters are refused before any endpoint reads the query, as a 422 like a body's
    assert answer.status_code == (422 if "%00" in query else 400), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert pointer in [e["pointer"] for e in answer.json()["errors"]]


def test_a_search_by_id_number_in_the_body_finds_the_member_s_claims(world: World) -> None:
    world.setup()
    first = world.submit().json()["claim_id"]
    second = world.submit(world.claim_body(claim_number="P3301020001-202611-0002")).json()["claim_id"]
    with world.gateway.sessions.begin() as session:
        stranger = MemberRow(id_number=other_id_number())
        session.add(stranger)
        session.flush()
        stranger_id = stranger.member_id
    theirs = insert_claims(world, 1, member_id=stranger_id)[0]
    found = search(world, world.provider, id_number=ID_NUMBER)
    assert found.status_code == 200, found.text
    assert not list(schemas.validator("responses/claim-list").iter_errors(found.json()))
    assert {c["claim_id"] for c in found.json()["claims"]} == {first, second}
    assert [
        c["claim_id"] for c in search(world, world.provider, id_number=other_id_number()).json()["claims"]
    ] == [str(theirs.claim_id)]
    # a page at a time, the cursor in the body too
    page = search(world, world.provider, id_number=ID_NUMBER, limit=1).json()
    rest = search(world, world.provider, id_number=ID_NUMBER, limit=1, cursor=page["next_cursor"]).json()
    assert {page["claims"][0]["claim_id"], rest["claims"][0]["claim_id"]} == {first, second}
    assert rest["next_cursor"] is None
    filtered = search(
        world, world.provider, id_number=ID_NUMBER, claim_number="P3301020001-202611-0002"
    ).json()
    assert [c["claim_id"] for c in filtered["claims"]] == [second]
    wrong_check_digit = ID_NUMBER[:-1] + "3"
    for body, pointer in [
        ({"id_number": wrong_check_digit}, "/id_number"),
        ({"id_number": ID_NUMBER, "colour": "red"}, "/colour"),
        ({"id_number": ID_NUMBER, "limit": 500}, "/limit"),
        ({"id_number": ID_NUMBER, "month": "2026-13"}, "/month"),
        ({"id_number": ID_NUMBER, "claim_number": "A\u0000B"}, "/claim_number"),
        ({"month": "2026-11"}, "/id_number"),
    ]:
        answer = world.post("/v1/claims/search", body, world.provider)
        assert answer.status_code == 422, (body, answer.text)
        assert pointer in [e["pointer"] for e in answer.json()["errors"]]


def test_the_id_number_appears_in_no_url_or_log_line_of_a_search(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.setup()
    world.submit()
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    answer = search(world, world.provider, id_number=ID_NUMBER, limit=1)
    assert answer.status_code == 200 and len(answer.json()["claims"]) == 1
    assert ID_NUMBER not in str(answer.request.url)
    assert ID_NUMBER not in answer.text  # the summary names no member
    requests = [r for r in caplog.records if r.getMessage() == "request"]
    assert [getattr(r, "path", None) for r in requests] == ["/v1/claims/search"]
    for record in caplog.records:
        assert ID_NUMBER not in JsonFormatter().format(record)
        assert ID_NUMBER not in repr(record.__dict__)  # not even before the log scrubber


def test_the_openapi_description_documents_the_list_and_its_examples_validate(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    listed = spec["paths"]["/v1/claims"]["get"]
    parameters = {p["name"] for p in listed["parameters"] if p["in"] == "query"}
    assert parameters == {"month", "status", "claim_number", "payer", "coordinated_since", "cursor", "limit"}
    assert set(listed["responses"]) >= {"200", "400", "401", "403"}
    for operation in (listed, spec["paths"]["/v1/claims/search"]["post"]):
        content = operation["responses"]["200"]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/response.claim-list"}
        assert not list(schemas.validator("responses/claim-list").iter_errors(content["example"]))
    searched = spec["paths"]["/v1/claims/search"]["post"]["requestBody"]["content"]["application/json"]
    assert searched["schema"] == {"$ref": "#/components/schemas/claim-search"}
    assert searched["example"] == request_examples("claim-search")[0]
    for example in request_examples("claim-search"):
        assert not list(schemas.validator("claim-search").iter_errors(example))
