"""Claims as a list: filters, keyset pagination behind a signed cursor, and each party's view of
a claim's summary (a provider its own claims, a payer those routed to it and only its shares, the
bureau and reconcilers all). Searching by a member's ID number goes through its keyed look-up
hash, never by decrypting; it comes in a POST body, so the number never appears in a URL.

One query a page for the claims and one for their payers' shares, whatever the page size."""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

import schemas
from gateway.domain.beijing_time import BEIJING
from gateway.domain.claims import ClaimStatus
from gateway.domain.identity import id_number_problem
from gateway.domain.model import Fault
from gateway.domain.products import ProductKind
from gateway.errors import Invalid, ServiceError
from gateway.services.keys import Principal, Role
from gateway.storage.personal import lookup_hash, signature
from gateway.storage.tables import ClaimRow, FixedBenefitRow, LinePaymentRow, MemberRow, PayerStepRow

FILTERS = ("month", "status", "claim_number", "payer", "coordinated_since")
PAGING = ("cursor", "limit")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
STATUSES = tuple(s.value for s in ClaimStatus)
_CURSOR = "claim-list-cursor"
FIXED = ProductKind.FIXED_BENEFIT.value


class BadQuery(ServiceError):
    """A query parameter (or a cursor) that cannot be used; ``faults`` name it."""

    def __init__(self, faults: list[Fault]) -> None:
        super().__init__(f"{faults[0][0]}: {faults[0][1]}", faults)


@dataclass(frozen=True, slots=True)
class Filters:
    month: str | None = None
    statuses: tuple[str, ...] = ()
    claim_number: str | None = None
    payer: str | None = None
    coordinated_since: str | None = None  # UTC, ISO 8601
    id_hash: str | None = None  # the member's keyed look-up hash (search only)


@dataclass(frozen=True, slots=True)
class Listing:
    kind: str  # "list" or "search": a cursor of one is refused by the other
    filters: Filters
    after: tuple[datetime, uuid.UUID] | None
    limit: int


def list_claims(session: Session, principal: Principal, query: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``GET /v1/claims``: the query parameters as given (repeated ones are refused)."""
    values: dict[str, Any] = {}
    faults: list[Fault] = []
    for name, value in query:
        if name not in FILTERS + PAGING:
            faults.append((_pointer(name), "is not a known filter"))
        elif name in values:
            faults.append((f"/{name}", "is given more than once"))
        else:
            values[name] = value
    if faults:
        raise BadQuery(faults)
    return _page(session, principal, _listing(principal, values, "list", BadQuery))


def search_claims(session: Session, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /v1/claims/search``: a member's claims by ID number, with the same filters; the body
    is checked against ``schemas/claim-search.schema.json`` first."""
    faults = schemas.faults("claim-search", body)
    if faults:
        raise Invalid(faults)
    problem = id_number_problem(body["id_number"])
    if problem:
        raise Invalid([("/id_number", problem)])
    values = {k: v for k, v in body.items() if k != "id_number"}
    values["limit"] = str(values["limit"]) if "limit" in values else None
    return _page(
        session, principal, _listing(principal, values, "search", Invalid, lookup_hash(body["id_number"]))
    )


def _listing(
    principal: Principal,
    values: Mapping[str, Any],
    kind: str,
    refuse: type[BadQuery] | type[Invalid],
    id_hash: str | None = None,
) -> Listing:
    faults: list[Fault] = []
    for name, value in values.items():
        if isinstance(value, str) and (not value.isprintable() or len(value) > 512):
            faults.append((f"/{name}", "must be printable text of at most 512 characters"))
    if faults:
        raise refuse(faults)
    month = values.get("month") or None
    if month is not None and not re.fullmatch(r"[1-9][0-9]{3}-(0[1-9]|1[0-2])", month):
        faults.append(("/month", "must be a service month as YYYY-MM"))
    statuses = tuple(values["status"].split(",")) if values.get("status") else ()
    for status in statuses:
        if status not in STATUSES:
            faults.append(("/status", f"must be one or more of {', '.join(STATUSES)} (comma-separated)"))
            break
    payer = values.get("payer") or None
    if principal.role == Role.PAYER and payer not in (None, principal.party_code):
        faults.append(("/payer", "a payer lists only the claims routed to itself"))
    since = _since(values.get("coordinated_since") or None, faults)
    limit = DEFAULT_LIMIT
    if values.get("limit") is not None:
        text = str(values["limit"])
        if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= MAX_LIMIT:
            faults.append(("/limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
        else:
            limit = int(text)
    if faults:
        raise refuse(faults)
    filters = Filters(month, statuses, values.get("claim_number") or None, payer, since, id_hash)
    cursor = values.get("cursor") or None
    after = _read_cursor(cursor, _scope(principal, filters, kind)) if cursor else None
    return Listing(kind, filters, after, limit)


def _pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _since(text: str | None, faults: list[Fault]) -> str | None:
    if text is None:
        return None
    try:
        # a bare date is a Beijing business date, a naive time a Beijing time
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            moment = datetime.combine(date.fromisoformat(text), time(), BEIJING)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=BEIJING)
        return moment.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):  # not a date, or beyond what a timestamp holds
        faults.append(("/coordinated_since", "must be an ISO 8601 date (Beijing) or date-time"))
        return None


def _scope(principal: Principal, filters: Filters, kind: str) -> str:
    """What a cursor belongs to: the caller, the kind of listing and its filters (hashed: the
    cursor carries no filter value, so no look-up hash of an ID number)."""
    seen = json.dumps([kind, principal.role.value, principal.party_code, asdict(filters)], sort_keys=True)
    return hashlib.sha256(seen.encode()).hexdigest()[:32]


def _cursor(scope: str, accepted_at: datetime, claim_id: uuid.UUID) -> str:
    payload = json.dumps({"at": accepted_at.isoformat(), "id": str(claim_id), "in": scope}).encode()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"{body}.{signature(_CURSOR, body.encode())[:32]}"


def _read_cursor(cursor: str, scope: str) -> tuple[datetime, uuid.UUID]:
    body, _, mac = cursor.partition(".")
    if not hmac.compare_digest(mac.encode(), signature(_CURSOR, body.encode())[:32].encode()):
        raise BadQuery([("/cursor", "is not a cursor this gateway gave out (altered or made up)")])
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if payload["in"] != scope:
        raise BadQuery([("/cursor", "belongs to another listing: send the same filters as for its page")])
    return datetime.fromisoformat(payload["at"]), uuid.UUID(payload["id"])


def _routed_to(party: str) -> Any:
    return exists().where(
        PayerStepRow.claim_id == ClaimRow.claim_id,
        or_(PayerStepRow.payer_code == party, PayerStepRow.administrator_code == party),
    )


def claims_query(principal: Principal, listing: Listing) -> Any:
    """The page's claims, newest accepted first (keyset: (created_at, claim_id) below the cursor)."""
    c, f = ClaimRow, listing.filters
    statement = select(c)
    if principal.role == Role.PROVIDER:
        statement = statement.where(c.provider_code == principal.party_code)
    elif principal.role == Role.PAYER:
        statement = statement.where(_routed_to(principal.party_code))
    if f.month:
        year, month = (int(part) for part in f.month.split("-"))
        first, last = date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        statement = statement.where(c.period_start <= last, c.period_end >= first)
    if f.statuses:
        statement = statement.where(c.status.in_(f.statuses))
    if f.claim_number:
        statement = statement.where(c.claim_number == f.claim_number)
    if f.payer and principal.role != Role.PAYER:
        statement = statement.where(_routed_to(f.payer))
    if f.coordinated_since:
        statement = statement.where(c.coordinated_at >= datetime.fromisoformat(f.coordinated_since))
    if f.id_hash:
        statement = statement.where(
            c.member_id.in_(select(MemberRow.member_id).where(MemberRow.id_hash == f.id_hash))
        )
    if listing.after:
        statement = statement.where(tuple_(c.created_at, c.claim_id) < tuple_(*listing.after))
    return statement.order_by(c.created_at.desc(), c.claim_id.desc()).limit(listing.limit + 1)


def _page(session: Session, principal: Principal, listing: Listing) -> dict[str, Any]:
    rows = list(session.scalars(claims_query(principal, listing)))
    more = len(rows) > listing.limit
    rows = rows[: listing.limit]
    shares = _shares(session, principal, rows)
    payer = principal.role == Role.PAYER
    items = []
    for row in rows:
        steps = shares.get(row.claim_id, [])
        items.append(
            {
                "claim_id": str(row.claim_id),
                "claim_number": row.claim_number,
                "provider_code": row.provider_code,
                "period": {"start": row.period_start.isoformat(), "end": row.period_end.isoformat()},
                "status": row.status,
                "billed_fen": row.billed_fen,
                "paid_fen": sum(s["paid_fen"] or 0 for s in steps),
                "payers": steps,
                # a payer sees its own shares, not the member's remainder (as in the claim's view)
                "member_responsibility_fen": None if payer else row.member_responsibility_fen,
                "accepted_at": row.created_at.isoformat(),
                "coordinated_at": row.coordinated_at.isoformat() if row.coordinated_at else None,
            }
        )
    last = rows[-1] if rows else None
    scope = _scope(principal, listing.filters, listing.kind)
    return {
        "claims": items,
        "next_cursor": _cursor(scope, last.created_at, last.claim_id) if more and last else None,
    }


def _shares(session: Session, principal: Principal, rows: list[ClaimRow]) -> dict[uuid.UUID, list[Any]]:
    """Each claim's live payer steps in its current round with what each paid on the lines (final,
    not provisional: None while undecided) and, for a fixed-benefit product, the benefit granted;
    for the whole page in one aggregate query. A payer gets only the steps routed to it."""
    if not rows:
        return {}
    s, p, f = PayerStepRow, LinePaymentRow, FixedBenefitRow
    paid = func.sum(p.paid_fen)
    fixed = (  # a fixed benefit (a monthly annuity) is granted beside the lines, not paid on them
        select(func.sum(f.amount_fen))
        .where(f.claim_id == s.claim_id, f.product_code == s.product_code, f.provisional.is_(False))
        .scalar_subquery()
    )
    statement = (
        select(
            s.claim_id,
            s.seq,
            s.tier,
            s.payer_code,
            s.administrator_code,
            s.product_code,
            s.kind,
            s.status,
            paid,
            fixed,
        )
        .join(ClaimRow, and_(ClaimRow.claim_id == s.claim_id, ClaimRow.round == s.round))
        .outerjoin(
            p,
            and_(p.claim_id == s.claim_id, p.round == s.round, p.seq == s.seq, p.provisional.is_(False)),
        )
        .where(s.claim_id.in_([row.claim_id for row in rows]), s.status != "replaced")
        .group_by(
            s.claim_id, s.seq, s.tier, s.payer_code, s.administrator_code, s.product_code, s.kind, s.status
        )
        .order_by(s.claim_id, s.seq)
    )
    if principal.role == Role.PAYER:
        party = principal.party_code
        statement = statement.where(or_(s.payer_code == party, s.administrator_code == party))
    shares: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for claim_id, seq, tier, payer, administrator, product, kind, status, total, benefit in session.execute(
        statement
    ):
        decided = status == "decided"
        shares[claim_id].append(
            {
                "seq": seq,
                "tier": tier,
                "payer_code": payer,
                **({"administrator_code": administrator} if administrator else {}),
                "product_code": product,
                "kind": kind,
                "status": status,
                "paid_fen": _fen(total) if total is not None or not decided else 0,
                **({"fixed_benefit_fen": _fen(benefit)} if kind == FIXED else {}),
            }
        )
    return shares


def _fen(amount: Any) -> int | None:
    return int(amount) if amount is not None else None  # SUM is a NUMERIC on PostgreSQL
