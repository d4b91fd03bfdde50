"""The coordinated statement (结算单) of one claim, as a provider hands it to the family: built
from the claim view (so each party sees exactly what ``GET /v1/claims/{id}`` shows it) with the
names of the parties and services, every amount in yuan and every reason in words. The HTML and
PDF renderings (``html.py``, ``pdf.py``) both draw this one structure."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.documents.translations import Translator
from gateway.domain.beijing_time import BEIJING
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.identity import mask_id_number, mask_name
from gateway.domain.money import yuan
from gateway.services.claim_view import claim_view
from gateway.services.keys import Principal, Role
from gateway.storage.tables import ClaimRow, MemberRow, PayerRow, ProductVersionRow, ProviderRow


@dataclass(frozen=True, slots=True)
class Names:
    """How parties, products and services are called on paper (codes where no name is known)."""

    provider: str = ""
    member: str = ""  # masked
    payers: dict[str, str] = field(default_factory=dict)
    products: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unpaid:
    reason: str
    code: str
    amount: str


@dataclass(frozen=True, slots=True)
class Payment:
    tier: str
    payer: str
    product: str
    paid: str
    unpaid: list[Unpaid]


@dataclass(frozen=True, slots=True)
class Line:
    line_no: int
    service: str
    dates: str
    quantity: int
    unit_price: str
    billed: str
    payments: list[Payment]
    member_pays: str | None


@dataclass(frozen=True, slots=True)
class Statement:
    lang: str
    claim_number: str
    claim_id: str
    provider: str
    member: str
    member_id_number: str  # always masked: the paper leaves the provider's hands
    period: str
    status: str
    final: bool
    payer_view: bool
    round: int
    received_at: str
    coordinated_at: str
    printed_at: str
    lines: list[Line]
    total_billed: str
    total_paid: str
    paid_by_payer: list[tuple[str, str]]
    member_pays: str | None
    fixed_benefits: list[dict[str, str]]
    adjustments: list[dict[str, str]]
    references: list[dict[str, str]]


def settlement_statement(
    session: Session, principal: Principal, claim_id: str, services: ServiceCatalogue, t: Translator
) -> Statement:
    """The statement of a claim as ``principal`` may see it (404 where the claim view is)."""
    view = claim_view(session, principal, claim_id)
    claim = session.get_one(ClaimRow, uuid.UUID(view["claim_id"]))
    member = session.get_one(MemberRow, claim.member_id)
    provider = session.get(ProviderRow, claim.provider_code)
    payer_codes = {f["payer_code"] for f in view["fixed_benefits"]}
    for step in view["payers"]:
        payer_codes |= {step["payer_code"], step.get("administrator_code") or step["payer_code"]}
    product_codes = {p["product_code"] for p in view["payers"]}
    payers = {
        row.payer_code: row.name or row.payer_code
        for row in session.scalars(select(PayerRow).where(PayerRow.payer_code.in_(payer_codes)))
    }
    products: dict[str, str] = {}
    for version in session.scalars(
        select(ProductVersionRow)
        .where(ProductVersionRow.product_code.in_(product_codes))
        .order_by(ProductVersionRow.version)
    ):
        products[version.product_code] = version.definition.get("name") or version.product_code
    names = Names(
        provider=f"{provider.name}（{provider.provider_code}）" if provider else view["provider_code"],
        member=mask_name(member.name) if member.name else "",
        payers=payers,
        products=products,
        services={code: s.label for code, s in services.services.items()},
    )
    return build(view, names, t, datetime.now(UTC), payer_view=principal.role == Role.PAYER)


def build(
    view: dict[str, Any], names: Names, t: Translator, printed: datetime, *, payer_view: bool = False
) -> Statement:
    """The statement from a claim view: pure, so every figure is the view's own. ``payer_view``: a
    payer's copy, which holds its own share only (the view gave it no member share)."""
    tiers = {p["product_code"]: p["tier"] for p in view["payers"]}
    final = view["status"] == "coordinated"
    totals: dict[tuple[int, str, str], int] = defaultdict(int)
    lines = []
    for line in view["lines"]:
        payments = []
        for p in line["payments"]:
            tier = tiers.get(p["product_code"], 0)
            totals[(tier, p["payer_code"], p["product_code"])] += p["paid_fen"]
            payments.append(
                Payment(
                    tier=t(f"tier.{tier}"),
                    payer=names.payers.get(p["payer_code"], p["payer_code"]),
                    product=names.products.get(p["product_code"], p["product_code"]),
                    paid=yuan(p["paid_fen"]),
                    unpaid=[
                        Unpaid(t.reason(r["code"]), r["code"], yuan(r["amount_fen"]))
                        for r in p["reasons"]
                        if r["amount_fen"]
                    ],
                )
            )
        end = line["service_end_date"]
        label = names.services.get(line["service_code"])
        lines.append(
            Line(
                line_no=line["line_no"],
                service=f"{label}（{line['service_code']}）" if label else line["service_code"],
                dates=f"{line['service_date']} – {end}" if end else line["service_date"],
                quantity=line["quantity"],
                unit_price=yuan(line["unit_price_fen"]),
                billed=yuan(line["billed_fen"]),
                payments=payments,
                member_pays=(
                    yuan(line["member_responsibility_fen"])
                    if line["member_responsibility_fen"] is not None
                    else None
                ),
            )
        )
    return Statement(
        lang=t.lang,
        claim_number=view["claim_number"],
        claim_id=view["claim_id"],
        provider=names.provider or view["provider_code"],
        member=names.member,
        member_id_number=mask_id_number(view["member_id_number"]),
        period=f"{view['period']['start']} – {view['period']['end']}",
        status=t(f"status.{view['status']}"),
        final=final,
        payer_view=payer_view,
        round=view["round"],
        received_at=beijing(view["received_at"]),
        coordinated_at=beijing(view["coordinated_at"]),
        printed_at=beijing(printed.isoformat()),
        lines=lines,
        total_billed=yuan(view["billed_fen"]),
        total_paid=yuan(sum(totals.values())),
        paid_by_payer=[
            (
                " · ".join(
                    (t(f"tier.{tier}"), names.payers.get(payer, payer), names.products.get(product, product))
                ),
                yuan(amount),
            )
            for (tier, payer, product), amount in sorted(totals.items())
        ],
        member_pays=(
            yuan(view["member_responsibility_fen"]) if view["member_responsibility_fen"] is not None else None
        ),
        fixed_benefits=[
            {
                "payer": names.payers.get(f["payer_code"], f["payer_code"]),
                "product": names.products.get(f["product_code"], f["product_code"]),
                "month": f["month"],
                "amount": yuan(f["amount_fen"]),
                "payee": t(f"payee.{f['payee']}"),
            }
            for f in view["fixed_benefits"]
        ],
        adjustments=[
            {
                "round": str(a["round"]),
                "payer": names.payers.get(a["payer_code"], a["payer_code"]),
                "product": names.products.get(a["product_code"], a["product_code"]),
                "line": str(a["line_no"]),
                "previous": yuan(a["previous_paid_fen"]),
                "now": yuan(a["paid_fen"]),
                "delta": yuan(a["delta_fen"]),
                "kind": t(f"adjustment.{a['kind']}"),
                "cause": a["cause"],
            }
            for a in view["adjustments"]
        ],
        references=[
            {
                "tier": t(f"tier.{p['tier']}"),
                "payer": _handled_by(p, names, t),
                "product": names.products.get(p["product_code"], p["product_code"]),
                "status": t(f"step.{p['status']}"),
                "reference": p.get("payer_reference") or "—",
            }
            for p in view["payers"]
        ],
    )


def _handled_by(step: dict[str, Any], names: Names, t: Translator) -> str:
    """The payer, and the contracted administrator that handles a tier-1 share for it."""
    payer = names.payers.get(step["payer_code"], step["payer_code"])
    administrator = step.get("administrator_code")
    if not administrator:
        return payer
    return t(
        "statement.handled_by", payer=payer, administrator=names.payers.get(administrator, administrator)
    )


def beijing(stamp: str | None) -> str:
    """An ISO timestamp as Beijing wall time to the minute (stored times are UTC)."""
    if not stamp:
        return "—"
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
