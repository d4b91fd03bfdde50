"""Fault simulation: N claims through the sandbox payers (REST and SOAP, real servers) while the
payers time out, fail, answer garbage, decide late by callback (sometimes twice), revise tier 1,
providers void and replace claims (in flight or coordinated, sometimes twice), and fan-out workers
(separate processes) are killed with SIGKILL and restarted. At the end every claim must be final
(voided if withdrawn), none lost, no payer step sent two different bodies, every coordination
invariant must hold, and the settlement ledger must balance with what was decided.

Everything random comes from the seed: ``python -m tests.simulation --seed 7 --claims 200``
reproduces a run (the order in which real processes interleave still varies; the faults, the
claims and the kills do not).
"""

from __future__ import annotations

import copy
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from examples import example as _example
from examples import example_products as _products
from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.domain.identity import check_character
from gateway.domain.products import Product
from gateway.reference.registry import onboard
from gateway.services.keys import Role, create_key
from gateway.storage.migrate import upgrade_engine
from gateway.storage.tables import (
    ClaimLineRow,
    ClaimRow,
    FixedBenefitRow,
    LedgerEntryRow,
    LinePaymentRow,
    OutboxRow,
    PayerStepRow,
)
from ltc_gateway.app import create_app
from ltc_sandbox.payer_set import SandboxPayers


@dataclass
class Report:
    seed: int
    claims: int
    injected: Counter[str] = field(default_factory=Counter)
    outcome: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    voided: set[str] = field(default_factory=set)  # claims a provider withdrew: they end voided

    def text(self) -> str:
        lines = [f"fault simulation, seed {self.seed}: {self.claims} claims in {self.seconds:.1f} s"]
        lines.append("  injected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.injected.items())))
        lines.append("  claims:   " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcome.items())))
        if self.violations:
            lines.append(f"  {len(self.violations)} VIOLATIONS:")
            lines += [f"    {v}" for v in self.violations[:30]]
        else:
            lines.append(
                "  every check held: all final, none lost, one body per step, invariants, ledger balanced,"
                " notices delivered"
            )
        return "\n".join(lines)


def _id_number(n: int) -> str:
    first17 = f"330106{1930 + n % 50:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + check_character(first17)


def run(
    seed: int, claims: int = 40, database_url: str | None = None, kills: int = 2, workers: int = 2
) -> Report:
    rng = random.Random(seed)
    report = Report(seed, claims)
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix=f"ltc-sim-{seed}-"))
    url = database_url or f"sqlite:///{folder / 'gateway.db'}"
    gateway = bootstrap(Settings(database_url=url))
    upgrade_engine(gateway.engine)
    products = [Product.model_validate(p) for p in _products()]
    sandboxes = SandboxPayers(products).start()
    server = BackgroundServer(create_app(gateway, embedded_workers=0)).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        keys = _register(gateway, sandboxes, products)
        sandboxes.connect(server.url, keys["payers"])
        _faults(rng, sandboxes, report)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LTC_")},
            "LTC_DATABASE_URL": url,
            "LTC_WORKER_LEASE_SECONDS": "3",
            "LTC_WORKER_POLL_SECONDS": "0.1",
            "LTC_PAYER_RETRY_INITIAL_SECONDS": "0.05",
            "LTC_PAYER_RETRY_MAX_SECONDS": "0.2",
            "LTC_STEP_RETRY_SECONDS": "0.2",
            "LTC_STEP_MAX_ATTEMPTS": "200",
            "LTC_PENDING_POLL_SECONDS": "2",
            "LTC_LOG_LEVEL": "WARNING",
        }
        for _ in range(workers):
            processes.append(_worker(env, folder))
        with httpx.Client(base_url=server.url, timeout=30) as client:
            claim_ids = _submit(rng, client, keys, claims)
            deadline = time.monotonic() + 60 + claims * 2
            kills_left = kills
            revised: set[str] = set()
            corrected: set[str] = set()
            while time.monotonic() < deadline:
                time.sleep(0.5)
                if kills_left and rng.random() < 0.3:
                    victim = rng.randrange(len(processes))
                    processes[victim].send_signal(signal.SIGKILL)
                    processes[victim].wait()
                    processes[victim] = _worker(env, folder)
                    kills_left -= 1
                    report.injected["worker SIGKILL"] += 1
                _revise_some(rng, client, keys, claim_ids, revised, report)
                _correct_some(rng, client, keys, claim_ids, corrected, report)
                if _all_final(gateway, claim_ids) and not kills_left and len(revised) >= min(3, claims // 5):
                    time.sleep(1.0)  # let a late callback land, then look again
                    if _all_final(gateway, claim_ids):
                        break
            _late_duplicates(rng, client, sandboxes, keys, report)
            time.sleep(0.5)
            _wait_final(gateway, claim_ids, timeout=30)
            _wait_delivered(gateway, timeout=30)
        report.seconds = time.monotonic() - started
        _check(gateway, sandboxes, claim_ids, report)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        server.stop()
        sandboxes.stop()
        gateway.close()
    return report


def _register(gateway: Gateway, sandboxes: SandboxPayers, products: list[Product]) -> dict[str, Any]:
    scenario = _example("worked-example.json")
    documents = [
        {**d, "adapter": {**d["adapter"], "timeout_seconds": 1}}
        if "adapter" in d
        else d  # slower is a timeout
        for d in sandboxes.payer_documents()
    ]
    with gateway.sessions.begin() as session:
        onboard(session, documents, _products())
        payers = {
            code: create_key(session, Role.PAYER, code)[1] for code in ["policy-ltci", *sandboxes.payers]
        }
        return {
            "bureau": create_key(session, Role.BUREAU, "bureau")[1],
            "provider": create_key(session, Role.PROVIDER, scenario["provider"]["provider_code"])[1],
            "agency": create_key(session, Role.PROVIDER, scenario["assessment"]["agency_code"])[1],
            "payers": payers,
            "scenario": scenario,
        }


def _faults(rng: random.Random, sandboxes: SandboxPayers, report: Report) -> None:
    for code, payer in sandboxes.payers.items():
        faults = payer.faults
        faults.fail_first = rng.choice([0, 1, 2, 3])
        faults.malformed_first = rng.choice([0, 0, 1])
        faults.timeout_first = rng.choice([0, 0, 1])
        faults.timeout_seconds = 1.5
        faults.latency_ms = rng.choice([0, 5, 20])
        faults.pending = code == "huiminbao" and rng.random() < 0.5
        faults.callback_delay_ms = rng.choice([100, 300])
        for name in ("fail_first", "malformed_first", "timeout_first"):
            if getattr(faults, name):
                report.injected[f"{name.split('_')[0]} x{getattr(faults, name)} per key ({code})"] += 1
        if faults.pending:
            report.injected[f"pending + callback ({code})"] += 1


def _worker(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ltc_gateway", "worker"],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _post(client: httpx.Client, key: str, path: str, body: Any) -> httpx.Response:
    return client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})


def _submit(rng: random.Random, client: httpx.Client, keys: dict[str, Any], claims: int) -> list[str]:
    scenario = keys["scenario"]
    _post(client, keys["bureau"], "/v1/providers", scenario["provider"]).raise_for_status()
    _post(client, keys["bureau"], "/v1/assessment-agencies", scenario["agency"]).raise_for_status()
    members = max(1, claims // 2)  # about two claims each: limits are shared between them
    assessments = {}
    for m in range(members):
        id_number = _id_number(m)
        for enrollment in scenario["enrollments"]:
            item = {k: v for k, v in enrollment.items() if k != "payer_code"} | {"id_number": id_number}
            payer = enrollment["payer_code"]
            key = keys["bureau"] if payer == "policy-ltci" else keys["payers"][payer]
            _post(client, key, f"/v1/payers/{payer}/enrollments", {"enrollments": [item]}).raise_for_status()
        assessment = copy.deepcopy(scenario["assessment"])
        assessment["member"] = {**assessment["member"], "id_number": id_number, "name": f"模拟{m}"}
        assessments[id_number] = _post(client, keys["agency"], "/v1/assessments", assessment).json()[
            "assessment_id"
        ]
    ids = []
    for n in range(claims):
        id_number = _id_number(n % members)
        days = rng.randint(5, 30)
        price = rng.choice([9000, 12000, 15000, 18000])
        body = {
            "claim_number": f"SIM-{n:05d}",
            "member_id_number": id_number,
            "assessment_id": assessments[id_number],
            "period": {"start": "2026-11-01", "end": "2026-11-30"},
            "lines": [
                {
                    "line_no": 1,
                    "service_code": "INST-BED-DAY",
                    "setting": "institutional",
                    "method": "per_diem",
                    "service_date": "2026-11-01",
                    "service_end_date": f"2026-11-{days:02d}",
                    "quantity": days,
                    "unit_price_fen": price,
                    "billed_fen": days * price,
                },
                {
                    "line_no": 2,
                    "service_code": "HYG-BATH",
                    "setting": "institutional",
                    "method": "per_item",
                    "service_date": "2026-11-20",
                    "quantity": rng.randint(1, 4),
                    "unit_price_fen": 8000,
                    "billed_fen": 0,
                },
            ],
        }
        body["lines"][1]["billed_fen"] = body["lines"][1]["quantity"] * 8000
        answer = _post(client, keys["provider"], "/v1/claims", body)
        answer.raise_for_status()
        ids.append(answer.json()["claim_id"])
        keys.setdefault("bodies", {})[ids[-1]] = body
    return ids


def _correct_some(
    rng: random.Random,
    client: httpx.Client,
    keys: dict[str, Any],
    claim_ids: list[str],
    corrected: set[str],
    report: Report,
) -> None:
    """The provider voids a claim, or replaces it with one bed-day fewer, whatever state it is in
    (in flight too), sometimes sending the same request twice."""
    if rng.random() > 0.25 or len(corrected) >= max(2, len(claim_ids) // 4):
        return
    claim_id = rng.choice(claim_ids)
    if claim_id in corrected:
        return
    corrected.add(claim_id)
    if rng.random() < 0.5:
        path, body, kind = f"/v1/claims/{claim_id}/void", {"reason": "simulated withdrawal"}, "void"
    else:
        body = copy.deepcopy(keys["bodies"][claim_id])
        line = body["lines"][0]
        if line["quantity"] < 2:
            return
        line["quantity"] -= 1
        line["service_end_date"] = f"2026-11-{line['quantity']:02d}"
        line["billed_fen"] = line["quantity"] * line["unit_price_fen"]
        path, kind = f"/v1/claims/{claim_id}/replace", "replacement"
    for _ in range(2 if rng.random() < 0.5 else 1):
        answer = _post(client, keys["provider"], path, body)
        if answer.status_code >= 400:
            report.violations.append(f"claim {claim_id}: {kind} answered {answer.status_code} {answer.text}")
            return
        report.injected[kind] += 1
    if kind == "void":
        report.voided.add(claim_id)


def _revise_some(
    rng: random.Random,
    client: httpx.Client,
    keys: dict[str, Any],
    claim_ids: list[str],
    revised: set[str],
    report: Report,
) -> None:
    """Tier 1's administrator lowers a decided share by 10 %: later tiers are re-coordinated."""
    if rng.random() > 0.4:
        return
    claim_id = rng.choice(claim_ids)
    if claim_id in revised:
        return
    view = client.get(f"/v1/claims/{claim_id}", headers={"Authorization": f"Bearer {keys['bureau']}"}).json()
    tier1 = next((s for s in view.get("payers", []) if s["tier"] == 1), None)
    if view.get("status") != "coordinated" or tier1 is None or tier1["status"] != "decided":
        return
    lines = []
    for line in view["lines"]:
        payment = next((p for p in line["payments"] if p["product_code"] == tier1["product_code"]), None)
        if payment is None:
            return
        lower = payment["paid_fen"] * 9 // 10
        reasons = {r["code"]: r["amount_fen"] for r in payment["reasons"]}
        reasons["COINSURANCE"] = reasons.get("COINSURANCE", 0) + payment["paid_fen"] - lower
        lines.append(
            {
                "line_no": line["line_no"],
                "paid_fen": lower,
                "reasons": [{"code": c, "amount_fen": a} for c, a in reasons.items() if a],
            }
        )
    party = tier1.get("administrator_code", tier1["payer_code"])
    body = {
        "claim_id": claim_id,
        "product_code": tier1["product_code"],
        "status": "decided",
        "lines": lines,
        "cause": "simulated audit",
    }
    answer = _post(client, keys["payers"][party], f"/v1/payers/{party}/decisions", body)
    if answer.status_code == 200:
        revised.add(claim_id)
        report.injected["tier-1 revision"] += 1
        if rng.random() < 0.5:  # the administrator's system sends it twice
            again = _post(client, keys["payers"][party], f"/v1/payers/{party}/decisions", body)
            report.injected["duplicate revision"] += 1
            if again.json().get("outcome") != "unchanged":
                report.violations.append(f"claim {claim_id}: a repeated revision changed something again")


def _late_duplicates(
    rng: random.Random, client: httpx.Client, sandboxes: SandboxPayers, keys: dict[str, Any], report: Report
) -> None:
    """A pending payer calls back once more with the decision it already sent."""
    payer = sandboxes.payers["huiminbao"]
    if not payer.faults.pending:
        return
    for key, decision in list(payer.decisions.items())[:3]:
        request = payer.requests.get(key)
        if request is None:
            continue
        body = {
            "claim_id": request.claim_id,
            "product_code": request.product_code,
            "round": request.round,
            **decision.to_wire(),
        }
        answer = _post(client, keys["payers"]["huiminbao"], "/v1/payers/huiminbao/decisions", body)
        report.injected["duplicate late callback"] += 1
        if answer.status_code >= 500:
            report.violations.append(f"a duplicate callback answered {answer.status_code}")


def _all_final(gateway: Gateway, claim_ids: list[str]) -> bool:
    with gateway.sessions.begin() as session:
        open_claims = session.scalar(
            select(func.count())
            .select_from(ClaimRow)
            .where(ClaimRow.status.in_(("received", "coordinating")))
        )
    return not open_claims


def _wait_final(gateway: Gateway, claim_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _all_final(gateway, claim_ids) and time.monotonic() < deadline:
        time.sleep(0.3)


def _undelivered(gateway: Gateway) -> int:
    with gateway.sessions.begin() as session:
        return (
            session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status != "sent")) or 0
        )


def _wait_delivered(gateway: Gateway, timeout: float) -> None:
    """Notices held by a killed worker go out once its lease runs out."""
    deadline = time.monotonic() + timeout
    while _undelivered(gateway) and time.monotonic() < deadline:
        time.sleep(0.3)


def _check(gateway: Gateway, sandboxes: SandboxPayers, claim_ids: list[str], report: Report) -> None:
    problems = report.violations
    with gateway.sessions.begin() as session:
        claims = {str(c.claim_id): c for c in session.scalars(select(ClaimRow))}
        report.outcome.update(c.status for c in claims.values())
        missing = set(claim_ids) - set(claims)
        if missing:
            problems.append(f"{len(missing)} claims lost")
        for claim_id, claim in claims.items():
            wanted = "voided" if claim_id in report.voided else "coordinated"
            if claim.status != wanted:
                problems.append(f"claim {claim_id} ended {claim.status}, not {wanted}")
        billed = {(str(r.claim_id), r.line_no): r.billed_fen for r in session.scalars(select(ClaimLineRow))}
        paid: dict[tuple[str, int], int] = defaultdict(int)
        by_party: dict[tuple[str, str, int], int] = defaultdict(int)
        steps = {
            (str(s.claim_id), s.round, s.seq): s
            for s in session.scalars(select(PayerStepRow))
            if s.status != "replaced"
        }
        month: dict[tuple[str, str, str], int] = defaultdict(int)
        for p in session.scalars(select(LinePaymentRow).where(LinePaymentRow.current.is_(True))):
            key = (str(p.claim_id), p.line_no)
            if p.provisional:
                problems.append(f"claim {key[0]} line {key[1]}: a provisional payment is left")
            if p.paid_fen < 0 or p.paid_fen > p.remaining_fen:
                problems.append(
                    f"claim {key[0]} line {key[1]}: {p.product_code} paid {p.paid_fen} of {p.remaining_fen}"
                )
            if sum(a for _, a in p.reasons) != p.billed_fen - p.paid_fen:
                problems.append(f"claim {key[0]} line {key[1]}: {p.product_code} reasons do not add up")
            paid[key] += p.paid_fen
            step = steps[(key[0], p.round, p.seq)]
            by_party[(step.administrator_code or step.payer_code, key[0], key[1])] += p.paid_fen
            month[(str(p.member_id), p.product_code, p.period_month)] += p.paid_fen
        for key, amount in paid.items():
            if amount > billed[key]:
                problems.append(f"claim {key[0]} line {key[1]}: paid {amount} of {billed[key]} billed")
        for claim_id, claim in claims.items():
            lines = [k for k in billed if k[0] == claim_id]
            expected = sum(billed[k] - paid.get(k, 0) for k in lines)
            if claim.status == "coordinated" and claim.member_responsibility_fen != expected:
                problems.append(
                    f"claim {claim_id}: member responsibility {claim.member_responsibility_fen} != {expected}"
                )
        limits = {p.product_code: p.limit("month") for p in (Product.model_validate(d) for d in _products())}
        for (member, product, period), amount in month.items():
            limit = limits.get(product)
            if limit is not None and amount > limit:
                problems.append(
                    f"member {member}: {product} paid {amount} in {period}, over its {limit} limit"
                )
        ledger: dict[tuple[str, str, int], int] = defaultdict(int)
        for e in session.scalars(select(LedgerEntryRow)):
            ledger[(e.payer_code, str(e.claim_id), e.line_no)] += e.amount_fen
        fixed: dict[tuple[str, str], int] = defaultdict(int)
        for f in session.scalars(select(FixedBenefitRow).where(FixedBenefitRow.provisional.is_(False))):
            fixed[(f.payer_code, str(f.claim_id))] += f.amount_fen
        for key, amount in by_party.items():
            if ledger.get(key, 0) != amount:
                problems.append(f"ledger {key}: expects {ledger.get(key, 0)}, decided {amount}")
        for (payer, claim_id, line_no), amount in ledger.items():
            if line_no == 0 and fixed.get((payer, claim_id), 0) != amount:
                problems.append(
                    f"ledger fixed benefit {payer} {claim_id}: {amount} != {fixed.get((payer, claim_id), 0)}"
                )
            if line_no > 0 and by_party.get((payer, claim_id, line_no), 0) != amount:
                problems.append(
                    f"ledger {payer} {claim_id} line {line_no}: expects {amount} with no decision"
                )
    # every message queued reached its payer: an assessment notice for each payer a claim went to,
    # an adjustment notice for each re-coordination that changed a payer's share
    with gateway.sessions.begin() as session:
        for message in session.scalars(select(OutboxRow)):
            received = sandboxes.payers[message.payer_code]
            kept = {"assessment": received.assessments, "void": received.voids}.get(
                message.kind, received.adjustments
            )
            if message.status != "sent" or message.idempotency_key not in kept:
                problems.append(
                    f"{message.kind} notice {message.idempotency_key} to {message.payer_code}: "
                    f"{message.status}, {'received' if message.idempotency_key in kept else 'not received'}"
                )
    for payer in sandboxes.payers.values():
        for key, digests in payer.submissions.items():
            if len(set(digests)) > 1:
                problems.append(f"{payer.payer_code} saw two different bodies under key {key}")
        report.injected["payer calls"] += sum(len(d) for d in payer.submissions.values())
