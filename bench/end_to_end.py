"""End to end: claims coordinated per second through the three sandbox payers (two REST, one SOAP,
real servers) by ``ltc-gateway worker`` processes on PostgreSQL, at 0 ms and at 200 ms of payer
latency; beside it the Little's-law bound of the configuration: at most workers × concurrency
claims in flight, each waiting on its payer steps one after the other, so
bound = workers × concurrency / (steps per claim × latency). Throughput is taken in the steady
state, from the tenth to the ninetieth percent of the claims coordinated (the whole run's figure,
with the workers' start-up, is in the note).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time

from sqlalchemy import func, select

from bench.common import Row, fresh_schema
from examples import example as _example
from examples import example_products as _products
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain.identity import check_character
from gateway.domain.products import Product
from gateway.reference import registry
from gateway.services import agencies, assessments, claims, enrollments
from gateway.services.keys import Principal, Role
from gateway.storage.tables import ClaimRow
from ltc_sandbox import SandboxPayers

STEPS = 4  # tier 1, tier 2, tier-3 indemnity, tier-3 fixed benefit
TARGET_FAST, TARGET_SHARE = 500, 0.8


def _prepare(url: str, sandboxes: SandboxPayers, count: int) -> None:
    """Payers, products, routes, and ``count`` claims of as many members, accepted and waiting."""
    gateway = bootstrap(Settings(database_url=url))
    scenario = _example("worked-example.json")
    bureau = Principal("bench", Role.BUREAU, "bureau")
    provider = Principal("bench", Role.PROVIDER, scenario["provider"]["provider_code"])
    agency = Principal("bench", Role.PROVIDER, scenario["assessment"]["agency_code"])
    with gateway.sessions.begin() as session:
        registry.onboard(session, sandboxes.payer_documents(), _products())
        registry.register_provider(session, scenario["provider"])
        agencies.register_agency(session, scenario["agency"])
    for n in range(count):
        first17 = f"330102{1930 + n % 60:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        id_number = first17 + check_character(first17)
        with gateway.sessions.begin() as session:
            for enrollment in scenario["enrollments"]:
                item = {k: v for k, v in enrollment.items() if k != "payer_code"} | {"id_number": id_number}
                payer = enrollment["payer_code"]
                principal = bureau if payer == "policy-ltci" else Principal("bench", Role.PAYER, payer)
                enrollments.enrol(session, principal, payer, {"enrollments": [item]})
            assessment = copy.deepcopy(scenario["assessment"])
            assessment["member"] = {**assessment["member"], "id_number": id_number}
            view, _ = assessments.submit_assessment(
                session, agency, assessment, gateway.grading, gateway.today()
            )
            claim = dict(
                scenario["claim"],
                claim_number=f"E2E-{n}",
                member_id_number=id_number,
                assessment_id=view["assessment_id"],
            )
            claims.submit_claim(session, provider, claim, gateway.catalogue)
    gateway.close()


def _measure(
    latency_ms: int, count: int, workers: int, concurrency: int
) -> tuple[float, float, float, float]:
    products = [Product.model_validate(p) for p in _products()]
    with fresh_schema("bench_e2e") as url, tempfile.TemporaryDirectory() as folder:
        sandboxes = SandboxPayers(products).start()
        try:
            for payer in sandboxes.payers.values():
                payer.faults.latency_ms = latency_ms
            _prepare(url, sandboxes, count)
            env = {
                **os.environ,
                "LTC_DATABASE_URL": url,
                "LTC_LOG_LEVEL": "WARNING",
                "LTC_WORKER_CONCURRENCY": str(concurrency),
            }
            gateway = bootstrap(Settings(database_url=url))
            started = time.perf_counter()
            processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "ltc_gateway", "worker"],
                    env=env,
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(workers)
            ]
            progress: list[tuple[float, int, float]] = []  # (seconds, claims coordinated, worker CPU s)
            try:
                while not progress or progress[-1][1] < count:
                    with gateway.sessions.begin() as session:
                        done = (
                            session.scalar(
                                select(func.count())
                                .select_from(ClaimRow)
                                .where(ClaimRow.status == "coordinated")
                            )
                            or 0
                        )
                    progress.append((time.perf_counter() - started, done, _cpu_seconds(processes)))
                    time.sleep(0.05)
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(timeout=30)
                gateway.close()
        finally:
            sandboxes.stop()
    bound = workers * concurrency / (STEPS * latency_ms / 1000) if latency_ms else 0.0
    steady, cpu = _steady(progress, count)
    return steady, count / progress[-1][0], bound, cpu


def _steady(progress: list[tuple[float, int, float]], count: int) -> tuple[float, float]:
    """Claims/s from the tenth to the ninetieth percent of the claims coordinated, and the
    workers' CPU seconds a claim over the same span: leaves out the workers' start-up (a second
    or two of imports) and the last claims, finishing with ever fewer in flight, neither of
    which Little's law describes."""
    start = next(p for p in progress if p[1] >= count // 10)
    end = next(p for p in progress if p[1] >= count * 9 // 10)
    return (end[1] - start[1]) / (end[0] - start[0]), (end[2] - start[2]) / (end[1] - start[1])


def _cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User and system CPU the processes used so far (Linux ``/proc``; 0 elsewhere)."""
    total = 0
    for process in processes:
        try:
            with open(f"/proc/{process.pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


def run(workers: int = 2, concurrency: int = 16, light: int = 4) -> list[Row]:
    """At the configured concurrency, and at 200 ms also at a light one (``light`` claims in
    flight a worker): the bound scales with concurrency, so the ratio shows whether the
    orchestration adds waiting of its own once the machine's CPU is not the limit."""
    rows = []
    for latency, in_flight, count in ((0, concurrency, 200), (200, concurrency, 200), (200, light, 100)):
        steady, overall, bound, cpu = _measure(latency, count, workers, in_flight)
        note = (
            f"{workers} workers x {in_flight} claims in flight, {count} claims, {STEPS} payer steps each; "
            f"steady state (10th to 90th percent done), worker CPU {1000 * cpu:.0f} ms a claim; "
            f"whole run with start-up {overall:.1f} claims/s"
        )
        if not latency:
            rows.append(
                Row(
                    "end to end, 0 ms payers",
                    steady,
                    "claims/s",
                    target=f">= {TARGET_FAST} claims/s",
                    met=steady >= TARGET_FAST,
                    note=note,
                )
            )
            continue
        rows.append(
            Row(
                f"end to end, 200 ms payers, {in_flight} in flight a worker",
                steady,
                "claims/s",
                baseline=bound,
                baseline_name="Little's-law bound",
                target=f">= {TARGET_SHARE:.0%} of the bound",
                met=steady >= TARGET_SHARE * bound,
                note=note,
            )
        )
    return rows
