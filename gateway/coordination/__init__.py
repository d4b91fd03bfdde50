"""Coordination of benefits across payers (domain.md section 5). Pure: plain functions, no I/O.

``coordinate_payer`` computes one payer's share of a claim given what earlier payers paid;
``coordinate`` chains every payer in tier order and adds the fixed benefits beside the result.
"""

from gateway.coordination.duplicates import ClaimedLine, Repeat, repeats
from gateway.coordination.engine import (
    Coordination,
    LineShare,
    PayerShare,
    coordinate,
    coordinate_payer,
    period_keys,
)
from gateway.coordination.facts import CaseFacts, VisitRecord
from gateway.coordination.fixed import FixedBenefitDecision, fixed_benefits
from gateway.coordination.reasons import Reason
from gateway.coordination.visits import VisitFinding

__all__ = [
    "CaseFacts",
    "ClaimedLine",
    "Coordination",
    "FixedBenefitDecision",
    "LineShare",
    "PayerShare",
    "Reason",
    "Repeat",
    "VisitFinding",
    "VisitRecord",
    "coordinate",
    "coordinate_payer",
    "fixed_benefits",
    "period_keys",
    "repeats",
]
