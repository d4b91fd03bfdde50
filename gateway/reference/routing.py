"""Tier-1 routing: the bureau maps each district to the contracted administrator (承办机构)
that handles the fund's shares there. A city tenders the work to 2–5 insurers, each taking
some districts; a claim's tier-1 share goes to the administrator of the member's district."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import schemas
from gateway import audit
from gateway.errors import Invalid, NotFound
from gateway.storage.tables import (
    DistrictRouteRow,
    MemberRow,
    MemberVersionRow,
    PayerRow,
    ProviderRow,
    utcnow,
)


class NoRoute(Exception):
    """The payer routes by district, and no administrator serves this one."""


def set_routes(
    session: Session, payer_code: str, routes: list[dict[str, str]], actor: str = "system"
) -> dict[str, Any]:
    """Replace the payer's whole routing table (a tender result is published as a whole);
    ``actor``: who, audited with the table before and after."""
    if session.get(PayerRow, payer_code) is None:
        raise NotFound(f"no payer {payer_code}")
    faults = schemas.faults("routes", {"routes": routes})
    if faults:
        raise Invalid(faults)
    seen: set[str] = set()
    for i, route in enumerate(routes):
        if route["district"] in seen:
            faults.append((f"/routes/{i}/district", f"district {route['district']} is routed twice"))
        seen.add(route["district"])
        if session.get(PayerRow, route["administrator_code"]) is None:
            faults.append((f"/routes/{i}/administrator_code", f"no payer {route['administrator_code']}"))
    if faults:
        raise Invalid(faults)
    before = list_routes(session, payer_code)["routes"]
    session.execute(delete(DistrictRouteRow).where(DistrictRouteRow.payer_code == payer_code))
    now = utcnow()
    session.add_all(
        DistrictRouteRow(
            payer_code=payer_code,
            district=r["district"],
            administrator_code=r["administrator_code"],
            updated_at=now,
        )
        for r in routes
    )
    session.flush()
    after = list_routes(session, payer_code)
    if after["routes"] != before:
        audit.record(
            session, "routes.replaced", f"payer:{payer_code}", actor, before=before, after=after["routes"]
        )
    return after


def list_routes(session: Session, payer_code: str) -> dict[str, Any]:
    rows = session.scalars(
        select(DistrictRouteRow)
        .where(DistrictRouteRow.payer_code == payer_code)
        .order_by(DistrictRouteRow.district)
    )
    return {
        "payer_code": payer_code,
        "routes": [{"district": r.district, "administrator_code": r.administrator_code} for r in rows],
    }


def member_district(member: MemberRow, provider: ProviderRow, cited: MemberVersionRow | None = None) -> str:
    """Where the member lives as ``cited`` (the identity the claim's assessment recorded) says: a
    later assessment's address does not move a claim that does not cite it. The member's latest
    stands in only where an assessment cites no version. A member whose district is not known
    is served where cared for."""
    if cited is not None:
        return cited.district or provider.district
    return member.district or provider.district


def district_routes(session: Session, payer_codes: set[str]) -> dict[str, dict[str, str]]:
    """Each payer's table of districts and administrators (payers that do not route have none)."""
    tables: dict[str, dict[str, str]] = {code: {} for code in payer_codes}
    if payer_codes:
        for payer, district, administrator in session.execute(
            select(
                DistrictRouteRow.payer_code, DistrictRouteRow.district, DistrictRouteRow.administrator_code
            ).where(DistrictRouteRow.payer_code.in_(payer_codes))
        ):
            tables[payer][district] = administrator
    return tables


def administrator_in(routes: dict[str, str], payer_code: str, district: str) -> str | None:
    """The administrator of the district in a payer's table; None when the payer does not route."""
    if not routes:
        return None
    if district not in routes:
        raise NoRoute(f"{payer_code} routes by district and no administrator serves district {district}")
    return routes[district]


def administrator_for(session: Session, payer_code: str, district: str) -> str | None:
    """The administrator of the district; None when the payer does not route by district."""
    return administrator_in(district_routes(session, {payer_code})[payer_code], payer_code, district)
