"""Scale-out (issue 20): the gateway's ``ltc-gateway worker`` processes at 200 ms payer latency,
1, 2 and 4 of them on one PostgreSQL, the same number of claims each time; then two "shards" —
two databases (schemas of their own on the same server), the claims split by member, a worker set
each — against one database with the same workers and claims.

The machinery is the end-to-end benchmark's (``bench.end_to_end``): the three sandbox payers with
their latency, the claims accepted beforehand, the workers as subprocesses, throughput over the
steady span (10th to 90th percent done), CPU a claim from ``/proc`` for the workers and their own
PostgreSQL backends. Each figure stands beside the two bounds that can cap it: Little's law
(processes × in flight / (steps × latency)) and the CPU bound (the machine's cores / all a claim
costs them: the workers, their backends and the sandbox payers answering on the same cores; the
bound without the payers is printed beside it); the lower one applies.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.common import Row, fresh_schema
from bench.end_to_end import (
    Backends,
    _cpu_seconds,
    _prepare,
    _steady,
    applying,
    coordinated,
    cpu_bound,
    little_bound,
    span,
)
from examples import example_products as _products
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain.products import Product
from ltc_sandbox.payer_set import SandboxPayers

LATENCY_MS = 200
TARGET_RATIO = 3.2  # 1 -> 4 worker processes


def split(count: int, shards: int) -> list[tuple[int, int]]:
    """The members ``0 .. count - 1`` split into ``shards`` contiguous ranges as (first, count),
    the first shards taking one more when it does not divide: a member's claims on one shard."""
    size, extra = divmod(count, shards)
    ranges, first = [], 0
    for shard in range(shards):
        length = size + (1 if shard < extra else 0)
        ranges.append((first, length))
        first += length
    return ranges


@dataclass(frozen=True)
class Run:
    processes: int
    shards: int
    steady: float  # claims/s, 10th to 90th percent done
    worker_cpu: float  # seconds a claim
    postgres_cpu: float  # seconds a claim
    load: tuple[float, float]  # 1-minute load average at start and end
    payers_cpu: float  # seconds a claim of this process: the sandbox payers and the polling

    @property
    def cpu(self) -> float:
        return self.worker_cpu + self.postgres_cpu


def measure(count: int, processes: int, in_flight: int, shards: int = 1) -> Run:
    """``processes`` workers in all (``processes // shards`` a shard) coordinating ``count``
    claims split by member over ``shards`` fresh schemas, at ``LATENCY_MS`` payers."""
    products = [Product.model_validate(p) for p in _products()]
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(fresh_schema("scale_out")) for _ in range(shards)]
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        sandboxes = SandboxPayers(products).start()
        stack.callback(sandboxes.stop)
        for payer in sandboxes.payers.values():
            payer.faults.latency_ms = LATENCY_MS
        for url, (first, length) in zip(urls, split(count, shards), strict=True):
            _prepare(url, sandboxes, length, first)
        application = f"ltc-bench-{secrets.token_hex(4)}"  # finds their PostgreSQL backends
        gateways = [bootstrap(Settings(database_url=url)) for url in urls]
        for gateway in gateways:
            stack.callback(gateway.close)
        backends = Backends(application)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        workers: list[subprocess.Popen[bytes]] = []
        for url in urls:
            env = {
                **os.environ,
                "LTC_DATABASE_URL": url,
                "LTC_LOG_LEVEL": "WARNING",
                "LTC_WORKER_CONCURRENCY": str(in_flight),
                "PGAPPNAME": application,
            }
            workers += [
                subprocess.Popen(
                    [sys.executable, "-m", "ltc_gateway", "worker"],
                    env=env,
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(processes // shards)
            ]
        progress: list[tuple[float, int, float, float]] = []
        own: list[float] = []  # this process's CPU seconds beside each progress point
        try:
            while not progress or progress[-1][1] < count:
                done, postgres = 0, 0.0
                for index, gateway in enumerate(gateways):
                    with gateway.sessions.begin() as session:
                        done += coordinated(session)
                        if index == 0:  # pg_stat_activity is the server's: one look sees all
                            postgres = backends.cpu_seconds(session)
                progress.append((time.perf_counter() - started, done, _cpu_seconds(workers), postgres))
                own.append(time.process_time())
                if any(w.poll() is not None for w in workers) and done < count:
                    raise RuntimeError(f"a worker exited with {done} of {count} claims coordinated")
                time.sleep(0.05)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=30)
        load_after = os.getloadavg()[0]
    steady, cpu, pg = _steady(progress, count)
    start, end = span(progress, count)
    payers = (own[end] - own[start]) / (progress[end][1] - progress[start][1])
    return Run(processes, shards, steady, cpu, pg, (load_before, load_after), payers)


def _note(run: Run, in_flight: int, count: int) -> str:
    cores = os.cpu_count() or 1
    little = little_bound(run.processes, in_flight, LATENCY_MS)
    # as the end-to-end benchmark takes it: the cores over all a claim costs them, the sandbox
    # payers answering on the same cores included; without them printed beside it
    cpu = cpu_bound(cores, run.cpu + run.payers_cpu)
    alone = cpu_bound(cores, run.cpu)
    return (
        f"{run.processes} x {in_flight} in flight, {count} claims, {run.shards} database(s); "
        f"CPU a claim {1000 * run.cpu:.1f} ms (worker {1000 * run.worker_cpu:.1f} + PostgreSQL "
        f"{1000 * run.postgres_cpu:.1f}) + the sandbox payers and polling on the same cores "
        f"{1000 * run.payers_cpu:.1f}; bounds: Little's law {little:.1f}, CPU ({cores} cores / all a claim "
        f"costs them) {cpu:.1f} claims/s (without the payers {alone:.1f}), {applying(little, cpu)} applies; "
        f"load {run.load[0]:.1f} -> {run.load[1]:.1f}"
    )


def run(count: int = 200, in_flight: int = 4, shards: bool = True) -> list[Row]:
    """1, 2 and 4 worker processes on one database; then (``shards``) two databases with a
    worker set (one process) each, the claims split by member: throughput adds up across shards
    if two give twice what one database with one set gave."""
    rows = []
    one = measure(count, 1, in_flight)
    rows.append(
        Row(
            f"scale-out, {LATENCY_MS} ms payers, 1 worker process",
            one.steady,
            "claims/s",
            baseline=little_bound(1, in_flight, LATENCY_MS),
            baseline_name="Little's-law bound",
            note=_note(one, in_flight, count),
        )
    )
    measured = {1: one}
    for processes in (2, 4):
        many = measured[processes] = measure(count, processes, in_flight)
        ratio = many.steady / one.steady
        rows.append(
            Row(
                f"scale-out, {LATENCY_MS} ms payers, {processes} worker processes, one PostgreSQL",
                many.steady,
                "claims/s",
                baseline=one.steady,
                baseline_name="1 worker process, same run",
                target=f">= {TARGET_RATIO}x with 4" if processes == 4 else "",
                met=ratio >= TARGET_RATIO if processes == 4 else None,
                note=f"{ratio:.2f}x; " + _note(many, in_flight, count),
            )
        )
    if shards:
        two = measure(count, 2, in_flight, shards=2)
        rows.append(
            Row(
                f"two databases, {LATENCY_MS} ms payers, a worker process each, claims split by member",
                two.steady,
                "claims/s",
                baseline=one.steady,
                baseline_name="one database, one worker process, same run",
                note=f"{two.steady / one.steady:.2f}x; {_note(two, in_flight, count)}; one database with "
                f"2 processes gave {measured[2].steady:.1f} claims/s",
            )
        )
    return rows
