"""The clearing lifecycle of a settlement batch, as a pure state machine (no I/O):

    申报 declared → 初审 first_reviewed → 复核 second_reviewed → 拨付 disbursed → 清算 cleared

Which action leads where, which role may take it, the four-eyes rule (复核 by another person than
初审; above a threshold a disbursement needs those two people), that 拨付 carries the payment
reference, and that a batch is frozen from 复核 on. ``reconciliation.batches`` applies it in a
transaction; the API, the CLI and the staff pages call that.

A person is who ``gateway.services.staff.person_of`` names (a signed-in staff account, or a machine
client key's party), as the work queue's write-off approval compares them. ``role`` is a key's
role name (``gateway.services.keys.Role`` values) or, for a person, the set of their staff roles
(``StaffRole`` values), checked against each step's ``people``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import Conflict, Forbidden, Invalid

DECLARED, FIRST_REVIEWED, SECOND_REVIEWED, DISBURSED, CLEARED = (
    "declared",
    "first_reviewed",
    "second_reviewed",
    "disbursed",
    "cleared",
)
STATES = (DECLARED, FIRST_REVIEWED, SECOND_REVIEWED, DISBURSED, CLEARED)
# From 复核 on no item may be added or changed: a later adjustment waits for the next batch.
FROZEN = frozenset({SECOND_REVIEWED, DISBURSED, CLEARED})
# Before 复核 the batch takes in what arrived since it was declared (at 初审), so 复核 approves
# exactly what 初审 reviewed.
TAKES_IN = frozenset({DECLARED})
MAX_REFERENCE = 128


STAFF = frozenset({"reconciler", "bureau"})
_RECONCILER, _SUPERVISOR = frozenset({"reconciler"}), frozenset({"bureau_supervisor"})


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    source: str | None  # None: the batch does not exist yet (declaring it)
    target: str
    roles: frozenset[str]  # the key roles that may take it
    label: str  # the Chinese name of the step, as people say it
    people: frozenset[str] = frozenset()  # the staff roles that may take it


Role = str | frozenset[str]  # a key's role, or a person's staff roles


def may(transition: Transition, role: Role) -> bool:
    if isinstance(role, str):
        return role in transition.roles
    return bool(transition.people & role)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("declare", None, DECLARED, _RECONCILER, "申报", _RECONCILER),
        Transition("first_review", DECLARED, FIRST_REVIEWED, _RECONCILER, "初审", _RECONCILER),
        Transition("second_review", FIRST_REVIEWED, SECOND_REVIEWED, STAFF, "复核", frozenset({"approver"})),
        Transition("disburse", SECOND_REVIEWED, DISBURSED, frozenset({"bureau"}), "拨付", _SUPERVISOR),
        Transition("clear", DISBURSED, CLEARED, STAFF, "清算", _RECONCILER | _SUPERVISOR),
    )
}
ACTIONS = tuple(a for a in TRANSITIONS if a != "declare")  # what a batch's transition POST takes
STATE_LABELS = {
    DECLARED: "申报",
    FIRST_REVIEWED: "初审",
    SECOND_REVIEWED: "复核",
    DISBURSED: "拨付",
    CLEARED: "清算",
}


@dataclass(frozen=True, slots=True)
class Batch:
    """What the rules need to know of a batch: its state, its net amount, and who did each step
    so far (action → person)."""

    state: str
    net_fen: int
    people: Mapping[str, str]


def step(
    batch: Batch,
    action: str,
    role: Role,
    person: str,
    *,
    payment_reference: str | None = None,
    approval_fen: int,
) -> str:
    """The state ``action`` leads ``batch`` to when ``person`` (acting in ``role``) takes it;
    Invalid for an unknown action or a missing reference, Forbidden for the wrong role or the same
    person twice, Conflict naming the state when the batch is not where the action starts."""
    transition = TRANSITIONS.get(action)
    if transition is None or transition.source is None:
        raise Invalid([("/action", f"must be one of {', '.join(ACTIONS)}")])
    if not may(transition, role):
        allowed = " or ".join(sorted(transition.roles if isinstance(role, str) else transition.people))
        who = f"a {role} key" if isinstance(role, str) else "this person's roles"
        raise Forbidden(f"{transition.label} ({action}) is for {allowed}; {who} cannot take it")
    if batch.state != transition.source:
        raise Conflict(
            f"the batch is {STATE_LABELS.get(batch.state, batch.state)} ({batch.state});"
            f" {transition.label} ({action}) needs {STATE_LABELS[transition.source]} ({transition.source})"
        )
    if action == "second_review" and batch.people.get("first_review") == person:
        raise Forbidden("four eyes: 复核 must be by another person than 初审")
    if action == "disburse":
        reference = (payment_reference or "").strip()
        if not reference:
            raise Invalid([("/payment_reference", "拨付 needs the payment reference")])
        if len(reference) > MAX_REFERENCE:
            raise Invalid([("/payment_reference", f"at most {MAX_REFERENCE} characters")])
        if abs(batch.net_fen) > approval_fen and not two_people(batch.people):
            raise Conflict(
                f"four eyes: a disbursement of more than {approval_fen} fen needs 初审 and 复核 by two people"
            )
    return transition.target


def two_people(people: Mapping[str, str]) -> bool:
    """初审 and 复核 were each taken, by two different people."""
    first, second = people.get("first_review"), people.get("second_review")
    return first is not None and second is not None and first != second


def may_declare(role: Role) -> None:
    if not may(TRANSITIONS["declare"], role):
        raise Forbidden("申报 (declare) is for reconciler; this key or person cannot take it")


def next_actions(batch: Batch, role: Role, person: str) -> list[str]:
    """The actions ``person`` may take on ``batch`` now (what a page offers them)."""
    offered = []
    for action in ACTIONS:
        transition = TRANSITIONS[action]
        if transition.source != batch.state or not may(transition, role):
            continue
        if action == "second_review" and batch.people.get("first_review") == person:
            continue
        offered.append(action)
    return offered
