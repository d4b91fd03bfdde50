"""The set of sandbox payers the demo and the tests run (see the package's docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.hsa.envelope import Profile
from gateway.api.server import BackgroundServer
from gateway.domain.products import Product
from ltc_sandbox.hsa_app import (
    DIVISION,
    INSTITUTION,
    HsaKeys,
    HsaPlatform,
    adapter_settings,
    hsa_payer_app,
)
from ltc_sandbox.payer import Faults, SandboxPayer
from ltc_sandbox.rest_app import rest_payer_app
from ltc_sandbox.soap_app import SoapServer

TIER1_PAYER = "policy-ltci"
ADMINISTRATORS = {"ltc-admin-east": ["330102", "330105"], "ltc-admin-west": ["330106", "330108"]}
REST_PAYER, SOAP_PAYER = "huiminbao", "acme-life"
HSA_ADMIN, HSA_ENV_PREFIX = "ltc-admin-east", "SANDBOX_HSA"


@dataclass
class SandboxPayers:
    products: list[Product]
    host: str = "127.0.0.1"
    port: int = 0  # the first of four consecutive ports; 0 picks free ones
    payers: dict[str, SandboxPayer] = field(default_factory=dict)
    servers: dict[str, Any] = field(default_factory=dict)
    hsa: bool = False  # the eastern administrator speaks the 医保信息平台 profile
    hsa_payer: str = HSA_ADMIN  # or another REST payer does (a later tier that reverses, in tests)
    hsa_keys: HsaKeys = field(default_factory=HsaKeys.generate)
    hsa_platform: HsaPlatform | None = None

    def start(self) -> SandboxPayers:
        def owned(payer_code: str) -> dict[str, Product]:
            return {p.product_code: p for p in self.products if p.payer_code == payer_code}

        for admin in ADMINISTRATORS:
            self.payers[admin] = SandboxPayer(admin, "gateway", owned(TIER1_PAYER))
        self.payers[REST_PAYER] = SandboxPayer(REST_PAYER, "payer", owned(REST_PAYER))
        self.payers[SOAP_PAYER] = SandboxPayer(SOAP_PAYER, "payer", owned(SOAP_PAYER))
        for i, code in enumerate([*ADMINISTRATORS, REST_PAYER]):
            port = self.port + i if self.port else 0
            app = rest_payer_app(self.payers[code])
            if self.hsa and code == self.hsa_payer:
                profile = Profile.from_config({"fixmedins_code": INSTITUTION, "mdtrtarea_admvs": DIVISION})
                self.hsa_platform = HsaPlatform(self.payers[code], self.hsa_keys, profile)
                app = hsa_payer_app(self.hsa_platform)
            self.servers[code] = BackgroundServer(app, self.host, port).start()
        soap = SoapServer(self.payers[SOAP_PAYER], self.host, self.port + 3 if self.port else 0)
        soap.start()
        self.servers[SOAP_PAYER] = soap
        return self

    def url(self, payer_code: str) -> str:
        return str(self.servers[payer_code].url).rstrip("/")

    def hsa_environment(self) -> dict[str, str]:
        """The environment the hsa payer file's ``*_env`` settings name (``key_dir=None``)."""
        return self.hsa_keys.environment(HSA_ENV_PREFIX)

    def _adapter(self, admin: str, key_dir: Path | None) -> dict[str, Any]:
        if not (self.hsa and admin == self.hsa_payer):
            return {"type": "rest", "base_url": self.url(admin), "timeout_seconds": 5}
        if key_dir is not None:
            named = self.hsa_keys.write(key_dir, admin)
        else:
            named = {f"{name}_env": variable_name for name, variable_name in self._variables().items()}
        return adapter_settings(self.url(admin), self.hsa_keys, named)

    def _variables(self) -> dict[str, str]:
        return {name: f"{HSA_ENV_PREFIX}_{name.upper()}" for name in self.hsa_keys.secrets()}

    def payer_documents(self, key_dir: Path | None = None) -> list[dict[str, Any]]:
        """Payer files (``schemas/payer.schema.json``) that onboard the sandboxes by configuration.
        The hsa administrator's keys are named as files in ``key_dir`` (written there), or else
        as environment variables (``hsa_environment``)."""
        documents: list[dict[str, Any]] = [
            {
                "payer_code": admin,
                "name": f"Sandbox tier-1 administrator ({', '.join(districts)})",
                "adapter": self._adapter(admin, key_dir),
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
                "adapter": self._adapter(REST_PAYER, key_dir),
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
