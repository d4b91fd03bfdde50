"""End to end: claims coordinated per second through the three sandbox payers (two REST, one SOAP,
real servers) by ``ltc-gateway worker`` processes on PostgreSQL, at 0 ms and at 200 ms of payer
latency; beside it the Little's-law bound of the configuration: at most workers × concurrency
claims in flight, each waiting on its payer steps one after the other, so
bound = workers × concurrency / (steps per claim × latency). Throughput is taken in the steady
state, from the tenth to the ninetieth percent of the claims coordinated (the whole run's figure,
with the workers' start-up, is in the note).

Beside the gateway, in the same run and on the same claims and sandbox payers, the minimal
baseline of issue 20 (``bench.minimal_claim``: facts in one query, the pure coordination, the same
payer calls on the lean clients, the request stored before each send, one group commit for the
claims in flight). CPU a claim is the measured processes' own plus that of the PostgreSQL
backends serving them (``/proc``; the backends are found by ``application_name``), so the other
users of a shared server are not counted; the machine's load average is in the note.
"""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

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
from ltc_sandbox.payer_set import SandboxPayers

STEPS = 4  # tier 1, tier 2, tier-3 indemnity, tier-3 fixed benefit
TARGET_FAST, TARGET_SHARE, TARGET_CPU_MS = 60, 0.8, 25


def _prepare(url: str, sandboxes: SandboxPayers, count: int, first: int = 0) -> None:
    """Payers, products, routes, and ``count`` claims of as many members, accepted and waiting
    (members ``first`` to ``first + count - 1``: a shard of the members, distinct under 1,000)."""
    gateway = bootstrap(Settings(database_url=url))
    scenario = _example("worked-example.json")
    bureau = Principal("bench", Role.BUREAU, "bureau")
    provider = Principal("bench", Role.PROVIDER, scenario["provider"]["provider_code"])
    agency = Principal("bench", Role.PROVIDER, scenario["assessment"]["agency_code"])
    with gateway.sessions.begin() as session:
        registry.onboard(session, sandboxes.payer_documents(), _products())
        registry.register_provider(session, scenario["provider"])
        agencies.register_agency(session, scenario["agency"])
    for n in range(first, first + count):
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


def _measure(latency_ms: int, count: int, workers: int, concurrency: int, baseline: bool = False) -> Measured:
    """``workers`` gateway worker processes (or, with ``baseline``, as many processes of the
    minimal baseline, ``bench.minimal_claim``) coordinating ``count`` claims."""
    products = [Product.model_validate(p) for p in _products()]
    with fresh_schema("bench_e2e") as url, tempfile.TemporaryDirectory() as folder:
        sandboxes = SandboxPayers(products).start()
        try:
            for payer in sandboxes.payers.values():
                payer.faults.latency_ms = latency_ms
            _prepare(url, sandboxes, count)
            application = f"ltc-bench-{secrets.token_hex(4)}"  # finds their PostgreSQL backends
            env = {
                **os.environ,
                "LTC_DATABASE_URL": url,
                "LTC_LOG_LEVEL": "WARNING",
                "LTC_WORKER_CONCURRENCY": str(concurrency),
                "PGAPPNAME": application,
            }
            command = (
                [sys.executable, "-m", "bench.minimal_claim", url, str(concurrency)]
                if baseline
                else [sys.executable, "-m", "ltc_gateway", "worker"]
            )
            gateway = bootstrap(Settings(database_url=url))
            backends = Backends(application)
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            processes = [
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=folder if not baseline else os.getcwd(),
                    stdout=subprocess.DEVNULL,
                    stderr=None if baseline else subprocess.DEVNULL,  # a baseline fault shows
                )
                for _ in range(workers)
            ]
            # (seconds, claims coordinated, worker CPU s, PostgreSQL backends' CPU s)
            progress: list[tuple[float, int, float, float]] = []
            own: list[float] = []  # this process's CPU beside each point: the sandbox payers, polling
            try:
                while not progress or progress[-1][1] < count:
                    with gateway.sessions.begin() as session:
                        done = coordinated(session)
                        postgres = backends.cpu_seconds(session)
                    progress.append((time.perf_counter() - started, done, _cpu_seconds(processes), postgres))
                    own.append(time.process_time())
                    if any(p.poll() is not None for p in processes) and done < count:
                        raise RuntimeError(f"{command[2]} exited with {done} of {count} claims coordinated")
                    time.sleep(0.05)
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(timeout=30)
                gateway.close()
            load_after = os.getloadavg()[0]
        finally:
            sandboxes.stop()
    bound = little_bound(workers, concurrency, latency_ms) if latency_ms else 0.0
    steady, cpu, pg = _steady(progress, count)
    start, end = span(progress, count)
    payers = (own[end] - own[start]) / (progress[end][1] - progress[start][1])
    return Measured(steady, count / progress[-1][0], bound, cpu, pg, (load_before + load_after) / 2, payers)


@dataclass(frozen=True)
class Measured:
    steady: float  # claims/s, 10th to 90th percent done
    overall: float  # claims/s, the whole run with start-up
    bound: float  # Little's-law bound (0 at 0 ms)
    worker_cpu: float  # seconds a claim
    postgres_cpu: float  # seconds a claim, the processes' own backends
    load: float  # 1-minute load average, mean of start and end
    payers_cpu: float = 0.0  # seconds a claim of the benchmark's process: the sandbox payers, polling

    @property
    def cpu(self) -> float:
        return self.worker_cpu + self.postgres_cpu


class Backends:
    """The CPU of the PostgreSQL backends serving the measured processes (found by their
    ``application_name``; a backend that ended keeps what it last used)."""

    def __init__(self, application: str) -> None:
        self.application = application
        self.used: dict[int, float] = {}

    def cpu_seconds(self, session: Session) -> float:
        pids = session.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"), {"a": self.application}
        )
        for pid in pids:
            self.used[pid] = _process_cpu(pid, self.used.get(pid, 0.0))
        return sum(self.used.values())


def coordinated(session: Session) -> int:
    """Claims coordinated so far: the progress a run is polled by."""
    return (
        session.scalar(select(func.count()).select_from(ClaimRow).where(ClaimRow.status == "coordinated"))
        or 0
    )


def span(progress: list[tuple[float, int, float, float]], count: int) -> tuple[int, int]:
    """The indices of the steady span's ends in ``progress``: the first points with a tenth and
    nine tenths of the claims coordinated."""
    start = next(i for i, p in enumerate(progress) if p[1] >= count // 10)
    end = next(i for i, p in enumerate(progress) if p[1] >= count * 9 // 10)
    return start, end


def _steady(progress: list[tuple[float, int, float, float]], count: int) -> tuple[float, float, float]:
    """Claims/s from the tenth to the ninetieth percent of the claims coordinated, and the
    workers' and their PostgreSQL backends' CPU seconds a claim over the same span: leaves out the
    workers' start-up (a second or two of imports) and the last claims, finishing with ever fewer
    in flight, neither of which Little's law describes."""
    first, last = span(progress, count)
    start, end = progress[first], progress[last]
    claims = end[1] - start[1]
    return claims / (end[0] - start[0]), (end[2] - start[2]) / claims, (end[3] - start[3]) / claims


def _process_cpu(pid: int, otherwise: float = 0.0) -> float:
    """User and system CPU seconds a process used so far (Linux ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return otherwise
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: stat(5)


def _cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User and system CPU the processes used so far (Linux ``/proc``; 0 elsewhere)."""
    return sum(_process_cpu(process.pid) for process in processes)


def slow_claims(workers: int, in_flight: int) -> int:
    """Claims for the 200 ms run: four times those in flight (at least 200), so the steady span
    (10th to 90th percent done) is not the ramp up and down of a single wave."""
    return max(200, 4 * workers * in_flight)


def little_bound(processes: int, in_flight: int, latency_ms: int, steps: int = STEPS) -> float:
    """Claims/s when every claim waits on its payer steps one after the other (Little's law)."""
    return processes * in_flight / (steps * latency_ms / 1000)


def cpu_bound(cores: int, cpu_seconds_a_claim: float) -> float:
    """Claims/s if every core did nothing but this work (0 when no CPU was measured)."""
    return cores / cpu_seconds_a_claim if cpu_seconds_a_claim > 0 else 0.0


def applying(little: float, cpu: float) -> str:
    """Which bound caps the figure: the lower one."""
    return "CPU" if 0 < cpu < little else "Little's law"


def bounds(m: Measured, cores: int, with_payers: bool = True) -> tuple[float, float, str, float]:
    """The Little's-law bound, the CPU bound, the one that applies (the lower) and its value. The
    CPU bound is the cores over everything a claim costs them: the workers, their backends and
    (``with_payers``) the sandbox payers, which answer on the same cores; without them it is a
    bound the machine cannot reach."""
    cpu = cpu_bound(cores, m.cpu + (m.payers_cpu if with_payers else 0.0))
    applies = applying(m.bound, cpu)
    return m.bound, cpu, applies, cpu if applies == "CPU" else m.bound


def run(workers: int = 2, concurrency: int = 16, slow_concurrency: int = 64) -> list[Row]:
    """The gateway's workers and the minimal baseline (``bench.minimal_claim``), alternating in
    the same run: at 0 ms payers their worker + PostgreSQL CPU a claim and claims/s, at 200 ms
    (issue 20: 64 claims in flight a worker) the share of the bound that applies, Little's law's
    or the CPU's, whichever is lower."""
    rows = []
    fast, fast_base = (_measure(0, 200, workers, concurrency, baseline=b) for b in (False, True))
    count = slow_claims(workers, slow_concurrency)
    slow, slow_base = (_measure(200, count, workers, slow_concurrency, baseline=b) for b in (False, True))
    cores = os.cpu_count() or 1

    def note(m: Measured, in_flight: int, claims: int = 200) -> str:
        return (
            f"{workers} processes x {in_flight} claims in flight, {claims} claims, {STEPS} payer steps each; "
            f"steady state (10th to 90th percent done): worker {1000 * m.worker_cpu:.1f} + PostgreSQL "
            f"{1000 * m.postgres_cpu:.1f} ms CPU a claim; whole run {m.overall:.1f} claims/s; "
            f"load {m.load:.1f}"
        )

    fast_note = f"gateway: {note(fast, concurrency)}. baseline: {note(fast_base, concurrency)}"
    rows.append(
        Row(
            "end to end, 0 ms payers: worker + PostgreSQL CPU a claim",
            1000 * fast.cpu,
            "ms",
            baseline=1000 * fast_base.cpu,
            baseline_name="minimal baseline, same run",
            target=f"<= {TARGET_CPU_MS} ms and <= 2x baseline",
            met=1000 * fast.cpu <= TARGET_CPU_MS and fast.cpu <= 2 * fast_base.cpu,
            note=fast_note,
        )
    )
    rows.append(
        Row(
            "end to end, 0 ms payers",
            fast.steady,
            "claims/s",
            baseline=fast_base.steady,
            baseline_name="minimal baseline, same run",
            target=f">= {TARGET_FAST} claims/s",
            met=fast.steady >= TARGET_FAST,
            note="as above",
        )
    )
    little, cpu, applies, bound = bounds(slow, cores)
    alone = bounds(slow, cores, with_payers=False)[1]
    share_alone = slow.steady / alone if alone else 0.0
    _, _, base_applies, base_bound = bounds(slow_base, cores)
    rows.append(
        Row(
            f"end to end, 200 ms payers, {slow_concurrency} in flight a worker",
            slow.steady,
            "claims/s",
            baseline=bound,
            baseline_name=f"bound that applies: {applies}",
            target=f">= {TARGET_SHARE:.0%} of the lower of the Little's-law and the CPU bound",
            met=slow.steady >= TARGET_SHARE * bound,
            note=f"bounds: Little's law {little:.1f}, CPU ({cores} cores / the CPU a claim of the workers, "
            f"their backends and the sandbox payers answering on the same cores: "
            f"{1000 * slow.payers_cpu:.1f} ms) {cpu:.1f} claims/s (without the payers {alone:.1f}: "
            f"{share_alone:.0%} of it); gateway: {note(slow, slow_concurrency, count)}. "
            f"minimal baseline: {slow_base.steady:.1f} claims/s, "
            f"{slow_base.steady / base_bound:.0%} of its own bound ({base_applies}, {base_bound:.1f}); "
            f"{note(slow_base, slow_concurrency, count)}",
        )
    )
    return rows
