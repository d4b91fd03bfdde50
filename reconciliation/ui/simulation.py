"""The bureau's simulation page (测算): a draft entered as a form (a care setting's ratio, the
grade threshold, the monthly limit; the funding), started through the same use case as
``POST /v1/simulations`` and run in the background; the page polls while it runs (a meta refresh:
the content security policy allows no script) and then shows the report in yuan: tier 1 and
what members pay by month as charts, the per-tier table, the funding and months of payment left,
the members who gain and lose most (masked), and the workbook. Bureau staff only."""

from __future__ import annotations

import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.audit import actor_of
from gateway.errors import Invalid, ServiceError
from gateway.services.keys import Principal, Role
from gateway.simulation import jobs
from gateway.simulation.workbook import write
from gateway.storage.tables import SimulationRow
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import current_principal as _principal
from reconciliation.ui.signin import signed_form as _signed_form
from reconciliation.ui.simulation_chart import by_month
from reconciliation.ui.simulation_words import words

BENEFITS = ("institutional/per_diem", "home/per_item", "community/per_item", "family/per_diem")
FORM_DEFAULTS = {
    "product_code": "CITY-LTCI-2025",
    "benefit": BENEFITS[0],
    "contribution_yuan": "90",
    "generated_members": "",
}
MAX_YUAN = Decimal(10) ** 11


def _yuan_to_fen(form: dict[str, str], name: str, faults: list[tuple[str, str]]) -> int | None:
    text = form.get(name, "").strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value >= MAX_YUAN or value != round(value, 2):
        faults.append((name, "yuan, at least 0, at most two decimals"))
        return None
    return int(value * 100)


def _whole(form: dict[str, str], name: str, low: int, high: int, faults: list[tuple[str, str]]) -> int | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        faults.append((name, f"a whole number from {low} to {high}"))
        return None
    return int(text)


def document_of(form: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body; faults name the form's fields."""
    faults: list[tuple[str, str]] = []
    changes: dict[str, Any] = {}
    percent = form.get("ratio_percent", "").strip()
    if percent:
        try:
            ratio = Decimal(percent) / 100
        except InvalidOperation:
            ratio = Decimal(-1)
        if not ratio.is_finite() or not 0 <= ratio <= 1:
            faults.append(("ratio_percent", "a percentage from 0 to 100"))
        elif form.get("benefit") not in BENEFITS:
            faults.append(("benefit", "one of the care settings offered"))
        else:
            setting, method = form["benefit"].split("/")
            changes["benefits"] = [{"setting": setting, "method": method, "ratio": str(ratio.normalize())}]
    grade = _whole(form, "min_grade", 0, 5, faults)
    if grade is not None:
        changes["eligibility"] = {"min_grade": grade}
    limit = _yuan_to_fen(form, "monthly_limit_yuan", faults)
    if limit is not None:
        changes["limits"] = [{"period": "month", "amount_fen": limit}]
    funding = {
        "per_person_year_fen": _yuan_to_fen(form, "contribution_yuan", faults) or 0,
        "enrolled_members": _whole(form, "enrolled_members", 0, 2**31 - 1, faults),
        "fund_balance_fen": _yuan_to_fen(form, "fund_balance_yuan", faults),
    }
    members = _whole(form, "generated_members", 1, 10**6, faults)
    if faults:
        raise Invalid(faults)
    document: dict[str, Any] = {"funding": funding}
    if changes:
        document["drafts"] = [{"product_code": form.get("product_code", "").strip(), "changes": changes}]
    if members is not None:
        document["generated"] = {"members": members, "seed": 1}
    else:
        document["period"] = {"from": form.get("period_from", ""), "to": form.get("period_to", "")}
    return document


def _bureau(principal: Principal | None) -> bool:
    # a bureau key, or a person with the bureau supervisor role (it opens the bureau role)
    return principal is not None and (principal.role == Role.BUREAU or Role.BUREAU in principal.acts_as)


def _forbidden(request: Request, principal: Principal) -> Response:
    s = words(_lang(request))
    return _render(
        request, "simulations.html", principal, status=403, s=s, forbidden=True, problem=s("bureau_only")
    )


async def list_page(
    request: Request, form: dict[str, str] | None = None, problem: str | None = None
) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    if not _bureau(principal):
        return _forbidden(request, principal)
    gateway = request.app.state.gateway

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            rows = session.query(SimulationRow).order_by(SimulationRow.id.desc()).limit(20)
            return [jobs.view(row, full=False) | {"drafts": row.inputs.get("drafts", [])} for row in rows]

    recent = await run_in_threadpool(load)
    return _render(
        request,
        "simulations.html",
        principal,
        status=422 if problem else 200,
        s=words(_lang(request)),
        form=FORM_DEFAULTS | (form or {}),
        benefits=BENEFITS,
        recent=recent,
        problem=problem,
    )


async def start(request: Request) -> Response:
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    if not _bureau(principal):
        return _forbidden(request, principal)
    gateway = request.app.state.gateway

    def begin() -> int:
        document = document_of(form)
        with gateway.sessions.begin() as session:
            limits = jobs.Limits.of(gateway.settings)
            return jobs.request(session, document, actor_of(principal), limits, gateway.today())

    try:
        simulation_id = await run_in_threadpool(begin)
    except ServiceError as error:  # the form comes back as it was sent, with what is wrong
        detail = "; ".join(f"{p}: {d}" for p, d in error.faults) if error.faults else error.detail
        return await list_page(request, form, detail)
    jobs.launch(gateway, simulation_id)
    return RedirectResponse(f"/ui/simulations/{simulation_id}", status_code=303)


def _masked(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"member": m["member"][:6] + "****", "change_fen": m["change_fen"]} for m in members]


async def _load(request: Request) -> tuple[Principal | None, Response | dict[str, Any]]:
    principal = await _principal(request)
    if principal is None:
        return None, _to_login()
    if not _bureau(principal):
        return principal, _forbidden(request, principal)
    gateway = request.app.state.gateway

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return jobs.view(jobs.find(session, str(request.path_params["id"])), full=True)

    try:
        return principal, await run_in_threadpool(load)
    except ServiceError:
        s = words(_lang(request))
        return principal, _render(
            request, "simulations.html", principal, status=404, s=s, forbidden=True, problem=s("not_found")
        )


async def page(request: Request) -> Response:
    principal, found = await _load(request)
    if isinstance(found, Response):
        return found
    s = words(_lang(request))
    report = found["report"]
    charts = []
    if report:
        sides = (s("actual"), s("simulated"))
        charts = [
            (s("tier1_by_month"), by_month(report, "tier 1", s("tier1_by_month"), sides, "chart")),
            (
                s("member_by_month"),
                by_month(report, "member_responsibility", s("member_by_month"), sides, "chart-member"),
            ),
        ]
        report = report | {
            "members_gaining_most": _masked(report["members_gaining_most"]),
            "members_losing_most": _masked(report["members_losing_most"]),
        }
    return _render(request, "simulation.html", principal, s=s, sim=found, report=report, charts=charts)


async def workbook(request: Request) -> Response:
    _, found = await _load(request)
    if isinstance(found, Response):
        return found
    if not found["report"]:
        return RedirectResponse(f"/ui/simulations/{found['simulation_id']}", status_code=303)

    def book() -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "simulation.xlsx"
            write(found["report"], path)
            return path.read_bytes()

    name = f"simulation-{found['simulation_id']}.xlsx"
    return Response(
        await run_in_threadpool(book),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


routes = [
    Route("/ui/simulations", list_page, methods=["GET"]),
    Route("/ui/simulations", start, methods=["POST"]),
    Route("/ui/simulations/{id:int}.xlsx", workbook, methods=["GET"]),
    Route("/ui/simulations/{id:int}", page, methods=["GET"]),
]
