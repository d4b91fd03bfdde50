"""docs/walkthrough.md, executed: its ```sh blocks in order, in one shell, as a reader would run
them (curl included), against a real server on a free port, on both databases."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.bootstrap import Gateway
from tests.integration.test_cli_errors import SECRETS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "walkthrough.md"


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, re.M | re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl, not on this machine")
def test_the_walkthrough_runs_step_by_step(gateway: Gateway, tmp_path: Path) -> None:
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip(
            "once, on PostgreSQL (production's): each of its commands is tested on both databases elsewhere"
        )
    blocks = shell_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 10, "the walk-through lost its steps"
    work = tmp_path / "walk"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")  # "from the repository root"
    script = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for number, block in enumerate(blocks, 1):
        script += [f"echo; echo '=== step {number}' >&2", f"echo; echo '=== step {number}'", block]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTC_")}
    env.update(
        SECRETS,
        LTC_DATABASE_URL=gateway.settings.database_url,
        PORT=str(_free_port()),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # the venv, active
    )
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], capture_output=True, text=True, env=env, cwd=work, timeout=600
    )
    reached = re.findall(r"^=== step (\d+)$", result.stdout, re.M)
    assert result.returncode == 0, (
        f"step {reached[-1] if reached else '?'} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    assert reached == [str(n) for n in range(1, len(blocks) + 1)]
    out = result.stdout
    assert "coordinated" in out
    for row in (
        "policy-ltci CITY-LTCI-2025 210000",
        "huiminbao HMB-LTC-2026 120000",
        "acme-life ACME-LTC-CARE 120000",
    ):
        assert row in out, out
    assert "member 0" in out and "fixed ACME-LTC-ANNUITY 2026-11 200000" in out
    assert re.search(r"AMOUNT_MISMATCH\s+1\s+1", out), out  # the statement's 100.00 short, in the queue
    assert "Traceback" not in result.stderr
