"""Tier 1 through the 医保信息平台 profile: the eastern administrator is the hsa sandbox over real
HTTP on loopback, with the x-tif headers, SM2 signatures and SM4 encryption on. Nothing mocked."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from adapters.conformance import run_checks
from adapters.hsa import HsaAdapter
from adapters.hsa.envelope import Profile
from adapters.hsa.security import new_sm2_private_key, sm2_public_key
from adapters.registry import build_adapter
from adapters.sdk import MalformedAnswer, PermanentError, ReversalNotice, to_wire
from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway
from gateway.domain.products import Product
from gateway.reference.registry import onboard
from ltc_sandbox.hsa_app import (
    DIVISION,
    INSTITUTION,
    HsaKeys,
    HsaPlatform,
    adapter_settings,
    hsa_payer_app,
)
from ltc_sandbox.payer import SandboxPayer
from ltc_sandbox.payer_set import HSA_ADMIN, SandboxPayers
from tests.integration.test_cli import ONCE, ltc
from tests.integration.test_payers import WORKED, drain, one_body_per_key, paid
from tests.integration.world import World, example_products

PRODUCTS = [Product.model_validate(p) for p in example_products()]


@pytest.fixture
def hsa(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxPayers]:
    payers = SandboxPayers(PRODUCTS, hsa=True).start()
    for variable, value in payers.hsa_environment().items():
        monkeypatch.setenv(variable, value)
    with world.gateway.sessions.begin() as session:
        onboard(session, payers.payer_documents(), example_products())
    yield payers
    payers.stop()


def platform(payers: SandboxPayers) -> HsaPlatform:
    assert payers.hsa_platform is not None
    return payers.hsa_platform


def settings(payers: SandboxPayers) -> dict[str, Any]:
    [document] = [d for d in payers.payer_documents() if d["payer_code"] == HSA_ADMIN]
    adapter: dict[str, Any] = document["adapter"]
    return adapter


def shares(payers: SandboxPayers) -> list[dict[str, Any]]:
    return [t for t in platform(payers).transmissions if t["infno"] == "2207"]


def test_a_claim_is_coordinated_end_to_end_with_tier_1_served_by_the_hsa_sandbox(
    world: World, hsa: SandboxPayers
) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated", view
    assert paid(view) == WORKED
    tier1 = next(s for s in view["payers"] if s["product_code"] == "CITY-LTCI-2025")
    assert tier1["administrator_code"] == HSA_ADMIN and tier1["status"] == "decided"
    east = hsa.payers[HSA_ADMIN]
    assert len(east.decisions) == 1 and len(east.assessments) == 1
    one_body_per_key(hsa)
    # it went signed and encrypted: the platform verified every signature and decrypted input
    assert platform(hsa).refused == []
    [share] = shares(hsa)
    assert isinstance(share["input"], str) and "idempotency_key" not in share["input"]
    assert share["signtype"] == "SM2" and len(share["cainfo"]) == 128
    assert share["msgid"].startswith("H33010200001") and len(share["msgid"]) == 30


def test_a_retry_resends_the_same_input_under_a_fresh_msgid(world: World, hsa: SandboxPayers) -> None:
    hsa.payers[HSA_ADMIN].faults.fail_first = 2  # HTTP 503 twice: transient
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    assert world.claim(claim_id)["status"] == "coordinated"
    sent = shares(hsa)
    assert len(sent) == 3
    assert len({t["msgid"] for t in sent}) == 3  # one msgid per transmission
    assert len({t["input"] for t in sent}) == 1  # the business content byte-identical
    one_body_per_key(hsa)


def test_a_tampered_signature_is_refused_by_the_sandbox_and_mapped_to_a_permanent_error(
    world: World, hsa: SandboxPayers, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def forged() -> None:
        adapter = build_adapter(HSA_ADMIN, settings(hsa))
        assert isinstance(adapter, HsaAdapter)
        try:
            await adapter.transmit("statement", {"business_date": "2026-12-01"}, tamper=True)
        finally:
            await adapter.aclose()

    with pytest.raises(PermanentError, match="infcode -2"):
        asyncio.run(forged())
    # the gateway signing with a key the platform does not know: dead-lettered at the first call
    monkeypatch.setenv("SANDBOX_HSA_SIGN_KEY", new_sm2_private_key())
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    tier1 = next(s for s in view["payers"] if s["product_code"] == "CITY-LTCI-2025")
    assert tier1["status"] == "dead" and tier1["attempts"] == 1, tier1
    assert "infcode -2" in tier1["error"] and "signature" in tier1["error"]
    assert hsa.payers[HSA_ADMIN].decisions == {}


def test_a_reversal_names_the_original_msgid_and_infno_and_is_idempotent(
    world: World, hsa: SandboxPayers
) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    tier1 = next(s for s in world.claim(claim_id)["payers"] if s["product_code"] == "CITY-LTCI-2025")
    [share] = shares(hsa)
    assert tier1["payer_reference"].startswith(f"2207:{share['msgid']}:")
    [key] = hsa.payers[HSA_ADMIN].decisions
    notice = ReversalNotice(
        idempotency_key=f"reversal:{key}",
        claim_id=claim_id,
        payer_code=HSA_ADMIN,
        product_code="CITY-LTCI-2025",
        reverses_key=key,
        payer_reference=tier1["payer_reference"],
        cause="void",
    )

    async def reverse_twice() -> None:
        adapter = build_adapter(HSA_ADMIN, settings(hsa))
        assert isinstance(adapter, HsaAdapter)
        try:
            await adapter.reverse_share(notice)
            await adapter.reverse_share(notice)
            with pytest.raises(PermanentError, match="names no original msgid"):
                await adapter.reverse_share(ReversalNotice(**{**to_wire(notice), "payer_reference": "x"}))
        finally:
            await adapter.aclose()

    asyncio.run(reverse_twice())
    assert hsa.payers[HSA_ADMIN].reversals == {key: "void"}
    reversals = [t for t in platform(hsa).transmissions if t["infno"] == "2601"]
    assert len(reversals) == 2 and reversals[0]["msgid"] != reversals[1]["msgid"]
    assert platform(hsa).refused == []


def test_adapter_check_passes_against_the_hsa_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    payers = SandboxPayers(PRODUCTS, hsa=True).start()
    try:
        for variable, value in payers.hsa_environment().items():
            monkeypatch.setenv(variable, value)
        product = next(p for p in PRODUCTS if p.payer_code == "policy-ltci")
        checks = asyncio.run(run_checks(HSA_ADMIN, settings(payers), product, proposing=True))
    finally:
        payers.stop()
    failed = [(c.name, c.detail) for c in checks if not c.passed]
    assert failed == []
    names = {c.name for c in checks}
    for expected in (
        "hsa: envelope fields present",
        "hsa: msgid unique across calls",
        "hsa: signatures verify",
        "hsa: a forged signature is refused",
        "hsa: encryption round-trips",
        "hsa: reversal, repeated",
        "hsa: error codes mapped",
        "hsa: reconciliation totals, then detail by files",
    ):
        assert expected in names


def test_the_sandbox_writes_an_hsa_payer_file_and_adapter_check_passes_with_json_and_junit(
    gateway: Gateway, tmp_path: Path
) -> None:
    """``sandbox --hsa --write-config DIR`` writes the alternative tier-1 payer file and its key
    files; loaded, ``adapter-check --json --junit`` reports every check (the profile's too)."""
    url = gateway.settings.database_url
    if not url.startswith("sqlite"):
        pytest.skip(ONCE)
    keyless = ltc("sandbox", "--hsa", url=url, cwd=tmp_path)
    assert keyless.returncode == 2 and "--write-config" in keyless.stderr
    config = tmp_path / "payers"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "ltc_gateway", "sandbox", "--hsa", "--write-config", str(config)],
        env={k: v for k, v in os.environ.items() if not k.startswith("LTC_")},
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
        document = json.loads((config / f"payer-{HSA_ADMIN}.json").read_text())
        assert document["adapter"]["type"] == "hsa" and "sign_key_file" in document["adapter"]
        key_file = Path(document["adapter"]["sign_key_file"])
        assert key_file.stat().st_mode & 0o077 == 0  # the owner's alone
        assert key_file.read_text().strip() not in json.dumps(document)  # the file names it, no more
        products = resources.files("examples").joinpath("products")
        assert ltc("payers", "load", str(products), url=url, cwd=tmp_path).returncode == 0
        loaded = ltc("payers", "load", str(config), url=url, cwd=tmp_path)
        assert loaded.returncode == 0, loaded.stderr
        junit = tmp_path / "adapter-check.xml"
        checked = ltc("adapter-check", HSA_ADMIN, "--json", "--junit", str(junit), url=url, cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert (
            report["passed"] is True and len(report["checks"]) == 18
        )  # with the void notice and the two-level reconciliation
        assert {c["name"] for c in report["checks"]} >= {"hsa: signatures verify", "hsa: reversal, repeated"}
        suite = ElementTree.parse(junit).getroot().find("testsuite")
        assert suite is not None and suite.get("tests") == "18" and suite.get("failures") == "0"
        # a REST payer's table in JSON, failing: the command exits 1 and the JUnit file says which
        hmb = json.loads((config / "payer-huiminbao.json").read_text())
        httpx.post(hmb["adapter"]["base_url"] + "/_sandbox/faults", json={"malformed_first": 1000})
        failing = ltc("adapter-check", "huiminbao", "--json", "--junit", str(junit), url=url, cwd=tmp_path)
        assert failing.returncode == 1 and json.loads(failing.stdout)["passed"] is False
        failures = [
            c.get("name") for c in ElementTree.parse(junit).iter("testcase") if c.find("failure") is not None
        ]
        assert "submit_share" in failures
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def test_a_city_renames_envelope_fields_and_transaction_numbers_in_its_payer_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same platform, another city's dialect: both sides configured with the renames."""
    dialect = {
        "fields": {"mdtrtarea_admvs": "mdtrtarea_admdvs", "err_msg": "errmsg", "input": "in_put"},
        "infno": {"share": "4801", "reversal": "4802"},
        "transient_infcodes": ["-3", "-9"],
    }
    east = SandboxPayer(
        HSA_ADMIN, "gateway", {p.product_code: p for p in PRODUCTS if p.payer_code == "policy-ltci"}
    )
    keys = HsaKeys.generate()
    profile = Profile.from_config({"fixmedins_code": INSTITUTION, "mdtrtarea_admvs": DIVISION, **dialect})
    city = HsaPlatform(east, keys, profile)
    server = BackgroundServer(hsa_payer_app(city), "127.0.0.1", 0).start()
    try:
        for variable, value in keys.environment("CITY_HSA").items():
            monkeypatch.setenv(variable, value)
        named = {f"{name}_env": f"CITY_HSA_{name.upper()}" for name in keys.secrets()}
        config = {**adapter_settings(str(server.url).rstrip("/"), keys, named), **dialect}
        product = next(p for p in PRODUCTS if p.payer_code == "policy-ltci")
        checks = asyncio.run(run_checks(HSA_ADMIN, config, product, proposing=True))
    finally:
        server.stop()
    assert [(c.name, c.detail) for c in checks if not c.passed] == []
    assert city.transmissions and all(
        "mdtrtarea_admdvs" in t and "in_put" in t and "mdtrtarea_admvs" not in t for t in city.transmissions
    )
    assert {t["infno"] for t in city.transmissions} >= {"4801", "4802"}
    assert "2207" not in {t["infno"] for t in city.transmissions}


def test_an_answer_that_does_not_verify_is_transient_and_refused_gateway_headers_are_permanent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payers = SandboxPayers(PRODUCTS, hsa=True).start()
    try:
        for variable, value in payers.hsa_environment().items():
            monkeypatch.setenv(variable, value)

        async def statement(changes: dict[str, str]) -> None:
            for variable, value in changes.items():
                monkeypatch.setenv(variable, value)
            adapter = build_adapter(HSA_ADMIN, settings(payers))
            try:
                await adapter.pull_statement(date(2026, 12, 1))
            finally:
                await adapter.aclose()

        asyncio.run(statement({}))  # as configured: it verifies
        impostor = sm2_public_key(new_sm2_private_key())  # answers signed by someone else
        with pytest.raises(MalformedAnswer, match="signature does not verify"):
            asyncio.run(statement({"SANDBOX_HSA_PLATFORM_PUBLIC_KEY": impostor}))
        monkeypatch.setenv(
            "SANDBOX_HSA_PLATFORM_PUBLIC_KEY",
            payers.hsa_environment()["SANDBOX_HSA_PLATFORM_PUBLIC_KEY"],
        )
        with pytest.raises(PermanentError, match="HTTP 401"):
            asyncio.run(statement({"SANDBOX_HSA_PAAS_TOKEN": "not-the-token"}))
        assert any("x-tif-signature" in r for r in platform(payers).refused)
    finally:
        payers.stop()
