"""The gateway's tables, one module per bounded context. Every row class (and ``Base``,
``UTCDateTime``, ``utcnow``) is re-exported here, so callers import from ``gateway.storage.tables``;
importing the package defines every table, as Alembic's comparison with the schema needs."""

from __future__ import annotations

from gateway.storage.tables.base import NAMING, Base, UTCDateTime, utcnow
from gateway.storage.tables.claims import (
    AdjustmentRow,
    AssessmentRow,
    ClaimLineRow,
    ClaimRow,
    FixedBenefitRow,
    FlagRow,
    LinePaymentRow,
    OutboxRow,
    PayerStepRow,
)
from gateway.storage.tables.parties import (
    ApiKeyRow,
    AssessmentAgencyRow,
    DistrictRouteRow,
    EnrollmentRow,
    MemberRow,
    MemberVersionRow,
    PayerRow,
    ProductRow,
    ProductVersionRow,
    ProviderRow,
    UiSessionRow,
)
from gateway.storage.tables.reconciliation import (
    LedgerEntryRow,
    MismatchActionRow,
    MismatchRow,
    ReconciliationResultRow,
    ReconciliationRunRow,
    SettlementBatchRow,
    SettlementItemRow,
    StatementLineRow,
    StatementRow,
)
from gateway.storage.tables.records import (
    AuditEntryRow,
    AuditHeadRow,
    IdempotencyKeyRow,
    SimulationRow,
)
from gateway.storage.tables.webhooks import WebhookDeliveryRow, WebhookEndpointRow

__all__ = [
    "NAMING",
    "AdjustmentRow",
    "ApiKeyRow",
    "AssessmentAgencyRow",
    "AssessmentRow",
    "AuditEntryRow",
    "AuditHeadRow",
    "Base",
    "ClaimLineRow",
    "ClaimRow",
    "DistrictRouteRow",
    "EnrollmentRow",
    "FixedBenefitRow",
    "FlagRow",
    "IdempotencyKeyRow",
    "LedgerEntryRow",
    "LinePaymentRow",
    "MemberRow",
    "MemberVersionRow",
    "MismatchActionRow",
    "MismatchRow",
    "OutboxRow",
    "PayerRow",
    "PayerStepRow",
    "ProductRow",
    "ProductVersionRow",
    "ProviderRow",
    "ReconciliationResultRow",
    "ReconciliationRunRow",
    "SettlementBatchRow",
    "SettlementItemRow",
    "SimulationRow",
    "StatementLineRow",
    "StatementRow",
    "UTCDateTime",
    "UiSessionRow",
    "WebhookDeliveryRow",
    "WebhookEndpointRow",
    "utcnow",
]
