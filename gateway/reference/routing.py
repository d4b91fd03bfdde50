"""Tier-1 routing: the bureau maps each district to the contracted administrator (承办机构)
that handles the fund's shares there. A city tenders the work to 2–5 insurers, each taking
some districts; a claim's tier-1 share goes to the administrator of the member's district.

A district's route is a version from a Beijing date (``effective_from``, inclusive) until its
next version: a tender changes hands on a date. A claim is routed by the route in effect on
the first day of its service period: the administrator under contract when the care was given
settles it, however late it is submitted, and a claim (within one calendar month) has one
administrator. Changing routes is ``route_versions``; this module only reads them."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import DistrictRouteRow, ProviderRow

# The start of the routes recorded before they had dates (and of a payer's first table when it
# names no date): they routed every claim, whatever its service period.
FROM_THE_START = date.min


class NoRoute(Exception):
    """The payer routes by district, and no administrator serves this one."""


@dataclass(frozen=True)
class RouteTable:
    """A payer's routes through time: per district the start dates of its versions (oldest
    first) and their administrators (None: not routed from then); and the dates the table
    changes, with whether it routes anything from each (an empty table: the payer settles
    itself). Built once per batch of claims, read by bisection for each share."""

    districts: dict[str, tuple[list[date], list[str | None]]] = field(default_factory=dict)
    changes: list[date] = field(default_factory=list)
    routing: list[bool] = field(default_factory=list)

    def administrator(self, payer_code: str, district: str, on: date) -> str | None:
        """The district's administrator on a date; None when the payer does not route then."""
        at = bisect_right(self.changes, on) - 1
        if at < 0 or not self.routing[at]:
            return None
        starts, administrators = self.districts.get(district, ([], []))
        version = bisect_right(starts, on) - 1
        if version < 0 or administrators[version] is None:
            raise NoRoute(
                f"{payer_code} routes by district and no administrator serves district {district}"
                f" on {on.isoformat()}"
            )
        return administrators[version]


def route_table(versions: Iterable[tuple[str, date, str | None]]) -> RouteTable:
    """The table of (district, effective_from, administrator) versions, in any order."""
    table = RouteTable()
    routed: set[str] = set()  # the districts with an administrator, as the dates go by
    for district, start, administrator in sorted(versions, key=lambda v: (v[1], v[0])):
        starts, administrators = table.districts.setdefault(district, ([], []))
        starts.append(start)
        administrators.append(administrator)
        if administrator is None:
            routed.discard(district)
        else:
            routed.add(district)
        if not table.changes or table.changes[-1] != start:
            table.changes.append(start)
            table.routing.append(False)
        table.routing[-1] = bool(routed)
    return table


class Placed(Protocol):
    """A row with a district: a member, a version of their identity, a provider (or a plain row of
    that column)."""

    @property
    def district(self) -> str | None: ...


def member_district(member: Placed, provider: ProviderRow, cited: Placed | None = None) -> str:
    """Where the member lives as ``cited`` (the identity the claim's assessment recorded) says: a
    later assessment's address does not move a claim that does not cite it. The member's latest
    stands in only where an assessment cites no version. A member whose district is not known
    is served where cared for. (``route_versions.district_of`` is the same rule in SQL.)"""
    if cited is not None:
        return cited.district or provider.district
    return member.district or provider.district


def district_routes(session: Session, payer_codes: set[str]) -> dict[str, RouteTable]:
    """Each payer's routes through time (payers that do not route have an empty table): one
    query for a batch of claims."""
    versions: dict[str, list[tuple[str, date, str | None]]] = {code: [] for code in payer_codes}
    if payer_codes:
        route = DistrictRouteRow
        for payer, district, start, administrator in session.execute(
            select(route.payer_code, route.district, route.effective_from, route.administrator_code).where(
                route.payer_code.in_(payer_codes)
            )
        ):
            versions[payer].append((district, start, administrator))
    return {code: route_table(rows) for code, rows in versions.items()}


def administrator_in(routes: RouteTable, payer_code: str, district: str, on: date) -> str | None:
    """The administrator of the district in a payer's table on the claim's first service day
    (``on``); None when the payer does not route."""
    return routes.administrator(payer_code, district, on)


def administrator_for(session: Session, payer_code: str, district: str, on: date) -> str | None:
    """The administrator of the district on a date; None when the payer does not route by district."""
    return administrator_in(district_routes(session, {payer_code})[payer_code], payer_code, district, on)
