"""The process environment, checked when a command starts.

* An ``LTC_*`` variable the gateway does not know is warned about, with the nearest known name: a
  misspelt ``LTC_DATABSE_URL`` would otherwise silently mean the default ``./ltc-gateway.db``.
* The keys of personal data at rest and of the audit trail have development defaults that protect
  nothing. In use they are warned about; under ``LTC_ENVIRONMENT=production`` they are refused.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from dataclasses import fields

from gateway.config import ConfigError, Settings

log = logging.getLogger("ltc_gateway.environment")

# Read by the gateway outside Settings: the configuration file and the secrets (never settings,
# so never in a TOML file): gateway/storage/personal.py and gateway/audit.py.
SECRETS = ("LTC_DATA_KEYS", "LTC_DATA_KEYS_FILE", "LTC_LOOKUP_KEY", "LTC_AUDIT_KEY")
# LTC_STAFF_KEY: the key a person's `ltc-gateway settlement` commands act with (a secret too).
OTHERS = ("LTC_CONFIG", "LTC_STAFF_KEY", *SECRETS)
# Read by the tests, the benchmarks and the fault simulation, not by the gateway.
TOOLS = (
    "LTC_TEST_DATABASE_URL",
    "LTC_REQUIRE_POSTGRES",
    "LTC_REQUIRE_BROWSER",
    "LTC_PROPERTY_EXAMPLES",
    "LTC_FUZZ_PHASES",
    "LTC_FUZZ_EXAMPLES",
    "LTC_BENCH_DATABASE_URL",
    "LTC_BENCH_WATCHED",  # the reconciliation benchmark as a run watched from the console
    "LTC_SIMULATION_DATABASE_URL",
)


def known_names() -> set[str]:
    return {f"LTC_{f.name.upper()}" for f in fields(Settings)} | set(OTHERS) | set(TOOLS)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One message for each ``LTC_*`` name nothing reads."""
    known = known_names()
    messages = []
    for name in sorted(n for n in environ if n.startswith("LTC_") and n not in known):
        nearest = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean {nearest[0]}?)" if nearest else " (docs/operations.md lists the settings)"
        messages.append(f"{name} is not a setting ltc-gateway knows; it is ignored{hint}")
    return messages


def development_keys(environ: Mapping[str, str]) -> list[str]:
    """The secrets left to their development defaults."""
    unset = []
    if not environ.get("LTC_DATA_KEYS") and not environ.get("LTC_DATA_KEYS_FILE"):
        unset.append("LTC_DATA_KEYS")
    unset += [name for name in ("LTC_LOOKUP_KEY", "LTC_AUDIT_KEY") if not environ.get(name)]
    return unset


def check(settings: Settings, environ: Mapping[str, str] | None = None, *, keys: bool = True) -> None:
    """Warn about unknown names and development keys; refuse the keys under production."""
    environ = os.environ if environ is None else environ
    for message in unknown_variables(environ):
        log.warning(message)
    if settings.environment == "production" and settings.webhook_allow_local:
        raise ConfigError(
            "LTC_ENVIRONMENT=production refuses LTC_WEBHOOK_ALLOW_LOCAL=true: webhooks go to public "
            "https targets only (docs/webhooks.md)"
        )
    unset = development_keys(environ) if keys else []
    if not unset:
        return
    names = ", ".join(unset)
    if settings.environment == "production":
        raise ConfigError(
            f"LTC_ENVIRONMENT=production, but {names} {'is' if len(unset) == 1 else 'are'} not set: "
            "the development keys protect nothing (docs/operations.md: Personal data, Audit trail)"
        )
    log.warning(
        f"development keys in use ({names} not set): they protect nothing; "
        "set them, and LTC_ENVIRONMENT=production, before real data"
    )
