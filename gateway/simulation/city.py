"""A generated city: N members with a realistic mix of grades, care settings and districts, a
year of monthly claims (bed-days, home visits with evidence, family care), run through the
production path (the service layer accepts, the worker coordinates; every payer adjudicated by
the gateway's local adapter, so nothing goes over HTTP). Payers revise some tier-2 decisions a
month later, and some members have a second claim in a month, so the history holds revisions
and limits carried across claims. Seeded: the same N and seed give the same city.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from examples import example_products
from gateway.bootstrap import Gateway
from gateway.domain.beijing_time import BEIJING
from gateway.domain.identity import check_character
from gateway.orchestration.worker import Worker
from gateway.reference import registry
from gateway.services import agencies, assessments, claims, enrollments
from gateway.services.decisions import receive_decision
from gateway.services.keys import Principal, Role
from gateway.simulation.history import Period
from gateway.storage.tables import LinePaymentRow

TIER1, TIER2, TIER3 = "policy-ltci", "huiminbao", "acme-life"
DISTRICTS = ("330102", "330105", "330106", "330108", "330110")
GRADES = (1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5)  # more moderate and severe than mild among claimants
SETTINGS = ("institutional",) * 3 + ("home",) * 4 + ("family",) * 2 + ("community",)
AGENCY = "EVA3301001"
_CENTRE = (30.25, 120.17)
Progress = Callable[[int, int], None]


def year_before(today: date) -> Period:
    """The twelve months before this one."""
    last = date(today.year, today.month, 1) - timedelta(days=1)
    first = date(last.year - 1, last.month, 1) + timedelta(days=32)
    return Period(f"{first.year:04d}-{first.month:02d}", f"{last.year:04d}-{last.month:02d}")


def _scores_by_grade(gateway: Gateway) -> dict[int, dict[str, dict[str, int]]]:
    """One set of item scores for each grade the standard's table gives: each indicator's items
    all at the same depth of their scale, over a grid of depths."""
    table = gateway.grading
    steps = (0.0, 0.25, 0.5, 0.75, 1.0)
    found: dict[int, dict[str, dict[str, int]]] = {}
    keys = list(table.indicators)
    for depths in itertools.product(steps, repeat=len(keys)):
        scores = {}
        for key, depth in zip(keys, depths, strict=True):
            items = table.indicators[key].items
            scores[key] = {item: sorted(p)[round(depth * (len(p) - 1))] for item, p in items.items()}
        found.setdefault(table.grade(scores).grade, scores)
    return found


def _id_number(n: int) -> str:
    first17 = f"330102{1930 + n % 50:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + check_character(first17)


def _providers(session: Any) -> None:
    for d in DISTRICTS:
        for kind, name in (("N", "护理院"), ("H", "居家护理站"), ("F", "亲情护理服务中心")):
            registry.register_provider(
                session,
                {
                    "provider_code": f"P{d}{kind}01",
                    "name": f"{d}{name}",
                    "district": d,
                    "designated": True,
                    "designated_from": "2020-01-01",
                },
            )
    agencies.register_agency(
        session, {"agency_code": AGENCY, "name": "失能评估中心", "designated_from": "2020-01-01"}
    )


def _months(period: Period) -> list[date]:
    months, day = [], period.start
    while day < period.end:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _lines(
    rng: random.Random, setting: str, month: date, n: int, position: tuple[float, float]
) -> list[dict[str, Any]]:
    last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    days = last.day
    if setting in ("institutional", "family"):
        code, price = (
            ("INST-BED-DAY", rng.choice((12000, 15000, 18000)))
            if setting == "institutional"
            else ("FAMILY-CARE-DAY", 2000)
        )
        start = month if rng.random() < 0.9 else month + timedelta(days=rng.randrange(days - 5))
        quantity = (last - start).days + 1
        return [
            {
                "service_code": code,
                "setting": setting,
                "method": "per_diem",
                "service_date": start.isoformat(),
                "service_end_date": last.isoformat(),
                "quantity": quantity,
                "unit_price_fen": price,
            }
        ]
    lines = []
    for k, day in enumerate(sorted(rng.sample(range(1, days + 1), rng.randint(4, 10)))):
        service = month.replace(day=day)
        line: dict[str, Any] = {
            "service_code": "HYG-BATH",
            "setting": setting,
            "method": "per_item",
            "service_date": service.isoformat(),
            "quantity": 1,
            "unit_price_fen": rng.choice((8000, 10000, 13000)),
        }
        if setting == "home" and rng.random() < 0.95:  # some visits come without evidence
            check_in = datetime(service.year, service.month, service.day, 9, 0, tzinfo=BEIJING) + timedelta(
                minutes=k
            )
            line["visit"] = {
                "caregiver_id": f"CG-{n:05d}",
                "check_in": check_in.isoformat(),
                "check_out": (check_in + timedelta(minutes=rng.choice((50, 70, 75)))).isoformat(),
                "lat": position[0] + rng.uniform(-0.002, 0.002),
                "lon": position[1] + rng.uniform(-0.002, 0.002),
                "method": rng.choice(("face", "gps", "beacon")),
            }
        lines.append(line)
    return lines


def generate(
    gateway: Gateway, members: int, seed: int = 1, progress: Progress | None = None, revised: float = 0.05
) -> Period:
    """Build the city in ``gateway``'s (empty) database; the period its claims cover. ``revised``:
    the share of each month's claims whose tier-2 decision the payer revises the month after."""
    rng = random.Random(seed)
    today = gateway.today()
    period = year_before(today)
    months = _months(period)
    bureau = Principal("city", Role.BUREAU, "bureau")
    agency = Principal("city", Role.PROVIDER, AGENCY)
    scores = _scores_by_grade(gateway)
    with gateway.sessions.begin() as session:
        for product in example_products():
            registry.load_product(session, product)
        _providers(session)
    people = []
    for n in range(1, members + 1):
        id_number, district = _id_number(n), rng.choice(DISTRICTS)
        grade, setting = rng.choice(GRADES), rng.choice(SETTINGS)
        position = (_CENTRE[0] + rng.uniform(-0.1, 0.1), _CENTRE[1] + rng.uniform(-0.1, 0.1))
        concluded = period.start - timedelta(days=rng.randrange(30, 400))
        with gateway.sessions.begin() as session:
            cover = [(TIER1, "CITY-LTCI-2025", date(2020, 1, 1))]
            if rng.random() < 0.6:  # 惠民保: bought at some point, a few during the year (waiting period)
                cover.append((TIER2, "HMB-LTC-2026", period.start + timedelta(days=rng.randrange(-400, 200))))
            if rng.random() < 0.15:
                cover.append((TIER3, "ACME-LTC-CARE", period.start - timedelta(days=rng.randrange(0, 900))))
            if rng.random() < 0.1:
                cover.append(
                    (TIER3, "ACME-LTC-ANNUITY", period.start - timedelta(days=rng.randrange(0, 900)))
                )
            for payer, code, start in cover:
                principal = bureau if payer == TIER1 else Principal("city", Role.PAYER, payer)
                item = {"id_number": id_number, "product_code": code, "start_date": start.isoformat()}
                enrollments.enrol(session, principal, payer, {"enrollments": [item]})
            document: dict[str, Any] = {
                "member": {
                    "id_number": id_number,
                    "name": f"居民{n}",
                    "address": {
                        "text": f"{district}示例路{n}号",
                        "district": district,
                        "lat": position[0],
                        "lon": position[1],
                    },
                },
                "agency_code": AGENCY,
                "concluded_on": concluded.isoformat(),
                "disabled_since": (concluded - timedelta(days=240)).isoformat(),
                **scores[grade],
            }
            view, _ = assessments.submit_assessment(session, agency, document, gateway.grading, today)
        people.append((n, id_number, district, setting, position, view["assessment_id"]))
    worker = Worker(gateway.sessions, gateway.catalogue)
    revise: list[str] = []
    for m, month in enumerate(months):
        made = []
        with gateway.sessions.begin() as session:
            for n, id_number, district, setting, position, assessment_id in people:
                # day care in the community beside home care or a nursing home: two claims a month
                extra = rng.random() < {"home": 0.2, "institutional": 0.3}.get(setting, 0.0)
                settings = [setting] + (["community"] if extra else [])
                for s in settings:
                    kind = {"institutional": "N", "family": "F"}.get(s, "H")
                    lines = _lines(rng, s, month, n, position)
                    for i, line in enumerate(lines, start=1):
                        line["line_no"], line["billed_fen"] = i, line["quantity"] * line["unit_price_fen"]
                    last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
                    claim = {
                        "claim_number": f"C{n:05d}-{month:%Y%m}-{s[0]}",
                        "member_id_number": id_number,
                        "assessment_id": assessment_id,
                        "lines": lines,
                        "period": {"start": month.isoformat(), "end": last.isoformat()},
                    }
                    receipt, _ = claims.submit_claim(
                        session,
                        Principal("city", Role.PROVIDER, f"P{district}{kind}01"),
                        claim,
                        gateway.catalogue,
                    )
                    made.append(receipt["claim_id"])
        worker.drain()
        for claim_id in revise:  # last month's revisions arrive after this month's claims
            _revise_tier2(gateway, claim_id)
        worker.drain()
        revise = [c for c in made if rng.random() < revised]
        if progress is not None:
            progress(m + 1, len(months))
    return period


def _revise_tier2(gateway: Gateway, claim_id: str) -> None:
    """惠民保's audit takes a tenth off each line it paid: tier 3 is re-coordinated."""
    with gateway.sessions.begin() as session:
        rows = session.execute(
            select(LinePaymentRow.line_no, LinePaymentRow.paid_fen, LinePaymentRow.reasons).where(
                LinePaymentRow.claim_id == uuid.UUID(claim_id),
                LinePaymentRow.product_code == "HMB-LTC-2026",
                LinePaymentRow.current.is_(True),
            )
        ).all()
        if not rows or not any(paid for _, paid, _ in rows):
            return
        lines = []
        for line_no, paid, reasons in rows:
            cut = paid // 10
            amounts = {code: amount for code, amount in reasons}
            amounts["COINSURANCE"] = amounts.get("COINSURANCE", 0) + cut
            lines.append(
                {
                    "line_no": line_no,
                    "paid_fen": paid - cut,
                    "reasons": [{"code": c, "amount_fen": a} for c, a in amounts.items() if a],
                }
            )
        document = {
            "claim_id": str(claim_id),
            "product_code": "HMB-LTC-2026",
            "status": "decided",
            "cause": "generated: audit",
            "lines": lines,
        }
        receive_decision(session, Principal("city", Role.PAYER, TIER2), TIER2, document, gateway.catalogue)
