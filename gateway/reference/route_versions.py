"""Changing tier-1 routes: every change is a dated version of a district's route (the history is
never overwritten), checked, audited with who. Two ways in: the whole table as of a date
(``set_routes``: ``PUT /v1/payers/{code}/routes`` and payer files) and the districts a change
moves (``add_versions``: the bureau's routing page).

A version may not take effect on or before the service period of a claim that already has a
share of the payer in that district, up to the district's next version: the claim was routed
by the version then in force, and a replacement of it (re-planned from its period) would
silently go to another administrator. The bureau dates the change after that claim's period."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

import schemas
from gateway import audit
from gateway.domain.beijing_time import beijing_today
from gateway.errors import Conflict, Invalid, NotFound
from gateway.reference.routing import FROM_THE_START
from gateway.storage.tables import (
    AssessmentRow,
    ClaimRow,
    DistrictRouteRow,
    MemberRow,
    MemberVersionRow,
    PayerRow,
    PayerStepRow,
    ProviderRow,
    utcnow,
)


class Backdated(Conflict):
    """The version would take effect on or before the service period of a claim already routed."""

    def __init__(self, claim_number: str, first_day: date, district: str) -> None:
        self.claim_number, self.first_day, self.district = claim_number, first_day.isoformat(), district
        super().__init__(
            f"claim {claim_number} (service from {self.first_day}) in district {district} was routed by"
            f" the version in force then: date the change after {self.first_day}",
            [("/effective_from", f"after {self.first_day} (claim {claim_number}, district {district})")],
        )


Version = tuple[str, date, str | None]  # district, effective_from, administrator (None: no route)


def set_routes(
    session: Session,
    payer_code: str,
    routes: list[dict[str, str]],
    actor: str = "system",
    effective_from: date | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """The payer's whole table from ``effective_from`` (a tender result is published as a whole):
    a version for each district it changes, and a version without an administrator for each
    district it drops. No date: from today (Beijing), and from the start for a district never
    routed before (so a table loaded when a payer is onboarded routes every claim; from today if
    a claim of the district was routed already, without an administrator). Versions
    dated later stay. ``actor``: who, audited with the table before and after."""
    today = today or beijing_today()
    _check(session, payer_code, routes)
    dated = _versions(session, payer_code)
    when = effective_from or today
    before = in_effect(dated, when)
    after = {r["district"]: r["administrator_code"] for r in routes}
    changes: list[Version] = [(d, when, None) for d in sorted(before) if d not in after]
    for district, administrator in after.items():
        if before.get(district) != administrator:
            # a district never routed: from the start, unless a claim of it was already
            # routed (without an administrator), whose history that would rewrite
            new_district = effective_from is None and district not in dated
            if new_district and latest_claim(session, payer_code, district, FROM_THE_START, None):
                new_district = False
            changes.append((district, FROM_THE_START if new_district else when, administrator))
    _write(session, payer_code, dated, changes)
    if changes:
        audit.record(
            session,
            "routes.replaced",
            f"payer:{payer_code}",
            actor,
            effective_from=when.isoformat(),
            before=_listed(before),
            after=_listed(after),
        )
    return list_routes(session, payer_code, today)


def add_versions(
    session: Session,
    payer_code: str,
    effective_from: date,
    routes: list[dict[str, str | None]],
    actor: str,
    today: date | None = None,
) -> dict[str, Any]:
    """A version from ``effective_from`` for each district named (administrator None: the
    district is no longer routed from then); the others keep theirs. Audited with each
    district's administrator before and after."""
    _check(session, payer_code, routes)
    dated = _versions(session, payer_code)
    before = in_effect(dated, effective_from)
    changes: list[Version] = [
        (r["district"] or "", effective_from, r["administrator_code"])
        for r in routes
        if before.get(r["district"] or "") != r["administrator_code"]
    ]
    _write(session, payer_code, dated, changes)
    if changes:
        audit.record(
            session,
            "routes.versioned",
            f"payer:{payer_code}",
            actor,
            effective_from=effective_from.isoformat(),
            versions=[
                {"district": d, "administrator_code": a, "before": before.get(d)} for d, _, a in changes
            ],
        )
    return list_routes(session, payer_code, today)


def effective_date(text: str) -> date:
    """A version's first day as typed (YYYY-MM-DD, a Beijing date), else refused naming the field."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        day = None
    if day is None or len(text.strip()) != 10 or day.year < 2000:
        raise Invalid([("/effective_from", "a date, YYYY-MM-DD (from 2000)")])
    return day


def list_routes(session: Session, payer_code: str, today: date | None = None) -> dict[str, Any]:
    """The table in effect today and every version with its dates: past, current and future."""
    today = today or beijing_today()
    dated = _versions(session, payer_code)
    versions = []
    for district, rows in sorted(dated.items()):
        for i, row in enumerate(rows):
            until = rows[i + 1].effective_from if i + 1 < len(rows) else None
            state = (
                "future" if row.effective_from > today else "past" if until and until <= today else "current"
            )
            versions.append(
                {
                    "district": district,
                    "administrator_code": row.administrator_code,
                    "effective_from": None
                    if row.effective_from == FROM_THE_START
                    else row.effective_from.isoformat(),
                    "until": until.isoformat() if until else None,  # exclusive: the next version's start
                    "state": state,
                    "recorded_at": row.updated_at.isoformat(),
                }
            )
    return {
        "payer_code": payer_code,
        "on": today.isoformat(),
        "routes": _listed(in_effect(dated, today)),
        "versions": versions,
    }


def in_effect(dated: dict[str, list[DistrictRouteRow]], on: date) -> dict[str, str]:
    """Each district's administrator on a date (districts not routed then left out)."""
    table = {}
    for district, rows in dated.items():
        current = [r for r in rows if r.effective_from <= on]
        if current and current[-1].administrator_code is not None:
            table[district] = current[-1].administrator_code
    return table


def district_of() -> Any:
    """``routing.member_district`` in SQL, over a claim joined to its assessment, member, cited
    member version (``cited``) and provider: a claim's district for the back-dating check."""
    cited = aliased(MemberVersionRow, name="cited")
    lived = case((cited.version.is_not(None), cited.district), else_=MemberRow.district)
    return cited, func.coalesce(func.nullif(lived, ""), ProviderRow.district)


def latest_claim(
    session: Session, payer_code: str, district: str, start: date, end: date | None
) -> tuple[str, date] | None:
    """The claim with a share of the payer in the district whose service period starts latest
    within [start, end): its number and first day."""
    cited, where = district_of()
    found = session.execute(
        select(ClaimRow.claim_number, ClaimRow.period_start)
        .join(AssessmentRow, AssessmentRow.assessment_id == ClaimRow.assessment_id)
        .join(MemberRow, MemberRow.member_id == ClaimRow.member_id)
        .join(ProviderRow, ProviderRow.provider_code == ClaimRow.provider_code)
        .outerjoin(
            cited,
            and_(cited.member_id == AssessmentRow.member_id, cited.version == AssessmentRow.member_version),
        )
        .where(
            ClaimRow.claim_id.in_(
                select(PayerStepRow.claim_id).where(
                    PayerStepRow.payer_code == payer_code, PayerStepRow.tier == 1
                )
            ),
            ClaimRow.period_start >= start,
            *([ClaimRow.period_start < end] if end else []),
            where == district,
        )
        .order_by(ClaimRow.period_start.desc())
        .limit(1)
    ).first()
    return (found[0], found[1]) if found else None


def _check(session: Session, payer_code: str, routes: list[dict[str, Any]]) -> None:
    """The districts well formed and named once, each administrator a registered payer (None:
    a district no longer routed)."""
    if session.get(PayerRow, payer_code) is None:
        raise NotFound(f"no payer {payer_code}", [("/payer_code", f"no payer {payer_code}")])
    shapes = [{**r, "administrator_code": r["administrator_code"] or "-"} for r in routes]
    faults = schemas.faults("routes", {"routes": shapes})
    if faults:
        raise Invalid(faults)
    seen: set[str] = set()
    for i, route in enumerate(routes):
        if route["district"] in seen:
            faults.append((f"/routes/{i}/district", f"district {route['district']} is routed twice"))
        seen.add(route["district"])
        if (
            route["administrator_code"] is not None
            and session.get(PayerRow, route["administrator_code"]) is None
        ):
            faults.append((f"/routes/{i}/administrator_code", f"no payer {route['administrator_code']}"))
    if faults:
        raise Invalid(faults)


def _versions(session: Session, payer_code: str) -> dict[str, list[DistrictRouteRow]]:
    """The payer's versions by district, oldest first."""
    dated: dict[str, list[DistrictRouteRow]] = {}
    for row in session.scalars(
        select(DistrictRouteRow)
        .where(DistrictRouteRow.payer_code == payer_code)
        .order_by(DistrictRouteRow.district, DistrictRouteRow.effective_from)
    ):
        dated.setdefault(row.district, []).append(row)
    return dated


def _write(
    session: Session, payer_code: str, dated: dict[str, list[DistrictRouteRow]], changes: list[Version]
) -> None:
    """The versions, each refused if it would re-route a claim already routed. A version dated
    the same day as a recorded one corrects it (the check has shown no claim was routed by it)."""
    now = utcnow()
    for district, start, administrator in changes:
        later = [r.effective_from for r in dated.get(district, []) if r.effective_from > start]
        routed = latest_claim(session, payer_code, district, start, later[0] if later else None)
        if routed is not None:
            raise Backdated(*routed, district)
        same = next((r for r in dated.get(district, []) if r.effective_from == start), None)
        if same is not None:
            same.administrator_code, same.updated_at = administrator, now
        else:
            session.add(
                DistrictRouteRow(
                    payer_code=payer_code,
                    district=district,
                    effective_from=start,
                    administrator_code=administrator,
                    updated_at=now,
                )
            )
    session.flush()


def _listed(table: dict[str, str]) -> list[dict[str, str]]:
    return [{"district": d, "administrator_code": a} for d, a in sorted(table.items())]
