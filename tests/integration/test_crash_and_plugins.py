"""A worker killed mid fan-out, and a third-party adapter found through its entry point: both run
as separate processes, the way operators and insurers would run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.ledger import business_date
from gateway.storage.tables import PayerRow, StatementRow
from ltc_sandbox.payer_set import SandboxPayers
from reconciliation.run import Reconciliation
from tests.integration.test_payers import WORKED, one_body_per_key, paid
from tests.integration.world import World

PLUGIN = Path(__file__).parent / "plugin"


def worker_env(world: World) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTC_")}
    env.update(
        LTC_DATABASE_URL=world.gateway.settings.database_url,
        LTC_WORKER_LEASE_SECONDS="2",
        LTC_WORKER_POLL_SECONDS="0.1",
        LTC_PAYER_RETRY_INITIAL_SECONDS="0.05",
        LTC_STEP_RETRY_SECONDS="0.1",
    )
    return env


def test_a_worker_killed_mid_fan_out_is_resumed_without_a_second_different_submission(
    world: World, sandboxes: SandboxPayers, tmp_path: Path
) -> None:
    hmb = sandboxes.payers["huiminbao"]
    hmb.faults.latency_ms = 3000  # the tier-2 call is in flight when the worker dies
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    env = worker_env(world)
    worker = subprocess.Popen(
        [sys.executable, "-m", "ltc_gateway", "worker"], env=env, cwd=tmp_path, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not hmb.submissions:
            assert worker.poll() is None, "the worker exited early"
            assert time.monotonic() < deadline, "the worker never reached tier 2"
            time.sleep(0.02)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    view = world.claim(claim_id)
    assert view["status"] == "coordinating"
    assert [s["status"] for s in view["payers"]] == ["decided", "submitted", "waiting", "waiting"]

    hmb.faults.latency_ms = 0
    time.sleep(2.2)  # the dead worker's lease runs out
    restarted = subprocess.run(
        [sys.executable, "-m", "ltc_gateway", "worker", "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert restarted.returncode == 0, restarted.stderr
    view = world.claim(claim_id)
    assert view["status"] == "coordinated" and paid(view) == WORKED
    [digests] = hmb.submissions.values()
    assert len(digests) == 2 and len(set(digests)) == 1  # sent again, with the same body and key
    assert len(hmb.decisions) == 1
    one_body_per_key(sandboxes)


@pytest.fixture(scope="module")
def echo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plug-in package installed apart (as an insurer's package would be), once for the module."""
    site = tmp_path_factory.mktemp("echo") / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(PLUGIN),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=site.parent,
    )
    assert installed.returncode == 0, installed.stderr
    return site


def test_an_adapter_installed_from_a_package_is_found_through_the_entry_point(
    echo_site: Path, tmp_path: Path
) -> None:
    site = echo_site
    script = textwrap.dedent(
        """
        import asyncio, json
        from importlib import resources
        from adapters.conformance import render, run_checks
        from adapters.registry import BUNDLED, build_adapter, factories
        from gateway.domain.products import Product

        assert "echo" in factories() and "echo" not in BUNDLED
        adapter = build_adapter("echo-payer", {"type": "echo"})
        print(type(adapter).__module__)
        text = resources.files("examples").joinpath("products/tier2-huiminbao-ltc.json").read_text()
        product = Product.model_validate(json.loads(text))
        shared = {}
        def one(code, config):  # the same in-memory payer for every call of the run
            return shared.setdefault(code, build_adapter(code, config))
        checks = asyncio.run(run_checks("echo-payer", {"type": "echo"}, product, True, make_adapter=one))
        print(render("echo-payer", checks))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "ltc_echo_payer"
    assert "0 failed" in result.stdout, result.stdout


def test_without_the_package_the_adapter_type_is_unknown(tmp_path: Path) -> None:
    script = (
        "from adapters.registry import build_adapter\n"
        "from adapters.sdk import PermanentError\n"
        "try:\n    build_adapter('p', {'type': 'echo'})\nexcept PermanentError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "no adapter of type 'echo' is installed" in result.stdout


def test_the_nightly_run_pulls_a_plug_in_payers_statement(
    world: World, echo_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plug-in declares no capabilities: it is a remote payer whose statements are pulled, the
    same as the bundled REST and SOAP adapters (the run used to ask only those two types)."""
    monkeypatch.syspath_prepend(str(echo_site))  # the entry point is found from here on
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    world.coordinate()
    settled = business_date()
    entry = {
        "claim_id": claim_id,
        "line_no": 1,
        "paid_fen": 100,
        "payer_reference": "echo-1",
        "settled_on": settled.isoformat(),
    }
    with world.gateway.sessions.begin() as session:
        session.get_one(PayerRow, "acme-life").adapter = {"type": "echo", "statement": [entry]}
    run = Reconciliation(world.gateway.sessions, window_days=world.gateway.settings.settlement_window_days)
    result = run.run(settled)
    assert result["counts"]["pulled"] == {"acme-life": "1 new entries"}
    with world.gateway.sessions.begin() as session:
        [statement] = session.scalars(select(StatementRow))
    assert (statement.payer_code, statement.source, statement.accepted) == ("acme-life", "pull", 1)
