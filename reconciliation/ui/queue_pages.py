"""The work queue's pages: the list (filters, search, sortable columns, keyset pages, totals,
and an action on a selection of items) and one item's page (its evidence, and only the actions
its kind allows). Amounts are typed and shown in yuan; the queue keeps fen. A form refused
comes back with what was typed in it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.problems import status_of
from gateway.domain.money import parse_yuan
from gateway.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from gateway.services.claim_view import claim_view
from gateway.services.keys import Principal, Role, admit
from gateway.storage.tables import MismatchRow
from reconciliation import bulk, queue
from reconciliation.evidence import evidence
from reconciliation.matching import MISMATCHES, OPEN_MISMATCH_STATUSES
from reconciliation.queue_listing import SEARCHES, SORTS
from reconciliation.ui.i18n import refusal, translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import after as _after
from reconciliation.ui.signin import current_principal as _principal
from reconciliation.ui.signin import signed_form as _signed_form

FILTERS = ("kind", "payer", "status", "min_age_days", "min_amount", *SEARCHES, "sort")
PAGING = ("after", "before")
STATUSES = [*OPEN_MISMATCH_STATUSES, "resolved", "cleared"]


def _filters(request: Request) -> dict[str, str]:
    return {k: request.query_params[k].strip() for k in FILTERS if request.query_params.get(k, "").strip()}


def listing_query(request: Request) -> dict[str, str]:
    """The page's filters as the queue's query: the minimum difference typed in yuan becomes fen."""
    query = {
        **_filters(request),
        **{k: request.query_params[k] for k in PAGING if request.query_params.get(k)},
    }
    if "min_amount" in query:
        fen = parse_yuan(query.pop("min_amount"))
        if fen is None:
            raise Invalid([("/min_amount", "an amount in yuan, e.g. 12.50")])
        query["min_amount_fen"] = str(fen)
    return query


def _links(filters: dict[str, str], listing: dict[str, Any]) -> dict[str, str | None]:
    """First, previous and next pages, and each column's sort link (again: the other way)."""
    here = {k: v for k, v in filters.items() if k != "sort"}
    current = listing.get("sort", "first_seen")
    sorts = {}
    for name in SORTS:
        wanted = f"-{name}" if current == name else name
        sorts[name] = "?" + urlencode({**here, "sort": wanted})
    return {
        "first": "?" + urlencode(filters),
        "next": "?" + urlencode({**filters, "after": listing["next"]}) if listing.get("next") else None,
        "previous": "?" + urlencode({**filters, "before": listing["previous"]})
        if listing.get("previous")
        else None,
        **{f"sort_{k}": v for k, v in sorts.items()},
    }


async def queue_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway
    filters = _filters(request)
    problem, status = None, 200
    try:
        query = listing_query(request)

        def load() -> dict[str, Any]:
            with gateway.sessions.begin() as session:
                return queue.list_mismatches(session, query, gateway.today())

        listing = await run_in_threadpool(load)
    except ServiceError as error:
        listing = {
            "total": 0,
            "total_difference_fen": 0,
            "mismatches": [],
            "as_of": None,
            "sort": "first_seen",
        }
        problem, status = refusal(error, _lang(request)), status_of(error)[0]
    kinds = {m["kind"] for m in listing["mismatches"]}
    bulk_actions = [
        a for a in queue.ACTIONS if a != "approve" and any(a in queue.KIND_ACTIONS[k] for k in kinds)
    ]
    return _render(
        request,
        "queue.html",
        principal,
        status=status,
        listing=listing,
        mismatches=listing["mismatches"],
        query=filters,
        query_string=urlencode(filters),
        links=_links(filters, listing),
        mismatch_kinds=MISMATCHES,
        statuses=STATUSES,
        bulk_actions=[
            *bulk_actions,
            *(["approve"] if any(m["status"] == "pending_approval" for m in listing["mismatches"]) else []),
        ],
        problem=problem,
    )


async def bulk_resolve(request: Request) -> Response:
    """One action and note on the selected items, each under its own rules (four eyes too)."""
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    lang = _lang(request)
    t = translator(lang)
    back = "/ui/queue" + (f"?{form['back']}" if form.get("back", "").strip() else "")
    if not back.startswith("/ui/queue"):
        back = "/ui/queue"
    if (refused := await _reconcilers_only(request, principal, back)) is not None:
        return refused
    raw = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    ids = [int(i) for i in raw.get("ids", []) if i.isdigit() and len(i) < 10]
    try:
        document = _document(form)
    except Invalid as error:
        return await _after(request, back, "problem", refusal(error, lang))
    if not ids:
        return await _after(request, back, "problem", t("bulk_none"))
    if len(ids) > bulk.BULK_LIMIT:
        return await _after(request, back, "problem", t("bulk_too_many", n=bulk.BULK_LIMIT))
    gateway = request.app.state.gateway

    def act() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return bulk.resolve_many(
                session,
                principal,
                {"ids": ids, "action": document["action"], "note": document["note"]},
                write_off_approval_fen=gateway.settings.write_off_approval_fen,
                catalogue=gateway.catalogue,
                today=gateway.today(),
                amount_fen=document.get("amount_fen"),
            )

    try:
        answer = await run_in_threadpool(act)
    except ServiceError as error:
        return await _after(request, back, "problem", refusal(error, lang))
    counts, results = answer["counts"], answer["results"]
    done = counts["done"] + counts["needs_approval"]
    text = t("bulk_done", done=done, failed=len(results) - done)
    if counts["needs_approval"]:
        text += t("bulk_waiting", waiting=counts["needs_approval"])  # its own punctuation first
    failed = [f"#{r['id']}: {refusal(_as_error(r), lang)}" for r in results if "detail" in r][:10]
    kind = "message" if not failed else "problem"
    return await _after(request, back, kind, " ".join([text, *failed]))


def _as_error(result: dict[str, Any]) -> ServiceError:
    """An item's refusal as the error it was, for its words in the page's language."""
    kind = {"not_found": NotFound, "not_yours": Forbidden}.get(result["outcome"], Conflict)
    return kind(result["detail"], [(e["pointer"], e["detail"]) for e in result.get("errors", [])])


async def _reconcilers_only(request: Request, principal: Principal, back: str) -> Response | None:
    try:  # bureau staff see the queue; only reconcilers act on it
        admit(principal, (Role.RECONCILER,))
    except Forbidden:
        return await _after(request, back, "problem", translator(_lang(request))("reconcilers_only"))
    return None


def _document(form: dict[str, str]) -> dict[str, Any]:
    """The resolution the form asks for; the amount typed in yuan becomes fen."""
    document: dict[str, Any] = {"action": form.get("action", ""), "note": form.get("note", "")}
    if form.get("amount", "").strip():
        fen = parse_yuan(form["amount"])
        if fen is None:
            raise Invalid([("/amount", "an amount in yuan, e.g. 12.50")])
        document["amount_fen"] = fen
    return document


async def mismatch_page(
    request: Request, form: dict[str, str] | None = None, problem: str | None = None, status: int = 200
) -> Response:
    principal = await _principal(request) if form is None else request.state.staff.principal
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway

    def load() -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
        with gateway.sessions.begin() as session:
            mismatch_id = queue.parse_id(request.path_params["id"])
            found = queue.get_mismatch(session, mismatch_id, gateway.today())
            try:
                claim = claim_view(session, principal, found["claim_id"])
            except ServiceError:
                claim = None
            return found, claim, evidence(session, session.get_one(MismatchRow, mismatch_id))

    try:
        found, claim, facts = await run_in_threadpool(load)
    except ServiceError as error:
        return _render(
            request,
            "refused.html",
            principal,
            status=status_of(error)[0],
            problem=refusal(error, _lang(request)),
        )
    return _render(
        request,
        "mismatch.html",
        principal,
        status=status,
        m=found,
        claim=claim,
        evidence=facts,
        actions=found["actions"],
        form=form or {},
        problem=problem,
    )


async def resolve(request: Request) -> Response:
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    mismatch_id = request.path_params["id"]
    back = f"/ui/mismatches/{mismatch_id}"
    if (refused := await _reconcilers_only(request, principal, back)) is not None:
        return refused
    lang = _lang(request)
    gateway = request.app.state.gateway
    try:
        document = _document(form)

        def act() -> dict[str, Any]:
            with gateway.sessions.begin() as session:
                return queue.resolve(
                    session,
                    principal,
                    queue.parse_id(mismatch_id),
                    document,
                    write_off_approval_fen=gateway.settings.write_off_approval_fen,
                    catalogue=gateway.catalogue,
                    today=gateway.today(),
                )

        result = await run_in_threadpool(act)
    except ServiceError as error:  # the page again, with what was typed and why it was refused
        return await mismatch_page(request, form, refusal(error, lang), status_of(error)[0])
    t = translator(lang)
    message = f"{t(document['action'], 'actions')} → {t(result['status'], 'statuses')}"
    return await _after(request, back, "message", message)
