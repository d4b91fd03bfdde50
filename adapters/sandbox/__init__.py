"""Sandbox payers: real REST and SOAP servers that behave like insurers, for tests and the demo.

They remember every submission per idempotency key (so a test can prove a step was sent with
one body only), adjudicate with their own product rules in payer mode, acknowledge the gateway's
proposal in gateway mode, and inject faults on request (failures, latency, garbled answers,
timeouts, pending answers decided later by callback).

``SandboxPayers`` runs the set the demo uses, matching the example products:

* two tier-1 administrators (承办机构) of the city fund over REST, in gateway mode, each taking
  some districts;
* the 惠民保 insurer over REST in payer mode (it adjudicates with its own product rules);
* the commercial insurer over SOAP (a WSDL served by spyne) in payer mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.sandbox.payer import Faults, SandboxPayer
from adapters.sandbox.rest_app import rest_payer_app
from adapters.sandbox.soap_app import SoapServer
from gateway.api.server import BackgroundServer
from gateway.domain.products import Product

TIER1_PAYER = "policy-ltci"
ADMINISTRATORS = {"ltc-admin-east": ["330102", "330105"], "ltc-admin-west": ["330106", "330108"]}
REST_PAYER, SOAP_PAYER = "huiminbao", "acme-life"


@dataclass
class SandboxPayers:
    products: list[Product]
    host: str = "127.0.0.1"
    port: int = 0  # the first of four consecutive ports; 0 picks free ones
    payers: dict[str, SandboxPayer] = field(default_factory=dict)
    servers: dict[str, Any] = field(default_factory=dict)

    def start(self) -> SandboxPayers:
        def owned(payer_code: str) -> dict[str, Product]:
            return {p.product_code: p for p in self.products if p.payer_code == payer_code}

        for admin in ADMINISTRATORS:
            self.payers[admin] = SandboxPayer(admin, "gateway", owned(TIER1_PAYER))
        self.payers[REST_PAYER] = SandboxPayer(REST_PAYER, "payer", owned(REST_PAYER))
        self.payers[SOAP_PAYER] = SandboxPayer(SOAP_PAYER, "payer", owned(SOAP_PAYER))
        for i, code in enumerate([*ADMINISTRATORS, REST_PAYER]):
            port = self.port + i if self.port else 0
            self.servers[code] = BackgroundServer(rest_payer_app(self.payers[code]), self.host, port).start()
        soap = SoapServer(self.payers[SOAP_PAYER], self.host, self.port + 3 if self.port else 0)
        soap.start()
        self.servers[SOAP_PAYER] = soap
        return self

    def url(self, payer_code: str) -> str:
        return str(self.servers[payer_code].url).rstrip("/")

    def payer_documents(self) -> list[dict[str, Any]]:
        """Payer files (``schemas/payer.schema.json``) that onboard the sandboxes by configuration."""
        documents: list[dict[str, Any]] = [
            {
                "payer_code": admin,
                "name": f"Sandbox tier-1 administrator ({', '.join(districts)})",
                "adapter": {"type": "rest", "base_url": self.url(admin), "timeout_seconds": 5},
            }
            for admin, districts in ADMINISTRATORS.items()
        ]
        documents.append(
            {
                "payer_code": TIER1_PAYER,
                "name": "City long-term care insurance fund",
                "routes": [
                    {"district": district, "administrator_code": admin}
                    for admin, districts in ADMINISTRATORS.items()
                    for district in districts
                ],
            }
        )
        documents.append(
            {
                "payer_code": REST_PAYER,
                "name": "Sandbox 惠民保 insurer (REST, adjudicates itself)",
                "adapter": {"type": "rest", "base_url": self.url(REST_PAYER), "timeout_seconds": 5},
            }
        )
        documents.append(
            {
                "payer_code": SOAP_PAYER,
                "name": "Sandbox commercial insurer (SOAP, adjudicates itself)",
                "adapter": {"type": "soap", "wsdl": self.servers[SOAP_PAYER].wsdl, "timeout_seconds": 5},
            }
        )
        return documents

    def connect(self, gateway_url: str, payer_keys: dict[str, str]) -> None:
        """Where pending decisions are called back, with each payer's own key."""
        for code, payer in self.payers.items():
            payer.callback_url, payer.callback_key = gateway_url, payer_keys.get(code)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


__all__ = ["Faults", "SandboxPayer", "SandboxPayers"]
