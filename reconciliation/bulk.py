"""A selection of the work queue resolved at once: the console's action on the selected rows and
the API's ``POST /v1/reconciliation/mismatches/resolutions``. The same action and note on each
item, each under the rules of one (``queue.resolve``: its kind's actions, four eyes above the
threshold, each audited), each in a savepoint of its own, so a refused item leaves the others
done. The answer says per item what became of it (``OUTCOMES``)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

import schemas
from gateway.domain.catalogue import ServiceCatalogue
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.services.keys import Principal
from gateway.services.staff import StaffRole, require
from reconciliation import queue

BULK_LIMIT = 500  # items one request may touch (as the schema's maxItems): one transaction's worth
# done: it took effect; needs_approval: it waits for a second person's approve (four eyes);
# not_applicable: the action is not for its kind or its state; not_found: no such item;
# not_yours: four eyes refuses this person (their own movement to approve, or a key of no one)
OUTCOMES = ("done", "needs_approval", "not_applicable", "not_found", "not_yours")
_REFUSED = {
    NotFound: "not_found",
    Forbidden: "not_yours",
    Conflict: "not_applicable",
    Invalid: "not_applicable",
}


def resolve_many(
    session: Session,
    principal: Principal,
    document: Any,
    *,
    write_off_approval_fen: int,
    catalogue: ServiceCatalogue,
    today: date,
    amount_fen: int | None = None,
) -> dict[str, Any]:
    """``document``: ``ids``, ``action``, ``note`` (schemas/bulk-resolution.schema.json);
    ``amount_fen``: the console's amount box, for each item. What the whole request lacks (a
    field, the role) is refused before any item is touched; then each succeeds or is refused alone."""
    faults = schemas.faults("bulk-resolution", document)
    if faults:
        raise Invalid(faults)
    if not document["note"].strip():
        raise Invalid([("/note", "a note is required for every action")])
    action = document["action"]
    require(principal, StaffRole.APPROVER if action == "approve" else StaffRole.RECONCILER)
    one: dict[str, Any] = {"action": action, "note": document["note"]}
    if amount_fen is not None:
        one["amount_fen"] = amount_fen
    results: list[dict[str, Any]] = []
    for mismatch_id in dict.fromkeys(document["ids"]):
        try:
            with session.begin_nested():
                view = queue.resolve(
                    session,
                    principal,
                    mismatch_id,
                    one,
                    write_off_approval_fen=write_off_approval_fen,
                    catalogue=catalogue,
                    today=today,
                )
        except (NotFound, Forbidden, Conflict, Invalid) as refused:
            outcome = next(o for kind, o in _REFUSED.items() if isinstance(refused, kind))
            results.append({"id": mismatch_id, "outcome": outcome, "detail": refused.detail})
            if refused.faults:
                results[-1]["errors"] = [{"pointer": p, "detail": d} for p, d in refused.faults]
            continue
        waits = view["status"] == "pending_approval"
        results.append(
            {"id": mismatch_id, "outcome": "needs_approval" if waits else "done", "status": view["status"]}
        )
    counts = Counter(r["outcome"] for r in results)
    return {"action": action, "counts": {o: counts.get(o, 0) for o in OUTCOMES}, "results": results}
