"""``ltc-gateway demo`` as a new user meets it: a fault is one line each, no traceback, nothing left
behind, a non-zero exit; a working demo says where the staff UI and the API docs are and which key
signs in where. (The README's first command itself runs in a fresh venv in ``.ci/demo-check``.)"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.config import Settings
from ltc_sandbox import demo as demo_module
from ltc_sandbox.payer_set import SandboxPayers


def _environment(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTC_")}
    env["TMPDIR"] = str(tmp)  # the demo's temporary database goes here, where the test can look
    return env


def test_a_demo_whose_port_is_taken_says_so_in_one_line_and_leaves_nothing_behind(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ltc_gateway", "demo", "--once", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_environment(tmp),
            cwd=tmp_path,
            timeout=120,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot serve the gateway on 127.0.0.1:") and str(port) in lines[0]
    assert "--port 0" in lines[0]
    assert list(tmp.iterdir()) == []


class _UnreachableSoapPayer(SandboxPayers):
    """The sandboxes, with the commercial insurer's SOAP server gone once its address is known."""

    def start(self) -> SandboxPayers:
        super().start()
        self.servers["acme-life"].stop()
        return self


def test_a_demo_whose_payer_is_unreachable_names_it_in_one_line_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo_module, "SandboxPayers", _UnreachableSoapPayer)
    monkeypatch.setattr(demo_module.tempfile, "tempdir", str(tmp_path))
    status = demo_module.demo(Settings(), once=True, as_json=False, host="127.0.0.1", port=0)
    out, err = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in err and "Line 1" not in out
    faults = err.splitlines()
    assert all(line.startswith("error: ") for line in faults), err
    assert len(faults) == len(set(faults)) >= 2  # the payer's fault, then the claim it held up
    assert any("acme-life" in line for line in faults), err
    assert re.search(r"claim \S+ is still coordinating", faults[-1])
    assert list(tmp_path.iterdir()) == []


def test_a_working_demo_prints_the_staff_ui_and_docs_urls_and_which_key_signs_in_where(
    tmp_path: Path,
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "ltc_gateway", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmp),
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("Try: curl"):
                break
        out = "".join(printed)
        assert "2,100.00" in out
        ui = re.search(r"^Staff UI: (http://\S+/ui/login)\s+sign in with the reconciler key", out, re.M)
        docs = re.search(r"^API docs: (http://\S+/docs)\s", out, re.M)
        assert ui and docs, out
        assert httpx.get(ui.group(1)).status_code == 200
        assert "openapi" in httpx.get(docs.group(1)).text.lower()
        found = re.findall(r"^  (bureau|provider|agency|reconciler)\s+(ltc_\S+)\s+\((.+)\)$", out, re.M)
        keys = {role: key for role, key, _ in found}
        where = {role: text for role, _, text in found}
        assert set(keys) == {"bureau", "provider", "agency", "reconciler"}, out
        assert where["reconciler"].startswith("UI and API") and where["bureau"].startswith("UI and API")
        assert where["provider"].startswith("API: claims") and where["agency"].startswith("API: assessments")
        base = ui.group(1).removesuffix("/ui/login")
        runs = httpx.get(
            f"{base}/v1/reconciliation/runs", headers={"Authorization": f"Bearer {keys['reconciler']}"}
        )
        assert runs.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert list(tmp.iterdir()) == []
