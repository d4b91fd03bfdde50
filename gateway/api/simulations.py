"""Policy simulation over HTTP (domain.md section 9): the bureau starts one (202, run in the
background) and polls it; a payer reads the anonymised coverage gap of one, nothing else.

Payers may not start simulations: the bureau chooses the drafts and periods it publishes, so a
payer cannot pick inputs that isolate members (two periods, drafts aimed at one member's claims)
to difference their gap reports."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import schemas
from gateway.api.endpoint import Call, endpoint
from gateway.audit import actor_of
from gateway.errors import Invalid
from gateway.services.keys import Role
from gateway.simulation import jobs


@endpoint(Role.BUREAU, body="simulation", status=202, response="simulation", location=True, answers=(409,))
def post_simulation(call: Call) -> Response:
    """Start a simulation: a period's claims replayed under draft products (or a generated city's);
    202 at once, then ``GET /v1/simulations/{id}`` shows its progress and, when done, its report."""
    faults = schemas.faults("simulation", call.body)
    if faults:
        raise Invalid(faults)
    gateway = call.gateway
    limits = jobs.Limits.of(gateway.settings)
    simulation_id = jobs.request(call.session, call.body, actor_of(call.principal), limits, gateway.today())
    body = jobs.view(jobs.find(call.session, str(simulation_id)), full=True)
    # started once the answer (and the row) is committed; a replayed answer starts nothing
    return JSONResponse(
        body,
        status_code=202,
        headers={"Location": f"/v1/simulations/{simulation_id}"},
        background=BackgroundTask(jobs.launch, gateway, simulation_id),
    )


@endpoint(Role.BUREAU, Role.PAYER, response="simulation")
def get_simulation(call: Call) -> Response:
    """A simulation's progress (phase, members done of all) and, when done, its report; a payer
    key gets the anonymised coverage gap only (cells under LTC_SIMULATION_MIN_CELL_MEMBERS
    members suppressed, figures perturbed)."""
    row = jobs.find(call.session, call.param("id"))
    return JSONResponse(jobs.view(row, full=call.principal.role == Role.BUREAU))


routes = [
    Route("/v1/simulations", post_simulation, methods=["POST"]),
    Route("/v1/simulations/{id}", get_simulation, methods=["GET"]),
]
