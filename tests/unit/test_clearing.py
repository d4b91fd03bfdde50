"""The clearing lifecycle as a pure state machine (reconciliation/clearing.py): every action from
every state, the roles, the four-eyes rule, the payment reference, the threshold."""

from __future__ import annotations

import pytest

from gateway.errors import Conflict, Forbidden, Invalid
from reconciliation import clearing
from reconciliation.clearing import Batch, step

ROLE_OF = {
    "first_review": "reconciler",
    "second_review": "reconciler",
    "disburse": "bureau",
    "clear": "reconciler",
}
SOURCE = {
    "first_review": "declared",
    "second_review": "first_reviewed",
    "disburse": "second_reviewed",
    "clear": "disbursed",
}


def batch(state: str, net_fen: int = 5000, **people: str) -> Batch:
    return Batch(state, net_fen, people)


def test_the_lifecycle_walks_declared_to_cleared() -> None:
    state, people = "declared", {"declare": "zhang"}
    for action, who in (
        ("first_review", "zhang"),
        ("second_review", "li"),
        ("disburse", "bureau"),
        ("clear", "zhang"),
    ):
        state = step(
            batch(state, **people), action, ROLE_OF[action], who, payment_reference="R-1", approval_fen=0
        )
        people[action] = who
    assert state == "cleared"


@pytest.mark.parametrize("action", clearing.ACTIONS)
@pytest.mark.parametrize("state", clearing.STATES)
def test_an_action_from_any_other_state_is_a_conflict_naming_the_state(state: str, action: str) -> None:
    if state == SOURCE[action]:
        return
    with pytest.raises(Conflict) as raised:
        step(batch(state), action, ROLE_OF[action], "wang", payment_reference="R-1", approval_fen=10**12)
    assert state in raised.value.detail and clearing.STATE_LABELS[state] in raised.value.detail


@pytest.mark.parametrize(
    ("action", "role"),
    [
        ("first_review", "bureau"),
        ("disburse", "reconciler"),
        ("first_review", "payer"),
        ("second_review", "provider"),
        ("clear", "admin"),
    ],
)
def test_the_wrong_role_is_forbidden_whatever_the_state(action: str, role: str) -> None:
    with pytest.raises(Forbidden):
        step(batch(SOURCE[action]), action, role, "wang", payment_reference="R-1", approval_fen=10**12)
    with pytest.raises(Forbidden):  # the role is checked before the state: no state is revealed
        step(batch("cleared"), action, role, "wang", payment_reference="R-1", approval_fen=10**12)


def test_the_same_person_cannot_take_second_review_after_first_review() -> None:
    reviewed = batch("first_reviewed", first_review="zhang")
    with pytest.raises(Forbidden, match="four eyes"):
        step(reviewed, "second_review", "reconciler", "zhang", approval_fen=10**12)
    with pytest.raises(Forbidden, match="four eyes"):  # a bureau key of the same party is the same person
        step(reviewed, "second_review", "bureau", "zhang", approval_fen=10**12)
    assert step(reviewed, "second_review", "bureau", "bureau", approval_fen=10**12) == "second_reviewed"
    assert clearing.next_actions(reviewed, "reconciler", "zhang") == []
    assert clearing.next_actions(reviewed, "reconciler", "li") == ["second_review"]


@pytest.mark.parametrize("reference", [None, "", "   ", "x" * 129])
def test_disbursing_needs_a_payment_reference(reference: str | None) -> None:
    approved = batch("second_reviewed", first_review="zhang", second_review="li")
    with pytest.raises(Invalid) as raised:
        step(approved, "disburse", "bureau", "bureau", payment_reference=reference, approval_fen=10**12)
    assert raised.value.faults[0][0] == "/payment_reference"


def test_above_the_threshold_a_disbursement_needs_two_people_and_the_lifecycle_always_has_them() -> None:
    one_person = batch("second_reviewed", net_fen=-200_000, first_review="zhang", second_review="zhang")
    with pytest.raises(Conflict, match="two people"):  # a history that broke the rule is refused
        step(one_person, "disburse", "bureau", "bureau", payment_reference="R", approval_fen=100_000)
    assert (
        step(one_person, "disburse", "bureau", "bureau", payment_reference="R", approval_fen=200_000)
        == "disbursed"
    )
    two = batch("second_reviewed", net_fen=-200_000, first_review="zhang", second_review="li")
    assert (
        step(two, "disburse", "bureau", "bureau", payment_reference="R", approval_fen=100_000) == "disbursed"
    )


def test_an_unknown_action_names_the_field() -> None:
    for action in ("declare", "approve", ""):
        with pytest.raises(Invalid) as raised:
            step(batch("declared"), action, "reconciler", "zhang", approval_fen=0)
        assert raised.value.faults[0][0] == "/action"


def test_a_persons_staff_roles_decide_which_steps_they_may_take() -> None:
    reconciler, approver = frozenset({"reconciler"}), frozenset({"approver"})
    supervisor = frozenset({"bureau_supervisor"})
    assert (
        step(batch("declared"), "first_review", reconciler, "person:zhang", approval_fen=0)
        == "first_reviewed"
    )
    reviewed = batch("first_reviewed", first_review="person:zhang")
    with pytest.raises(Forbidden):  # 复核 is the approver's
        step(reviewed, "second_review", reconciler, "person:wang", approval_fen=0)
    with pytest.raises(Forbidden, match="four eyes"):  # and not the same person's, whatever roles
        step(reviewed, "second_review", approver | reconciler, "person:zhang", approval_fen=0)
    assert step(reviewed, "second_review", approver, "person:li", approval_fen=0) == "second_reviewed"
    big = batch("second_reviewed", -200_000, first_review="person:zhang", second_review="person:zhang")
    with pytest.raises(Forbidden):  # 拨付 is the bureau supervisor's
        step(big, "disburse", approver, "person:zhao", payment_reference="R", approval_fen=100_000)
    with pytest.raises(Conflict, match="two people"):
        step(big, "disburse", supervisor, "person:zhao", payment_reference="R", approval_fen=100_000)
    assert clearing.next_actions(reviewed, approver, "person:zhang") == []
    assert clearing.next_actions(reviewed, approver, "person:li") == ["second_review"]
