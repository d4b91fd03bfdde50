"""Whether a home visit is verified by its check-in evidence (face, GPS or beacon)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.coordination.facts import VisitRecord
from gateway.domain.claims import ClaimLine

_EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class VisitFinding:
    verified: bool
    problems: tuple[str, ...] = ()


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def check_visit(
    line: ClaimLine,
    *,
    radius_m: float,
    billed_minutes: int | None,
    member_position: tuple[float, float] | None,
    caregiver_visits: Iterable[VisitRecord],
) -> VisitFinding:
    """A home line is unverified when evidence is missing, the stay is shorter than the billed time,
    the check-in is farther than ``radius_m`` from the registered address, or the same caregiver
    was checked in elsewhere (farther than ``radius_m`` away) at an overlapping time."""
    visit = line.visit
    if visit is None:
        return VisitFinding(False, ("no visit evidence",))
    problems: list[str] = []
    if visit.check_in.date() != line.service_date:  # the date where the visit happened (its own offset)
        problems.append(f"checked in on {visit.check_in.date()}, billed for {line.service_date}")
    stayed = (visit.check_out - visit.check_in).total_seconds() / 60
    if billed_minutes is not None and stayed < billed_minutes:
        problems.append(f"stayed {stayed:.0f} min, billed {billed_minutes} min")
    if member_position is None:
        problems.append("the member has no registered position to check against")
    else:
        away = distance_m(visit.lat, visit.lon, *member_position)
        if away > radius_m:
            problems.append(f"checked in {away:.0f} m from the registered address (limit {radius_m:.0f} m)")
    for other in caregiver_visits:
        if other.caregiver_id != visit.caregiver_id:
            continue
        if other.check_in < visit.check_out and visit.check_in < other.check_out:
            apart = distance_m(visit.lat, visit.lon, other.lat, other.lon)
            if apart > radius_m:
                problems.append(
                    f"caregiver {visit.caregiver_id} was {apart:.0f} m away at the same time ({other.where})"
                )
    return VisitFinding(not problems, tuple(problems))
