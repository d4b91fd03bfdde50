"""``adapter-check --json`` and ``--junit``: what an insurer's CI reads, against the sandbox payers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.integration.test_cli import ONCE, ltc, url  # noqa: F401  (url is the fixture)


def test_adapter_check_reports_as_json_and_junit_that_ci_can_read(url: str, tmp_path: Path) -> None:  # noqa: F811
    if not url.startswith("sqlite"):
        pytest.skip(ONCE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTC_")}
    config = tmp_path / "payers"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "ltc_gateway", "sandbox", "--write-config", str(config)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        for line in sandbox.stdout:
            if line.startswith("serving"):
                break
        else:
            raise AssertionError("the sandbox did not start")
        products = resources.files("examples").joinpath("products")
        assert ltc("payers", "load", str(products), url=url, cwd=tmp_path).returncode == 0
        assert ltc("payers", "load", str(config), url=url, cwd=tmp_path).returncode == 0

        report = tmp_path / "acme.xml"
        checked = ltc("adapter-check", "acme-life", "--json", "--junit", str(report), url=url, cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
        document = json.loads(checked.stdout)  # stdout is the JSON document alone
        assert document["payer_code"] == "acme-life" and document["failed"] == 0
        names = [c["name"] for c in document["checks"]]
        assert document["passed"] is True and "idempotent retry" in names
        suite = ElementTree.parse(report).getroot().find("testsuite")
        assert suite is not None and suite.get("failures") == "0"
        assert [case.get("name") for case in suite.iter("testcase")] == names

        # a payer whose answers are garbage: the failures are in both reports, and the exit code is 1
        hmb = json.loads((config / "payer-huiminbao.json").read_text())
        httpx.post(hmb["adapter"]["base_url"] + "/_sandbox/faults", json={"malformed_first": 1000})
        report = tmp_path / "hmb.xml"
        failing = ltc("adapter-check", "huiminbao", "--json", "--junit", str(report), url=url, cwd=tmp_path)
        assert failing.returncode == 1
        results = {c["name"]: c for c in json.loads(failing.stdout)["checks"]}
        assert (
            not results["submit_share"]["passed"] and "MalformedAnswer" in results["submit_share"]["detail"]
        )
        cases = {case.get("name"): case for case in ElementTree.parse(report).getroot().iter("testcase")}
        failure = cases["submit_share"].find("failure")
        assert failure is not None and "MalformedAnswer" in (failure.text or "")
        assert cases["deliver_assessment"].find("failure") is None
        assert int(ElementTree.parse(report).getroot().get("failures") or 0) == sum(
            not c["passed"] for c in results.values()
        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
