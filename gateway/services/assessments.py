"""Assessments: graded by the gateway from the item scores, stored once for every tier."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.assessments import AssessmentSubmission, effective_from, grade_assessment, valid_until
from gateway.domain.grading import GradingTable
from gateway.errors import Conflict, Invalid
from gateway.parsing import digest, parse
from gateway.services.agencies import authorise_assessor
from gateway.services.keys import Principal
from gateway.services.member_versions import record_identity
from gateway.services.members import ensure_member, find_member
from gateway.storage.tables import AssessmentRow


def submit_assessment(
    session: Session,
    principal: Principal,
    document: Any,
    table: GradingTable,
    today: date,
    providers_may_assess: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Grade and store an assessment; (its view, whether it is new). A repeat of the same
    submission returns the first; the same agency, member and date with other scores is a conflict.
    Only a designated assessment agency submits (``agencies.authorise_assessor``); a changed name
    or address becomes a new version of the member's identity, which the assessment cites."""
    submission = parse("assessment", AssessmentSubmission, document)
    agency = submission.agency_code or principal.party_code
    known = find_member(session, submission.member.id_number)
    authorise_assessor(
        session,
        principal,
        agency,
        known.member_id if known is not None else None,
        submission.concluded_on,
        providers_may_assess,
    )
    grading, faults = grade_assessment(submission, table, today)
    if faults or grading is None:
        raise Invalid(faults)
    key = digest(document)
    member = known or ensure_member(session, submission.member.id_number)
    existing = session.scalar(
        select(AssessmentRow).where(
            AssessmentRow.member_id == member.member_id,
            AssessmentRow.agency_code == agency,
            AssessmentRow.concluded_on == submission.concluded_on,
        )
    )
    if existing is not None:
        if existing.request_digest != key:
            raise Conflict(
                f"agency {agency} already submitted a different assessment of this member "
                f"concluded on {submission.concluded_on}: assessment {existing.assessment_id}"
            )
        return assessment_view(existing), False
    assessment_id = uuid.uuid4()
    row = AssessmentRow(
        assessment_id=assessment_id,
        member_id=member.member_id,
        member_version=record_identity(session, member, submission.member, principal, assessment_id),
        agency_code=agency,
        concluded_on=submission.concluded_on,
        disabled_since=submission.disabled_since,
        scores={
            "adl": submission.adl,
            "cognition": submission.cognition,
            "perception": submission.perception,
        },
        adl_score=grading.adl.score,
        adl_level=grading.adl.level,
        cognition_score=grading.cognition.score,
        cognition_level=grading.cognition.level,
        perception_score=grading.perception.score,
        perception_level=grading.perception.level,
        grade=grading.grade,
        effective_from=effective_from(submission.concluded_on),
        valid_until=valid_until(submission.concluded_on),
        request_digest=key,
    )
    session.add(row)
    session.flush()
    _audit(session, principal, row)
    return assessment_view(row), True


def _audit(session: Session, principal: Principal, row: AssessmentRow) -> None:
    """The new assessment by ids and grades: the member's identity stays out of the trail."""
    view = assessment_view(row)
    after = {k: v for k, v in view.items() if k != "assessment_id"} | {"member_id": str(row.member_id)}
    subject = f"assessment:{row.assessment_id}"
    audit.record(
        session, "assessment.submitted", subject, audit.actor_of(principal), before=None, after=after
    )


def assessment_view(row: AssessmentRow) -> dict[str, Any]:
    return {
        "assessment_id": str(row.assessment_id),
        "agency_code": row.agency_code,
        "concluded_on": row.concluded_on.isoformat(),
        "disabled_since": row.disabled_since.isoformat(),
        "adl_score": row.adl_score,
        "adl_level": row.adl_level,
        "cognition_score": row.cognition_score,
        "cognition_level": row.cognition_level,
        "perception_score": row.perception_score,
        "perception_level": row.perception_level,
        "grade": row.grade,
        "effective_from": row.effective_from.isoformat(),
        "valid_until": row.valid_until.isoformat(),
        "member_version": row.member_version,
    }
