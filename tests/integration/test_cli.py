"""The ``ltc-gateway`` command line, run as a user would (a subprocess), on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.bootstrap import Gateway
from gateway.services.keys import authenticate
from tests.conftest import DatabaseUnderTest

# the adapter kit's tests run on one database
ONCE = (
    "once, on SQLite: what runs here is the command line and the payers' endpoints; the payer "
    "registry it reads is tested on both databases (test_payers_load_and_list)"
)


def ltc(
    *args: str, url: str | None, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTC_")}
    env.update(extra)
    if url is not None:
        env["LTC_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "ltc_gateway", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def url(gateway: Gateway) -> str:
    return gateway.settings.database_url


def test_payers_load_and_list(url: str, tmp_path: Path) -> None:
    folder = resources.files("examples").joinpath("products")
    loaded = ltc("payers", "load", str(folder), url=url, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "CITY-LTCI-2025" in loaded.stdout and "version 1" in loaded.stdout
    again = ltc("payers", "load", str(folder), url=url, cwd=tmp_path)
    assert again.stdout.count("(unchanged)") == 4
    listed = ltc("payers", "list", url=url, cwd=tmp_path)
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", "policy-ltci", "CITY-LTCI-2025"),
        ("2", "huiminbao", "HMB-LTC-2026"),
        ("3", "acme-life", "ACME-LTC-ANNUITY"),
        ("3", "acme-life", "ACME-LTC-CARE"),
    ]


def test_payers_load_names_the_file_and_field_of_a_bad_product(url: str, tmp_path: Path) -> None:
    bad = json.loads(resources.files("examples").joinpath("products/tier1-policy-ltci.json").read_text())
    bad["benefits"][0]["ratio"] = "70%"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    result = ltc("payers", "load", str(tmp_path), url=url, cwd=tmp_path)
    assert result.returncode == 2
    assert "bad.json" in result.stderr and "/benefits/0/ratio" in result.stderr


def test_a_changed_product_becomes_a_new_version(url: str, tmp_path: Path) -> None:
    product = json.loads(
        resources.files("examples").joinpath("products/tier2-huiminbao-ltc.json").read_text()
    )
    (tmp_path / "p.json").write_text(json.dumps(product))
    (tmp_path / "payer-huiminbao.json").write_text(json.dumps({"payer_code": "huiminbao"}))
    assert "version 1" in ltc("payers", "load", str(tmp_path), url=url, cwd=tmp_path).stdout
    product["limits"][0]["amount_fen"] = 160000
    (tmp_path / "p.json").write_text(json.dumps(product))
    assert "version 2" in ltc("payers", "load", str(tmp_path), url=url, cwd=tmp_path).stdout


def _nothing_loaded(url: str, tmp_path: Path) -> None:
    listed = ltc("payers", "list", url=url, cwd=tmp_path)
    assert listed.returncode == 0 and "no payers registered" in listed.stdout, listed.stdout


def test_payers_load_refuses_an_adapter_type_that_is_not_installed(url: str, tmp_path: Path) -> None:
    product = resources.files("examples").joinpath("products/tier2-huiminbao-ltc.json").read_text()
    (tmp_path / "tier2.json").write_text(product)
    payer = {"payer_code": "huiminbao", "adapter": {"type": "carrier-pigeon"}}
    (tmp_path / "payer-huiminbao.json").write_text(json.dumps(payer))
    result = ltc("payers", "load", str(tmp_path), url=url, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "payer-huiminbao.json" in result.stderr and "/adapter/type" in result.stderr, result.stderr
    assert "'carrier-pigeon' is installed" in result.stderr or "carrier-pigeon" in result.stderr
    assert "local, rest, soap" in result.stderr
    _nothing_loaded(url, tmp_path)


def test_payers_load_refuses_a_product_whose_payer_has_no_payer_file(url: str, tmp_path: Path) -> None:
    folder = resources.files("examples").joinpath("products")
    for name in ("tier1-policy-ltci.json", "payer-policy-ltci.json", "tier2-huiminbao-ltc.json"):
        (tmp_path / name).write_text(folder.joinpath(name).read_text())
    result = ltc("payers", "load", str(tmp_path), url=url, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "tier2-huiminbao-ltc.json" in result.stderr and "/payer_code" in result.stderr, result.stderr
    assert "'huiminbao' has no payer file" in result.stderr
    _nothing_loaded(url, tmp_path)  # not even the tier-1 product whose payer file was there
    (tmp_path / "payer-huiminbao.json").write_text(folder.joinpath("payer-huiminbao.json").read_text())
    assert ltc("payers", "load", str(tmp_path), url=url, cwd=tmp_path).returncode == 0


def test_keys_create_prints_a_working_key_once(gateway: Gateway, url: str, tmp_path: Path) -> None:
    result = ltc("keys", "create", "--role", "bureau", "--party", "bureau", url=url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("ltc_") and "shown only now" in result.stderr
    with gateway.sessions.begin() as session:
        principal = authenticate(session, key)
    assert principal is not None and principal.role == "bureau" and principal.party_code == "bureau"
    bad = ltc("keys", "create", "--role", "king", "--party", "x", url=url, cwd=tmp_path)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_db_upgrade_on_a_new_sqlite_file(tmp_path: Path) -> None:
    result = ltc("db", "upgrade", url=f"sqlite:///{tmp_path / 'new.db'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout
    assert (tmp_path / "new.db").exists()


def test_default_database_is_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    assert ltc("db", "upgrade", url=None, cwd=tmp_path).returncode == 0
    assert (tmp_path / "ltc-gateway.db").exists()


def _demo_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _check_worked_example(claim: dict[str, Any]) -> None:
    assert claim["status"] == "coordinated"
    paid = [(p["payer_code"], p["product_code"], p["paid_fen"]) for p in claim["lines"][0]["payments"]]
    assert paid == [
        ("policy-ltci", "CITY-LTCI-2025", 210000),
        ("huiminbao", "HMB-LTC-2026", 120000),
        ("acme-life", "ACME-LTC-CARE", 120000),
    ]
    assert claim["member_responsibility_fen"] == 0
    assert [(f["product_code"], f["amount_fen"]) for f in claim["fixed_benefits"]] == [
        ("ACME-LTC-ANNUITY", 200000)
    ]


def test_demo_on_a_bare_machine_prints_the_worked_example(tmp_path: Path) -> None:
    """No configuration at all: a fresh SQLite database and a real server on a loopback port."""
    result = ltc("demo", "--once", url=None, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "grade 4" in out
    for row in (
        "1     policy-ltci  CITY-LTCI-2025  2,100.00",
        "2     huiminbao    HMB-LTC-2026    1,200.00",
        "3     acme-life    ACME-LTC-CARE   1,200.00",
        "member                           0.00",
        "acme-life  ACME-LTC-ANNUITY  2026-11  2,000.00  member",
    ):
        assert row in out, out
    _check_worked_example(_demo_json(ltc("demo", "--once", "--json", url=None, cwd=tmp_path))["claim"])


def test_demo_against_the_configured_database(database: DatabaseUnderTest, url: str, tmp_path: Path) -> None:
    """The same flow with LTC_DATABASE_URL set (PostgreSQL in the postgres run), twice: idempotent."""
    first = _demo_json(ltc("demo", "--once", "--json", url=url, cwd=tmp_path))
    _check_worked_example(first["claim"])
    second = _demo_json(ltc("demo", "--once", "--json", url=url, cwd=tmp_path))
    assert second["claim"]["claim_id"] == first["claim"]["claim_id"]
    _check_worked_example(second["claim"])


def test_sandbox_payers_load_and_adapter_check_from_the_command_line(url: str, tmp_path: Path) -> None:
    """An insurer's path: its endpoint runs (here the sandboxes), the bureau loads the payer files,
    and ``adapter-check`` prints a pass/fail table for each payer."""
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
        loaded = ltc("payers", "load", str(config), url=url, cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr
        assert "policy-ltci" in loaded.stdout and "4 districts routed" in loaded.stdout
        for payer in ("ltc-admin-east", "ltc-admin-west", "huiminbao", "acme-life"):
            checked = ltc("adapter-check", payer, url=url, cwd=tmp_path)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            # SOAP (acme-life) adds its lean path's two checks; its annuity is also checked for a
            # void's moved month
            kit = 13 if payer == "acme-life" else 10
            assert f"{kit} passed, 0 failed" in checked.stdout
            assert "idempotent retry" in checked.stdout and "retry after a timeout" in checked.stdout
        local = ltc("adapter-check", "policy-ltci", url=url, cwd=tmp_path)
        assert local.returncode == 2 and "no adapter configured" in local.stderr

        # a payer whose answers are garbage fails the table, and the command says so
        hmb = json.loads((config / "payer-huiminbao.json").read_text())
        httpx.post(hmb["adapter"]["base_url"] + "/_sandbox/faults", json={"malformed_first": 1000})
        failing = ltc("adapter-check", "huiminbao", url=url, cwd=tmp_path)
        assert failing.returncode == 1
        rows = {
            line.split("  ")[1].strip(): line
            for line in failing.stdout.splitlines()
            if "  pass" in line or "  FAIL" in line
        }
        assert "FAIL" in rows["submit_share"] and "MalformedAnswer" in rows["submit_share"]
        assert "FAIL" in rows["answers are well-formed"]
        assert "pass" in rows["deliver_assessment"]
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def test_keys_revoke_stops_a_key_at_once(gateway: Gateway, url: str, tmp_path: Path) -> None:
    created = ltc("keys", "create", "--role", "bureau", "--party", "bureau", url=url, cwd=tmp_path)
    key = created.stdout.strip()
    with gateway.sessions.begin() as session:
        assert authenticate(session, key) is not None
    revoked = ltc("keys", "revoke", key.split("_")[1], url=url, cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    with gateway.sessions.begin() as session:
        assert authenticate(session, key) is None
    assert ltc("keys", "revoke", "nosuchkey", url=url, cwd=tmp_path).returncode == 2


def test_statements_import_a_file_and_name_the_rows_of_a_bad_one(url: str, tmp_path: Path) -> None:
    folder = resources.files("examples").joinpath("products")
    assert ltc("payers", "load", str(folder), url=url, cwd=tmp_path).returncode == 0
    header = "claim_id,line_no,paid_fen,payer_reference,settled_on\n"
    rows = "".join(f"1b4e28ba-2fa1-11d2-883f-0016d3cca4{n:02d},1,100,HMB-{n},2026-11-30\n" for n in range(30))
    good = tmp_path / "hmb.csv"
    good.write_text(header + rows)
    imported = ltc("statements", "import", "huiminbao", str(good), url=url, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["imported"] == 30
    again = ltc("statements", "import", "huiminbao", str(good), url=url, cwd=tmp_path)
    assert again.returncode == 2 and "already imported" in again.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(header + rows.replace("HMB-3,", "HMB-3x,").replace(",100,HMB-7,", ",1.5,HMB-7,"))
    refused = ltc("statements", "import", "huiminbao", str(bad), url=url, cwd=tmp_path)
    assert refused.returncode == 2 and "row 9/paid_fen" in refused.stderr, refused.stderr
