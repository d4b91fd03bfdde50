"""``ltc-gateway serve --workers 2`` as run in production, on PostgreSQL: ``/metrics`` reports
all processes together whichever answers the scrape, uvicorn's own log lines are JSON like the
gateway's, and the shared metrics folder is gone when it stops. Once, on production's database:
what runs here is the process model, the metrics and the logs; ``serve`` on each database (its
schema check, its errors) is tested in test_cli and test_cli_errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.bootstrap import Gateway
from tests.integration.test_cli_errors import SECRETS

REQUESTS = 24


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _healthz_count(metrics: str) -> float:
    found = re.search(
        r'^ltc_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', metrics, re.M
    )
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def served(gateway: Gateway, tmp_path: Path):  # type: ignore[no-untyped-def]
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip("once, on PostgreSQL: the process model, metrics and logs do not depend on the database")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("LTC_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(SECRETS, LTC_DATABASE_URL=gateway.settings.database_url, TMPDIR=str(tmp))
    errors = (tmp_path / "serve.err").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "ltc_gateway", "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=errors,
        env=env,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a wait for start-up, not a bound on speed
    while True:
        assert process.poll() is None, (tmp_path / "serve.err").read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.2)
    yield base, process, tmp, tmp_path / "serve.err"
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    errors.close()


def test_metrics_under_serve_with_two_workers_report_all_processes_together(served) -> None:  # type: ignore[no-untyped-def]
    base, process, tmp, _ = served
    for _ in range(REQUESTS):
        with httpx.Client() as fresh:  # a new connection each: the kernel spreads them over the workers
            assert fresh.get(f"{base}/healthz").status_code == 200
    scrapes = []
    for _ in range(6):
        with httpx.Client() as fresh:
            scrapes.append(_healthz_count(fresh.get(f"{base}/metrics").text))
    assert scrapes == [REQUESTS] * 6
    assert [p.name[:12] for p in tmp.iterdir()] == ["ltc-metrics-"]  # the shared folder, while serving
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert list(tmp.iterdir()) == []  # cleaned up at exit


def test_uvicorns_own_log_lines_are_json_like_the_gateways(served) -> None:  # type: ignore[no-untyped-def]
    base, process, _, stderr = served
    httpx.get(f"{base}/healthz")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    lines = [line for line in stderr.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line, not just the gateway's
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    uvicorn = [e["message"] for e in entries if e["logger"].startswith("uvicorn")]
    assert any(m.startswith("Started server process") for m in uvicorn), uvicorn
    assert any(m.startswith("Uvicorn running on") for m in uvicorn), uvicorn
    assert not any("\x1b[" in line for line in lines)  # no terminal colours
    assert any(e["logger"] == "ltc_gateway.access" and e.get("path") == "/healthz" for e in entries)
