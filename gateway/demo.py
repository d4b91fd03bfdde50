"""``ltc-gateway demo``: the worked example end to end, through the HTTP API of a real server.

On a bare machine: a fresh SQLite database, the example products, a designated provider, a
member enrolled in every tier, a grade-4 assessment and the worked-example claim; then the
coordinated result as a table, and the server keeps running for you to explore.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from adapters.sandbox import SandboxPayers
from examples import example, example_products
from gateway.api.app import create_app
from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.domain.products import Product
from gateway.render import claim_table
from gateway.services.keys import Role, create_key
from gateway.services.registry import onboard
from gateway.storage.migrate import upgrade_engine


@dataclass
class DemoKeys:
    bureau: str
    provider: str
    agency: str
    payers: dict[str, str]
    reconciler: str


def prepare(gateway: Gateway, payer_documents: list[dict[str, Any]] = ()) -> DemoKeys:  # type: ignore[assignment]
    """Schema, payers, products and keys: what an operator does with the CLI before anyone calls
    the API. ``payer_documents`` onboard payers' adapters (``payers load`` files)."""
    upgrade_engine(gateway.engine)
    scenario = example("worked-example.json")
    with gateway.sessions.begin() as session:
        onboard(session, payer_documents, example_products())
        payers = {p["payer_code"] for p in example_products()} | {d["payer_code"] for d in payer_documents}
        keys = DemoKeys(
            bureau=create_key(session, Role.BUREAU, "bureau", "demo")[1],
            provider=create_key(session, Role.PROVIDER, scenario["provider"]["provider_code"], "demo")[1],
            agency=create_key(session, Role.PROVIDER, scenario["assessment"]["agency_code"], "demo")[1],
            payers={code: create_key(session, Role.PAYER, code, "demo")[1] for code in sorted(payers)},
            reconciler=create_key(session, Role.RECONCILER, "reconciliation", "demo")[1],
        )
    return keys


def _call(client: httpx.Client, key: str, path: str, body: Any) -> dict[str, Any]:
    response = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    if response.status_code >= 400:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text}")
    result: dict[str, Any] = response.json()
    return result


def run_scenario(base_url: str, keys: DemoKeys, timeout: float = 30.0) -> dict[str, Any]:
    """The worked example through the public API, as a provider, the bureau and payers would."""
    scenario = example("worked-example.json")
    with httpx.Client(base_url=base_url, timeout=10) as client:
        _call(client, keys.bureau, "/v1/providers", scenario["provider"])
        _call(client, keys.bureau, "/v1/assessment-agencies", scenario["agency"])
        for enrollment in scenario["enrollments"]:
            payer = enrollment["payer_code"]
            item = {k: v for k, v in enrollment.items() if k != "payer_code"}
            key = keys.bureau if payer == "policy-ltci" else keys.payers[payer]
            _call(client, key, f"/v1/payers/{payer}/enrollments", {"enrollments": [item]})
        assessment = _call(client, keys.agency, "/v1/assessments", scenario["assessment"])
        claim = dict(scenario["claim"], assessment_id=assessment["assessment_id"])
        receipt = _call(client, keys.provider, "/v1/claims", claim)
        deadline = time.monotonic() + timeout
        while True:
            response = client.get(
                f"/v1/claims/{receipt['claim_id']}", headers={"Authorization": f"Bearer {keys.provider}"}
            )
            response.raise_for_status()
            view: dict[str, Any] = response.json()
            if view["status"] in ("coordinated", "failed"):
                return {"assessment": assessment, "claim": view}
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"claim {receipt['claim_id']} still {view['status']} after {timeout:.0f} s"
                )
            time.sleep(0.1)


def demo(settings: Settings, *, once: bool, as_json: bool, host: str, port: int) -> int:
    fresh = settings.database_url_is_default
    if fresh:
        folder = Path(tempfile.mkdtemp(prefix="ltc-demo-"))
        settings = replace(settings, database_url=f"sqlite:///{folder / 'gateway.db'}")
    gateway = bootstrap(settings)
    sandboxes = SandboxPayers([Product.model_validate(p) for p in example_products()]).start()
    keys = prepare(gateway, sandboxes.payer_documents())
    server = BackgroundServer(create_app(gateway, embedded_workers=1), host, port).start()
    sandboxes.connect(server.url, keys.payers)
    try:
        result = run_scenario(server.url, keys)
        if as_json:
            print(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            a = result["assessment"]
            levels = ", ".join(
                f"{name} {a[f'{key}_score']} {a[f'{key}_level']}"
                for name, key in (("ADL", "adl"), ("cognition", "cognition"), ("perception", "perception"))
            )
            print(
                f"Assessment {a['assessment_id']}: grade {a['grade']} ({levels}), from {a['effective_from']}"
            )
            print()
            print(claim_table(result["claim"]))
        if once:
            return 0
        print(f"\nThe gateway is serving at {server.url} (Ctrl-C stops it).")
        print(f"Database: {settings.database_url}")
        print("Sandbox payers:")
        for code in sandboxes.servers:
            print(f"  {code:<16} {sandboxes.url(code)}")
        print("API keys (shown once):")
        print(f"  bureau      {keys.bureau}")
        print(f"  provider    {keys.provider}")
        print(f"  agency      {keys.agency}")
        for code, key in keys.payers.items():
            print(f"  payer {code:<12} {key}")
        print(f"  reconciler  {keys.reconciler}")
        print(
            f"Try: curl -s -H 'Authorization: Bearer {keys.provider}' "
            f"{server.url}/v1/claims/{result['claim']['claim_id']}"
        )
        try:
            while server.thread.is_alive():
                server.thread.join(timeout=0.5)
        except KeyboardInterrupt:
            print("\nstopping")
        return 0
    finally:
        server.stop()
        sandboxes.stop()
        gateway.close()
