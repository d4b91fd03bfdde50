"""The accept path: claims/s through ``POST /v1/claims`` (bearer key, JSON Schema and model
validation, claim rules, idempotency by claim number, the claim, its lines and its planned payer
steps stored), served by ``ltc-gateway serve --workers 2`` on PostgreSQL and driven by wrk; beside
it the essential work alone (``bench.accept_baseline``: raw Starlette and async psycopg, the same
claim schema, group commit), served the same way, one process per core.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import accept_baseline
from bench.common import Row, fresh_schema

TARGET = 1200
LAST_OUTPUT = ""
LUA = """
local counter = 0
local prefix = tostring(math.random(1, 1000000000))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  counter = counter + 1
  local body = string.gsub(wrk.body_template, "CLAIM_NUMBER", prefix .. "-" .. counter)
  return wrk.format(nil, "%(path)s", nil, body)
end
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = tostring(math.random(1, 1000000000))
  wrk.body_template = [[%(body)s]]
end
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180  # a loaded machine starts Python slowly
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(1.0)
                return
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


def _cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its descendants (a server and its workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # it exited meanwhile
    return total


def _wrk(port: int, script: Path, seconds: int, connections: int, timeout: int = 2) -> tuple[float, int, int]:
    if shutil.which("wrk") is None:
        raise SystemExit("the accept benchmark drives the servers with wrk: apt-get install wrk")
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            f"--timeout={timeout}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/v1/claims",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    global LAST_OUTPUT
    LAST_OUTPUT = out
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in errors.groups()) if errors else 0)
    return rate, total, failures


def _prepare(url: str) -> tuple[str, dict[str, object], str, str]:
    """Products, provider, an enrolled member with an assessment; a provider key; a claim body."""
    from gateway.bootstrap import bootstrap
    from gateway.config import Settings
    from gateway.reference import registry
    from gateway.services import agencies, assessments, enrollments
    from gateway.services.keys import Principal, Role, create_key
    from gateway.storage.tables import MemberRow
    from ltc_sandbox.demo import example, example_products

    gateway = bootstrap(Settings(database_url=url))
    scenario = example("worked-example.json")
    with gateway.sessions.begin() as session:
        for product in example_products():
            registry.load_product(session, product)
        registry.register_provider(session, scenario["provider"])
        agencies.register_agency(session, scenario["agency"])
        for enrollment in scenario["enrollments"]:
            item = dict(enrollment)
            payer = item.pop("payer_code")
            role = Role.BUREAU if payer == "policy-ltci" else Role.PAYER
            enrollments.enrol(
                session,
                Principal("bench", role, "bureau" if role == Role.BUREAU else payer),
                payer,
                {"enrollments": [item]},
            )
        agency = Principal("bench", Role.PROVIDER, scenario["assessment"]["agency_code"])
        view, _ = assessments.submit_assessment(
            session, agency, scenario["assessment"], gateway.grading, gateway.today()
        )
        key = create_key(session, Role.PROVIDER, scenario["provider"]["provider_code"])[1]
        member = session.query(MemberRow).one().member_id
    gateway.close()
    body = copy.deepcopy(scenario["claim"])
    body["assessment_id"] = view["assessment_id"]
    body["claim_number"] = "CLAIM_NUMBER"
    return key, body, str(member), scenario["provider"]["provider_code"]


def run(seconds: int = 10, connections: int = 32, rounds: int = 3) -> list[Row]:
    """Both servers up at once; ``rounds`` wrk runs against each, alternating, so that a noisy
    moment on the machine touches both; the medians are compared."""
    with fresh_schema("bench_accept") as url, tempfile.TemporaryDirectory() as folder:
        key, body, _, provider = _prepare(url)
        script = Path(folder) / "claims.lua"
        script.write_text(LUA % {"key": key, "path": "/v1/claims", "body": json.dumps(body)})
        accept_baseline.create_tables(url)
        env = {
            **os.environ,
            "LTC_DATABASE_URL": url,
            "LTC_LOG_LEVEL": "WARNING",
            "BENCH_URL": url,
            "BENCH_KEY": key,
            "BENCH_PROVIDER": provider,
        }
        commands = {
            "gateway": [
                sys.executable,
                "-m",
                "ltc_gateway",
                "serve",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            "baseline": [
                *(sys.executable, "-m", "uvicorn", "bench.accept_baseline:app", "--workers", "2"),
                *("--log-level", "warning", "--no-access-log"),
            ],
        }
        ports = {name: _port() for name in commands}
        processes = {
            name: subprocess.Popen(
                [*command, "--port", str(ports[name])],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, command in commands.items()
        }
        results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in commands}
        cpu = dict.fromkeys(commands, 0.0)
        loads: list[float] = []
        try:
            for name, process in processes.items():
                _wait(ports[name], process)
            for _ in range(rounds):
                for name in commands:
                    loads.append(os.getloadavg()[0])
                    before = _cpu_seconds(processes[name].pid)
                    results[name].append(_wrk(ports[name], script, seconds, connections))
                    cpu[name] += _cpu_seconds(processes[name].pid) - before
        finally:
            for process in processes.values():
                _stop(process)
    rate = statistics.median(r[0] for r in results["gateway"])
    base = statistics.median(r[0] for r in results["baseline"])
    total, failures = (sum(r[n] for r in results["gateway"]) for n in (1, 2))
    base_failures = sum(r[2] for r in results["baseline"])
    per_claim = {name: 1000 * cpu[name] / max(1, sum(r[1] for r in results[name])) for name in commands}
    runs = ", ".join(f"{r[0]:,.0f}" for r in results["gateway"])
    base_runs = ", ".join(f"{r[0]:,.0f}" for r in results["baseline"])
    return [
        Row(
            "accept path",
            rate,
            "claims/s",
            baseline=base,
            baseline_name="bare: Starlette + psycopg, group commit",
            target=f">= {TARGET:,} claims/s and >= 50% of baseline",
            met=rate >= TARGET and rate >= 0.5 * base,
            note=f"median of {rounds} alternating wrk runs (2 threads x {connections} connections, "
            f"{seconds} s): {runs} vs {base_runs}; {total:,} claims, {failures} errors "
            f"(baseline {base_failures}); server CPU per claim {per_claim['gateway']:.2f} ms "
            f"(baseline {per_claim['baseline']:.2f} ms); load average {min(loads):.1f}-{max(loads):.1f} "
            f"on {os.cpu_count()} cores",
        )
    ]


def load(seconds: int = 60, connections: int = 200) -> list[Row]:
    """200 concurrent clients submitting claims for a minute: every answer must be a success."""
    with fresh_schema("bench_load") as url, tempfile.TemporaryDirectory() as folder:
        key, body, _, _ = _prepare(url)
        script = Path(folder) / "claims.lua"
        script.write_text(LUA % {"key": key, "path": "/v1/claims", "body": json.dumps(body)})
        env = {**os.environ, "LTC_DATABASE_URL": url, "LTC_LOG_LEVEL": "WARNING"}
        port = _port()
        command = [sys.executable, "-m", "ltc_gateway", "serve", "--workers", "2", "--log-level", "warning"]
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait(port, process)
            rate, total, failures = _wrk(port, script, seconds, connections, timeout=60)
        finally:
            _stop(process)
    latency = re.search(r"99%\s+(\S+)", LAST_OUTPUT)
    return [
        Row(
            f"load: {connections} clients x {seconds} s",
            rate,
            "claims/s",
            target="0 errors",
            met=failures == 0,
            note=f"{total:,} claims, {failures} errors, p99 latency {latency.group(1) if latency else '?'}",
        )
    ]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:  # a loaded machine: do not leave it serving
        process.kill()
        process.wait()
