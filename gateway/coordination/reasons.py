"""Why a payer did not pay a fen: every unpaid amount carries one of these codes."""

from enum import StrEnum

from gateway.domain.products import Exclusion


class Reason(StrEnum):
    # Eligibility: the whole amount (or the ineligible days of a bed-day range), checked in this order.
    NOT_COVERED = "NOT_COVERED"
    GRADE_BELOW_THRESHOLD = "GRADE_BELOW_THRESHOLD"
    ASSESSMENT_NOT_EFFECTIVE = "ASSESSMENT_NOT_EFFECTIVE"
    WAITING_PERIOD = "WAITING_PERIOD"
    PROVIDER_NOT_DESIGNATED = "PROVIDER_NOT_DESIGNATED"
    EXCLUDED_MEDICAL_INSURANCE = "EXCLUDED_MEDICAL_INSURANCE"
    EXCLUDED_WORK_INJURY = "EXCLUDED_WORK_INJURY"
    EXCLUDED_THIRD_PARTY = "EXCLUDED_THIRD_PARTY"
    EXCLUDED_PUBLIC_HEALTH = "EXCLUDED_PUBLIC_HEALTH"
    SETTING_NOT_COVERED = "SETTING_NOT_COVERED"
    SERVICE_NOT_COVERED = "SERVICE_NOT_COVERED"
    VISIT_UNVERIFIED = "VISIT_UNVERIFIED"
    # Units an earlier claim already claimed (domain.md section 4): taken out before any other reason.
    DUPLICATE_SERVICE = "DUPLICATE_SERVICE"
    # Reductions of an eligible amount.
    OVER_UNIT_LIMIT = "OVER_UNIT_LIMIT"
    COINSURANCE = "COINSURANCE"
    MONTHLY_LIMIT = "MONTHLY_LIMIT"
    ANNUAL_LIMIT = "ANNUAL_LIMIT"
    PRIOR_PAYER_PAID = "PRIOR_PAYER_PAID"


REASON_ORDER = {reason: i for i, reason in enumerate(Reason)}

EXCLUSION_REASON = {
    Exclusion.MEDICAL_INSURANCE: Reason.EXCLUDED_MEDICAL_INSURANCE,
    Exclusion.WORK_INJURY: Reason.EXCLUDED_WORK_INJURY,
    Exclusion.THIRD_PARTY: Reason.EXCLUDED_THIRD_PARTY,
    Exclusion.PUBLIC_HEALTH: Reason.EXCLUDED_PUBLIC_HEALTH,
}
