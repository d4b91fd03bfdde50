"""``ltc-gateway demo``: the worked example end to end, through the HTTP API of a real server.

On a bare machine: a fresh SQLite database, the example products, a designated provider, a
member enrolled in every tier, a grade-4 assessment and the worked-example claim; then the
coordinated result as a table, and the server keeps running for you to explore.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from examples import example, example_products
from gateway.api.server import BackgroundServer
from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.domain.products import Product
from gateway.reference.registry import onboard
from gateway.render import claim_table
from gateway.services.keys import Role, create_key
from gateway.storage.migrate import upgrade_engine
from ltc_gateway.app import create_app
from ltc_sandbox.payer_set import SandboxPayers

T = TypeVar("T")


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


class DemoFault(Exception):
    """Something the demo could not do, said in one line each (no traceback)."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "the demo failed")
        self.lines = list(lines)


class FaultLog(logging.Handler):
    """Collects what the gateway's loggers report during the demo instead of printing it: a payer
    call that failed after its retries, a claim the worker could not advance. One line a fault."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.faults: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = record.__dict__
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text = f"{type(error).__name__}: {error}"  # the cause, once, however many loggers saw it
        elif "payer_code" in fields:
            operation = fields.get("operation", "call")
            text = f"payer {fields['payer_code']}: {operation} failed: {fields.get('error')}"
        else:
            text = record.getMessage()
        line = " ".join(text.split())
        if line not in self.faults:
            self.faults.append(line)

    @contextlib.contextmanager
    def capturing(self, logger: logging.Logger) -> Iterator[FaultLog]:
        saved = logger.propagate
        logger.addHandler(self)
        logger.propagate = False
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.propagate = saved


def run_scenario(
    base_url: str, keys: DemoKeys, timeout: float = 30.0, faults: FaultLog | None = None
) -> dict[str, Any]:
    """The worked example through the public API, as a provider, the bureau and payers would.
    With ``faults``, the wait for the claim ends at the first fault the gateway logs."""
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
            if faults is not None and faults.faults:
                raise DemoFault(*faults.faults, f"claim {receipt['claim_id']} is still {view['status']}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"claim {receipt['claim_id']} still {view['status']} after {timeout:.0f} s"
                )
            time.sleep(0.1)


def _listen(what: str, start: Callable[[], T], host: str, port: int) -> T:
    try:
        return start()
    except OSError as error:
        where = f"{host}:{port}" if port else host
        hint = " (--port 0 picks a free one)" if port else ""
        raise DemoFault(f"cannot serve {what} on {where}: {error.strerror or error}{hint}") from None


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    a = result["assessment"]
    levels = ", ".join(
        f"{name} {a[f'{key}_score']} {a[f'{key}_level']}"
        for name, key in (("ADL", "adl"), ("cognition", "cognition"), ("perception", "perception"))
    )
    print(f"Assessment {a['assessment_id']}: grade {a['grade']} ({levels}), from {a['effective_from']}")
    print()
    print(claim_table(result["claim"]))


def _print_where(
    url: str, settings: Settings, sandboxes: SandboxPayers, keys: DemoKeys, claim_id: str
) -> None:
    print(f"\nThe gateway is serving at {url} (Ctrl-C stops it).")
    print(f"Database: {settings.database_url}")
    print(
        f"Staff UI: {url}/ui/login  sign in with the reconciler key (resolves mismatches) or the bureau key"
    )
    print(
        f"API docs: {url}/docs  send a key below as 'Authorization: Bearer <key>' (each acts for its party)"
    )
    print("Sandbox payers:")
    for code in sandboxes.servers:
        print(f"  {code:<16} {sandboxes.url(code)}")
    print("API keys (shown once):")
    print(f"  bureau      {keys.bureau}  (UI and API: providers, tier-1 enrolments, every claim)")
    provider = example("worked-example.json")["provider"]["provider_code"]
    print(f"  provider    {keys.provider}  (API: claims of {provider})")
    print(f"  agency      {keys.agency}  (API: assessments)")
    for code, key in keys.payers.items():
        print(f"  payer {code:<12} {key}  (API: its enrolments, decisions, statements)")
    print(f"  reconciler  {keys.reconciler}  (UI and API: reconciliation runs and the work queue)")
    print(f"Try: curl -s -H 'Authorization: Bearer {keys.provider}' {url}/v1/claims/{claim_id}", flush=True)


def demo(settings: Settings, *, once: bool, as_json: bool, host: str, port: int) -> int:
    """The demo; a fault ends it with one line on stderr for each, exit status 1, and nothing left
    behind (the temporary database is removed)."""
    folder = None
    if settings.database_url_is_default:
        folder = Path(tempfile.mkdtemp(prefix="ltc-demo-"))
        settings = replace(settings, database_url=f"sqlite:///{folder / 'gateway.db'}")
    faults = FaultLog()
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(faults.capturing(logging.getLogger("ltc_gateway")))
            gateway = bootstrap(settings)
            stack.callback(gateway.close)
            products = [Product.model_validate(p) for p in example_products()]
            sandboxes = _listen("the sandbox payers", SandboxPayers(products).start, host, 0)
            stack.callback(sandboxes.stop)
            keys = prepare(gateway, sandboxes.payer_documents())
            app = create_app(gateway, embedded_workers=1)
            server = _listen("the gateway", lambda: BackgroundServer(app, host, port).start(), host, port)
            stack.callback(server.stop)
            sandboxes.connect(server.url, keys.payers)
            result = run_scenario(server.url, keys, faults=faults)
            _print_result(result, as_json)
            if once:
                return 0
            _print_where(server.url, settings, sandboxes, keys, result["claim"]["claim_id"])
            try:
                while server.thread.is_alive():
                    server.thread.join(timeout=0.5)
            except KeyboardInterrupt:
                print("\nstopping")
            return 0
    except DemoFault as fault:
        lines = fault.lines
    except Exception as error:  # the demo is a user's first contact: a line, not a traceback
        lines = [*faults.faults, " ".join(f"{type(error).__name__}: {error}".split())]
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return 1
