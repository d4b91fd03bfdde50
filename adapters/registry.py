"""Building a payer's adapter from its configuration: ``type`` picks a bundled adapter (rest,
soap, hsa, local) or a plug-in registered under the ``ltc_gateway.adapters`` entry-point group."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from adapters.hsa import HsaAdapter
from adapters.local import LocalAdapter
from adapters.redaction import Redacting
from adapters.rest import RestAdapter
from adapters.sdk import DEFAULT_CAPABILITIES, Capabilities, PayerAdapter, PermanentError, capabilities_of
from adapters.soap import SoapAdapter

ENTRY_POINT_GROUP = "ltc_gateway.adapters"
Factory = Callable[[str, Mapping[str, Any]], PayerAdapter]

BUNDLED: dict[str, Factory] = {
    "hsa": HsaAdapter.from_config,
    "local": LocalAdapter.from_config,
    "rest": RestAdapter.from_config,
    "soap": SoapAdapter.from_config,
}


def factories() -> dict[str, Factory]:
    """Bundled adapters and every installed plug-in (a plug-in may not shadow a bundled name)."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    plugins = {name: ep.load() for name, ep in found.items() if name not in BUNDLED}
    return {**plugins, **BUNDLED}


def adapter_type(config: Mapping[str, Any] | None) -> str:
    """The adapter type a payer's configuration names; none at all is the local adapter."""
    return str((config or {}).get("type", "local"))


def _declaring(config: Mapping[str, Any] | None) -> Any:
    """The class (or factory) behind the adapter a payer's configuration names, not built; None
    for a type that is not installed. Bundled types are answered without looking up plug-ins."""
    kind = adapter_type(config)
    factory = BUNDLED.get(kind)
    if factory is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
        if not found:
            return None
        factory = found[0].load()
    # a bundled factory is a class's ``from_config``: the class declares what it does
    return getattr(factory, "__self__", factory)


def capabilities(config: Mapping[str, Any] | None) -> Capabilities:
    """What the adapter a payer's configuration names declares, without building it (building may
    read key files or open connections); a type that is not installed declares nothing (building
    it fails with its own error)."""
    declaring = _declaring(config)
    return DEFAULT_CAPABILITIES if declaring is None else capabilities_of(declaring)


def reverses(config: Mapping[str, Any] | None) -> bool:
    """Whether the adapter a payer's configuration names reverses an undone submission (冲正,
    ``adapters.sdk.Reverses``), without building it: its class (or factory) has ``reverse_share``."""
    return callable(getattr(_declaring(config), "reverse_share", None))


def build_adapter(payer_code: str, config: Mapping[str, Any] | None) -> PayerAdapter:
    """No configuration: the payer lets the gateway adjudicate (the local adapter)."""
    config = config or {"type": "local"}
    kind = adapter_type(config)
    available = factories()
    if kind not in available:
        raise PermanentError(
            f"payer {payer_code}: no adapter of type {kind!r} is installed "
            f"(known: {', '.join(sorted(available))})"
        )
    adapter = available[kind](payer_code, config)
    if not isinstance(adapter, PayerAdapter):
        raise PermanentError(f"payer {payer_code}: the {kind!r} adapter does not implement PayerAdapter")
    return adapter


class AdapterPool:
    """One adapter per payer and configuration, reused across calls (connection pools); their
    errors never carry the member's personal data (``adapters.redaction``)."""

    def __init__(self) -> None:
        self._adapters: dict[tuple[str, str], PayerAdapter] = {}

    def get(self, payer_code: str, config: Mapping[str, Any] | None) -> PayerAdapter:
        digest = hashlib.sha256(json.dumps(config or {}, sort_keys=True).encode()).hexdigest()
        key = (payer_code, digest)
        if key not in self._adapters:
            self._adapters[key] = Redacting(build_adapter(payer_code, config))
        return self._adapters[key]

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
