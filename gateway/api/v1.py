"""The public API, version 1 (domain.md section 7)."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.endpoint import Call, endpoint
from gateway.services import assessments, claims, coverage, enrollments, registry
from gateway.services.keys import Role


@endpoint(Role.BUREAU, body="provider")
def post_provider(call: Call) -> Response:
    """Register or update a care provider and its designation (定点)."""
    provider, created = registry.register_provider(call.session, call.body)
    return JSONResponse(provider.model_dump(mode="json"), status_code=201 if created else 200)


@endpoint(Role.PAYER, Role.BUREAU, body="enrollments")
def post_enrollments(call: Call) -> Response:
    """Enrol members in the payer's products (tier-1 enrolment comes from the bureau)."""
    results = enrollments.enrol(call.session, call.principal, call.param("payer_code"), call.body)
    return JSONResponse({"payer_code": call.param("payer_code"), "enrollments": results})


@endpoint(Role.PROVIDER, Role.BUREAU, body="assessment")
def post_assessment(call: Call) -> Response:
    """Submit a disability assessment; the gateway grades it from the item scores."""
    gateway = call.gateway
    view, created = assessments.submit_assessment(
        call.session, call.principal, call.body, gateway.grading, gateway.today()
    )
    return JSONResponse(view, status_code=201 if created else 200)


@endpoint(Role.PROVIDER, Role.BUREAU, body="coverage-query")
def post_coverage_query(call: Call) -> Response:
    """Every tier's coverage of a member on a date."""
    return JSONResponse(coverage.query_coverage(call.session, call.body))


@endpoint(Role.PROVIDER, body="claim")
def post_claim(call: Call) -> Response:
    """Submit one claim; it is coordinated across the payers after the 202."""
    receipt, _ = claims.submit_claim(call.session, call.principal, call.body, call.gateway.catalogue)
    return JSONResponse(receipt, status_code=202, headers={"Location": f"/v1/claims/{receipt['claim_id']}"})


@endpoint(Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER)
def get_claim(call: Call) -> Response:
    """A claim's status and coordinated result."""
    return JSONResponse(claims.claim_view(call.session, call.principal, call.param("claim_id")))


routes = [
    Route("/v1/providers", post_provider, methods=["POST"]),
    Route("/v1/payers/{payer_code}/enrollments", post_enrollments, methods=["POST"]),
    Route("/v1/assessments", post_assessment, methods=["POST"]),
    Route("/v1/coverage/query", post_coverage_query, methods=["POST"]),
    Route("/v1/claims", post_claim, methods=["POST"]),
    Route("/v1/claims/{claim_id}", get_claim, methods=["GET"]),
]
