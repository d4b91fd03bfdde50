"""The registry: payers and their products, providers and their designation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import schemas
from gateway import audit
from gateway.domain.products import Product, product_problems
from gateway.domain.providers import Designation, ProviderRegistration, provider_problems
from gateway.errors import Invalid, NotFound
from gateway.parsing import digest, parse
from gateway.storage.tables import (
    EnrollmentRow,
    PayerRow,
    ProductRow,
    ProductVersionRow,
    ProviderRow,
    utcnow,
)

T = TypeVar("T")
_PRODUCTS: dict[str, Product] = {}  # by definition digest: versions never change


@dataclass(frozen=True, slots=True)
class LoadedProduct:
    product_code: str
    payer_code: str
    version: int
    changed: bool


def load_product(session: Session, document: Any) -> LoadedProduct:
    """Register a product (and its payer); a changed definition becomes a new version."""
    product = parse("product", Product, document)
    faults = product_problems(product)
    if faults:
        raise Invalid(faults)
    if session.get(PayerRow, product.payer_code) is None:
        session.add(PayerRow(payer_code=product.payer_code))
        session.flush()
    key = digest(document)
    row = session.get(ProductRow, product.product_code, with_for_update=True)
    if row is not None:
        current = session.scalar(
            select(ProductVersionRow).where(
                ProductVersionRow.product_code == row.product_code, ProductVersionRow.version == row.version
            )
        )
        if current is not None and current.digest == key:
            return LoadedProduct(row.product_code, row.payer_code, row.version, changed=False)
        if row.payer_code != product.payer_code:
            raise Invalid([("/payer_code", f"{product.product_code} belongs to payer {row.payer_code}")])
        row.version += 1
        row.tier, row.kind, row.updated_at = product.tier, product.kind.value, utcnow()
    else:
        row = ProductRow(
            product_code=product.product_code,
            payer_code=product.payer_code,
            tier=product.tier,
            kind=product.kind.value,
            version=1,
        )
        session.add(row)
    session.flush()
    session.add(
        ProductVersionRow(product_code=row.product_code, version=row.version, definition=document, digest=key)
    )
    return LoadedProduct(row.product_code, row.payer_code, row.version, changed=True)


@dataclass(frozen=True, slots=True)
class LoadedPayer:
    payer_code: str
    adapter_type: str
    routes: int | None  # districts routed, for a tier-1 payer's file that lists them


def load_payer(session: Session, document: Any) -> LoadedPayer:
    """Register a payer and how to reach it (its adapter configuration): onboarding without code."""
    faults = schemas.faults("payer", document)
    if faults:
        raise Invalid(faults)
    _require_adapter(document)
    row = session.get(PayerRow, document["payer_code"], with_for_update=True)
    if row is None:
        row = PayerRow(payer_code=document["payer_code"])
        session.add(row)
    row.name = document.get("name", row.name)
    row.adapter = document.get("adapter")
    session.flush()
    adapter_type = str((row.adapter or {}).get("type", "local"))
    return LoadedPayer(row.payer_code, adapter_type, None)


def _require_adapter(document: dict[str, Any]) -> None:
    """A payer file naming an adapter that is not installed is refused now, not on a real claim."""
    from adapters.registry import factories

    kind = str((document.get("adapter") or {}).get("type", "local"))
    installed = factories()
    if kind not in installed:
        raise Invalid(
            [
                (
                    "/adapter/type",
                    f"no adapter of type {kind!r} is installed (installed: {', '.join(sorted(installed))})",
                )
            ]
        )


def load_dir(session: Session, directory: Path) -> tuple[list[LoadedPayer], list[LoadedProduct]]:
    """Every ``*.json`` file in ``directory``: payer files (``payer.schema.json``) first, then
    products, then the routing tables payer files carry. A bad file names itself and the field."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise Invalid([("", f"no *.json payer or product files in {directory}")])
    documents = [(path.name, _read(path)) for path in files]
    payer_files = [(n, d) for n, d in documents if isinstance(d, dict) and "product_code" not in d]
    product_files = [(n, d) for n, d in documents if not (isinstance(d, dict) and "product_code" not in d)]
    registered = set(session.scalars(select(PayerRow.payer_code)))
    payers = [_named(name, load_payer, session, document) for name, document in payer_files]
    products = [_named(name, load_product, session, document) for name, document in product_files]
    # A product's payer needs a payer file (here or loaded before): else it would silently become
    # a payer without an integration (a misspelt payer_code, a forgotten file).
    known = registered | {p.payer_code for p in payers}
    for (name, _), product in zip(product_files, products, strict=True):
        if product.payer_code not in known:
            raise Invalid(
                [
                    (
                        "/payer_code",
                        f"{name}: payer {product.payer_code!r} has no payer file in {directory} and is "
                        f"not registered (add payer-{product.payer_code}.json: schemas/payer.schema.json)",
                    )
                ]
            )
    for i, (name, document) in enumerate(payer_files):
        if "routes" in document:
            from gateway.reference.route_versions import set_routes

            routes = _named(name, set_routes, session, document["payer_code"], document["routes"])
            payers[i] = LoadedPayer(payers[i].payer_code, payers[i].adapter_type, len(routes["routes"]))
    return payers, products


def onboard(session: Session, payers: Sequence[Any], products: Sequence[Any] = ()) -> None:
    """Payer documents (adapters first), then products, then the routes payer documents carry:
    the order ``load_dir`` follows, for callers that hold the documents (demo, sandboxes)."""
    from gateway.reference.route_versions import set_routes

    for document in payers:
        load_payer(session, {k: v for k, v in document.items() if k != "routes"})
    for document in products:
        load_product(session, document)
    for document in payers:
        if "routes" in document:
            set_routes(session, document["payer_code"], document["routes"])


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise Invalid([("", f"{path.name}: not JSON ({error})")]) from None


def _named(name: str, load: Callable[..., T], *args: Any) -> T:
    try:
        return load(*args)
    except (Invalid, NotFound) as error:
        faults = error.faults or [("", error.detail)]
        raise Invalid([(pointer, f"{name}: {detail}") for pointer, detail in faults]) from None


def product_version(session: Session, product_code: str, version: int) -> Product:
    # the digest names the definition: it is read (and parsed) only the first time it is seen
    which = (ProductVersionRow.product_code == product_code, ProductVersionRow.version == version)
    digest_ = session.scalar(select(ProductVersionRow.digest).where(*which))
    if digest_ is None:
        raise NotFound(f"product {product_code} version {version} is not registered")
    product = _PRODUCTS.get(digest_)
    if product is None:
        definition = session.scalar(select(ProductVersionRow.definition).where(*which))
        product = _PRODUCTS[digest_] = Product.model_validate(definition)
    return product


def current_product(session: Session, product_code: str) -> tuple[Product, int]:
    row = session.get(ProductRow, product_code)
    if row is None:
        raise NotFound(f"product {product_code} is not registered")
    return product_version(session, product_code, row.version), row.version


@dataclass(frozen=True, slots=True)
class Holding:
    """A product a member is enrolled in, at its current version."""

    product: Product
    version: int
    start_date: date
    end_date: date | None


def holdings(session: Session, member_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Holding]]:
    """The members' enrollments with their products' current versions, in one query (claims are
    planned on every accept); definitions are read only for a version this process has not seen."""
    held: dict[uuid.UUID, list[Holding]] = {member_id: [] for member_id in member_ids}
    if not member_ids:
        return held
    rows = session.execute(
        select(
            EnrollmentRow.member_id,
            EnrollmentRow.product_code,
            EnrollmentRow.start_date,
            EnrollmentRow.end_date,
            ProductRow.version,
            ProductVersionRow.digest,
        )
        .join(ProductRow, ProductRow.product_code == EnrollmentRow.product_code)
        .join(
            ProductVersionRow,
            (ProductVersionRow.product_code == ProductRow.product_code)
            & (ProductVersionRow.version == ProductRow.version),
        )
        .where(EnrollmentRow.member_id.in_(member_ids))
        .order_by(EnrollmentRow.id)
    ).all()
    for member_id, code, start, end, version, digest_ in rows:
        product = _PRODUCTS.get(digest_) or product_version(session, code, version)
        held[member_id].append(Holding(product, version, start, end))
    return held


def list_payers(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            ProductRow.payer_code,
            ProductRow.product_code,
            ProductRow.tier,
            ProductRow.kind,
            ProductRow.version,
            ProductRow.updated_at,
        ).order_by(ProductRow.tier, ProductRow.payer_code, ProductRow.product_code)
    ).all()
    return [dict(row._mapping) for row in rows]


def adapter_target(
    session: Session, payer_code: str, product_code: str | None = None
) -> tuple[dict[str, Any] | None, Product, bool]:
    """What ``adapter-check`` needs: the payer's adapter configuration, a product it settles
    (its own, or the tier-1 product it administers) and whether the gateway proposes the share."""
    from gateway.storage.tables import DistrictRouteRow

    payer = session.get(PayerRow, payer_code)
    if payer is None:
        raise NotFound(f"no payer {payer_code} (register it with: ltc-gateway payers load DIR)")
    codes = list(
        session.scalars(select(ProductRow.product_code).where(ProductRow.payer_code == payer_code))
    ) + list(
        session.scalars(
            select(ProductRow.product_code)
            .join(DistrictRouteRow, DistrictRouteRow.payer_code == ProductRow.payer_code)
            .where(DistrictRouteRow.administrator_code == payer_code)
            .distinct()
        )
    )
    if product_code is not None:
        if product_code not in codes:
            raise NotFound(f"payer {payer_code} does not settle product {product_code}")
        codes = [product_code]
    if not codes:
        raise NotFound(f"payer {payer_code} settles no registered product")
    product, _ = current_product(session, sorted(codes)[0])
    from adapters.registry import capabilities

    local = capabilities(payer.adapter).adjudicates_locally
    return payer.adapter, product, local or product.adjudication.value == "gateway"


def payer_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PayerRow)) or 0


def register_provider(
    session: Session, document: Any, actor: str = "system"
) -> tuple[ProviderRegistration, bool]:
    """Register or update a provider; returns it and whether it was new (``actor``: who, audited)."""
    provider = parse("provider", ProviderRegistration, document)
    faults = provider_problems(provider)
    if faults:
        raise Invalid(faults)
    row = session.get(ProviderRow, provider.provider_code, with_for_update=True)
    created = row is None
    before = None if row is None else _provider_facts(row)
    if row is None:
        row = ProviderRow(provider_code=provider.provider_code)
        session.add(row)
    row.name, row.district, row.designated = provider.name, provider.district, provider.designated
    row.designated_from, row.designated_to = provider.designated_from, provider.designated_to
    row.updated_at = utcnow()
    after = _provider_facts(row)
    if before != after:
        action = "provider.registered" if created else "provider.updated"
        audit.record(session, action, f"provider:{row.provider_code}", actor, before=before, after=after)
    return provider, created


def _provider_facts(row: ProviderRow) -> dict[str, Any]:
    """What the audit trail keeps of a provider (an institution: its name is not personal data)."""
    return {
        "name": row.name,
        "district": row.district,
        "designated": row.designated,
        "designated_from": row.designated_from,
        "designated_to": row.designated_to,
    }


def designation(row: ProviderRow) -> Designation:
    return Designation(row.designated, row.designated_from, row.designated_to)
