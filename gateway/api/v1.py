"""The public API, version 1 (domain.md section 7)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import schemas
from gateway.api import documents
from gateway.api.endpoint import Call, batched, endpoint
from gateway.api.problems import problem
from gateway.audit import actor_of
from gateway.domain.numbers import INT32, whole_number
from gateway.errors import Invalid, NotFound
from gateway.reference import registry, route_versions
from gateway.services import (
    agencies,
    assessments,
    claim_lists,
    claim_view,
    claims,
    corrections,
    coverage,
    dead_letters,
    decisions,
    enrollments,
    member_versions,
)
from gateway.services.keys import Role

log = logging.getLogger("ltc_gateway.api")


@endpoint(Role.BUREAU, body="provider", status=(201, 200), response="provider")
def post_provider(call: Call) -> Response:
    """Register or update a care provider and its designation (定点)."""
    provider, created = registry.register_provider(call.session, call.body, actor_of(call.principal))
    return JSONResponse(provider.model_dump(mode="json"), status_code=201 if created else 200)


@endpoint(Role.PAYER, Role.BUREAU, body="enrollments", response="enrollments")
def post_enrollments(call: Call) -> Response:
    """Enrol members in the payer's products (tier-1 enrolment comes from the bureau)."""
    results = enrollments.enrol(call.session, call.principal, call.param("payer_code"), call.body)
    return JSONResponse({"payer_code": call.param("payer_code"), "enrollments": results})


@endpoint(Role.BUREAU, body="assessment-agency", status=(201, 200), response="assessment-agency")
def post_assessment_agency(call: Call) -> Response:
    """Register or update an assessment agency (评估机构): the only party that submits assessments."""
    agency, created = agencies.register_agency(call.session, call.body, actor_of(call.principal))
    return JSONResponse(agency, status_code=201 if created else 200)


@endpoint(
    Role.PROVIDER, Role.BUREAU, body="assessment", status=(201, 200), response="assessment", answers=(409,)
)
def post_assessment(call: Call) -> Response:
    """Submit a disability assessment (assessment agencies); the gateway grades it from the item scores."""
    gateway = call.gateway
    view, created = assessments.submit_assessment(
        call.session,
        call.principal,
        call.body,
        gateway.grading,
        gateway.today(),
        providers_may_assess=gateway.settings.providers_may_assess,
    )
    return JSONResponse(view, status_code=201 if created else 200)


@endpoint(Role.BUREAU, body="member-history", remember=False, response="member-history")
def post_member_history(call: Call) -> Response:
    """Every version of a member's name and address, who recorded it and when (the ID number in the body)."""
    return JSONResponse(member_versions.member_history(call.session, call.body))


@endpoint(Role.PROVIDER, Role.BUREAU, body="coverage-query", response="coverage")
def post_coverage_query(call: Call) -> Response:
    """Every tier's coverage of a member on a date."""
    return JSONResponse(coverage.query_coverage(call.session, call.body))


@batched(Role.PROVIDER, body="claim", status=202, response="claim-receipt", location=True)
def post_claim(session: Session, calls: list[Call]) -> list[Response | Exception]:
    """Submit one claim; it is coordinated across the payers after the 202."""
    submissions = [claims.Submission(call.principal, call.body) for call in calls]
    answers: list[Response | Exception] = []
    for outcome in claims.submit_claims(session, submissions, calls[0].gateway.catalogue):
        if isinstance(outcome, Exception):
            answers.append(outcome)
            continue
        receipt, new = outcome
        log.info("claim accepted" if new else "claim repeated", extra={"claim_id": receipt["claim_id"]})
        location = {"Location": f"/v1/claims/{receipt['claim_id']}"}
        answers.append(JSONResponse(receipt, status_code=202, headers=location))
    return answers


@endpoint(
    Role.PROVIDER,
    Role.PAYER,
    Role.BUREAU,
    Role.RECONCILER,
    response="claim",
    produces=(documents.PDF, documents.HTML),
    query=documents.LANG,
)
def get_claim(call: Call) -> Response:
    """A claim's status and coordinated result; with ``Accept: application/pdf`` or ``text/html``,
    its coordinated statement (结算单) instead."""
    media = documents.wanted(call.request)
    if media != documents.JSON:
        return documents.statement_response(call, media)
    return JSONResponse(claim_view.claim_view(call.session, call.principal, call.param("claim_id")))


LIST_QUERY = {  # the list's filters: the search body's fields but the ID number (never in a URL)
    name: spec for name, spec in schemas.load("claim-search")["properties"].items() if name != "id_number"
}


@endpoint(
    Role.PROVIDER,
    Role.PAYER,
    Role.BUREAU,
    Role.RECONCILER,
    response="claim-list",
    query=LIST_QUERY,
    answers=(400,),
)
def get_claims(call: Call) -> Response:
    """Claims as a list, newest accepted first, a page at a time (follow ``next_cursor``).

    Filters: ``month`` (service month, YYYY-MM), ``status`` (comma-separated), ``claim_number``,
    ``payer``, ``coordinated_since`` (ISO date-time, or a date from 00:00 Beijing time); ``limit``
    1..200 (50). A provider sees its own claims, a payer those routed to it (and only its shares),
    the bureau and reconcilers all. A bad parameter or cursor is a 400 naming it."""
    query = call.request.query_params.multi_items()
    return JSONResponse(claim_lists.list_claims(call.session, call.principal, query))


@endpoint(
    Role.PROVIDER,
    Role.PAYER,
    Role.BUREAU,
    Role.RECONCILER,
    body="claim-search",
    remember=False,
    response="claim-list",
)
def post_claim_search(call: Call) -> Response:
    """A member's claims by resident ID number (in the body, never in a URL), with the list's filters.

    Scoped as ``GET /v1/claims``; an invalid ID number is a 422 naming ``/id_number``."""
    return JSONResponse(claim_lists.search_claims(call.session, call.principal, call.body))


@endpoint(Role.PAYER, body="decision", response="decision-outcome", answers=(409,))
def post_decision(call: Call) -> Response:
    """A payer's late decision (after 'pending') or a revised one (callback)."""
    result = decisions.receive_decision(
        call.session, call.principal, call.param("payer_code"), call.body, call.gateway.catalogue
    )
    if result["outcome"] == "refused":  # kept on record (flagged), so answered rather than raised
        faults = result.pop("faults")
        detail = f"the decision was refused: {faults[0][1]}"
        return problem(422, "Decision refused", detail, faults, **result)
    return JSONResponse(result)


@endpoint(Role.BUREAU, body="routes", response="routes")
def put_routes(call: Call) -> Response:
    """Replace the tier-1 payer's table of districts and their contracted administrators from a
    date (``effective_from``, default today): dated versions, the earlier ones kept."""
    faults = schemas.faults("routes", call.body)
    if faults:
        raise Invalid(faults)
    payer_code, routes = call.param("payer_code"), call.body["routes"]
    given = call.body.get("effective_from")
    when = None if given is None else route_versions.effective_date(given)
    table = route_versions.set_routes(
        call.session, payer_code, routes, actor_of(call.principal), when, call.gateway.today()
    )
    return JSONResponse(table)


@endpoint(Role.BUREAU, response="routes")
def get_routes(call: Call) -> Response:
    """The tier-1 payer's districts and their administrators today, and every dated version."""
    return JSONResponse(
        route_versions.list_routes(call.session, call.param("payer_code"), call.gateway.today())
    )


@endpoint(Role.BUREAU, response="failed-steps")
def get_failed_steps(call: Call) -> Response:
    """Dead-lettered and refused payer steps, oldest first: what may be rerun."""
    return JSONResponse({"steps": decisions.failed_steps(call.session)})


@endpoint(Role.BUREAU, status=201, response="rerun", answers=(409,))
def post_rerun(call: Call) -> Response:
    """Re-drive a dead or refused payer step; the new step is linked to the original."""
    step_id = whole_number(call.param("step_id"), largest=INT32)  # int() took "٣" and 2**31
    if step_id is None:
        raise NotFound(
            f"no payer step {call.param('step_id')}", [("/step_id", f"is not a step id (1 to {INT32})")]
        )
    return JSONResponse(decisions.rerun_step(call.session, step_id), status_code=201)


@endpoint(Role.BUREAU, response="resend", answers=(409,))
def post_resend(call: Call) -> Response:
    """Send a dead-lettered notice to its payer again, as stored: the same idempotency key and
    payload, so a payer that did get it takes it once; audited with who and which delivery
    replaced which (``outbox.resent``)."""
    notice_id = whole_number(call.param("notice_id"), largest=INT32)
    if notice_id is None:
        raise NotFound(
            f"no notice {call.param('notice_id')}", [("/notice_id", f"is not a notice id (1 to {INT32})")]
        )
    return JSONResponse(dead_letters.resend_notice(call.session, notice_id, actor_of(call.principal)))


@endpoint(Role.PROVIDER, body="claim-void", response="claim-void", answers=(409,))
def post_claim_void(call: Call) -> Response:
    """Withdraw one of the provider's own claims (before or after coordination): every payment is
    recovered per payer and line, the member's limits are given back, every payer is notified
    through its adapter, and the claim shows ``voided``. Voiding it again answers the same."""
    return JSONResponse(
        corrections.void_claim(call.session, call.principal, call.param("claim_id"), call.body)
    )


@endpoint(Role.PROVIDER, body="claim", status=202, response="claim-receipt", location=True, answers=(409,))
def post_claim_replace(call: Call) -> Response:
    """Replace one of the provider's own claims with a corrected version (same claim number and
    member): it is coordinated again and only the differences become adjustments (top-up or
    recovery per payer and line); the earlier version stays readable on the claim."""
    receipt = corrections.replace_claim(
        call.session, call.principal, call.param("claim_id"), call.body, call.gateway.catalogue
    )
    location = {"Location": f"/v1/claims/{receipt['claim_id']}"}
    return JSONResponse(receipt, status_code=202, headers=location)


routes = [
    Route("/v1/providers", post_provider, methods=["POST"]),
    Route("/v1/payers/{payer_code}/enrollments", post_enrollments, methods=["POST"]),
    Route("/v1/assessment-agencies", post_assessment_agency, methods=["POST"]),
    Route("/v1/assessments", post_assessment, methods=["POST"]),
    Route("/v1/members/history", post_member_history, methods=["POST"]),
    Route("/v1/coverage/query", post_coverage_query, methods=["POST"]),
    Route("/v1/claims", post_claim, methods=["POST"]),
    Route("/v1/claims", get_claims, methods=["GET"]),
    Route("/v1/claims/search", post_claim_search, methods=["POST"]),
    Route("/v1/claims/{claim_id}", get_claim, methods=["GET"]),
    Route("/v1/claims/{claim_id}/void", post_claim_void, methods=["POST"]),
    Route("/v1/claims/{claim_id}/replace", post_claim_replace, methods=["POST"]),
    Route("/v1/payers/{payer_code}/decisions", post_decision, methods=["POST"]),
    Route("/v1/payers/{payer_code}/routes", put_routes, methods=["PUT"]),
    Route("/v1/payers/{payer_code}/routes", get_routes, methods=["GET"]),
    Route("/v1/steps/failed", get_failed_steps, methods=["GET"]),
    Route("/v1/steps/{step_id}/rerun", post_rerun, methods=["POST"]),
    Route("/v1/notices/{notice_id}/resend", post_resend, methods=["POST"]),
]
