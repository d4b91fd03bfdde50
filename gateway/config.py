"""Settings, from the environment (``LTC_*``) over an optional TOML file (``LTC_CONFIG``).

Nothing is configured by editing code: every knob a deployment turns is here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///ltc-gateway.db"
ENVIRONMENTS = ("development", "production")
CLEARING_CATEGORIES = ("setting", "single")  # docs/reconciliation.md


class ConfigError(ValueError):
    """A setting that cannot be used, said in one line naming it (the CLI prints it, no traceback)."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    grading_table: str | None = None  # a city's corrected copy of gateway/data/grading.json
    service_catalogue: str | None = None  # a city's own gateway/data/services.json
    max_body_bytes: int = 1_048_576
    # Batch upload (POST /v1/claims/batches): the file's size and rows; a file of more rows than
    # batch_sync_rows is processed in the background (202, progress on its batch).
    max_batch_bytes: int = 8_388_608
    max_batch_rows: int = 20_000
    batch_sync_rows: int = 500
    embedded_workers: int = 0  # fan-out workers inside each API process (single-machine installs)
    worker_lease_seconds: int = 60
    worker_poll_seconds: float = 0.5  # idle polls; leases of others' messages; recording deliveries
    worker_concurrency: int = 8  # claims each worker advances at once (payer calls overlap)
    log_level: str = "INFO"
    # Payer calls: retried in place with exponential backoff and jitter, then again on later leases.
    payer_retry_attempts: int = 4  # calls per lease before the step waits for a later lease
    payer_retry_initial_seconds: float = 0.5
    payer_retry_max_seconds: float = 8.0
    step_retry_seconds: float = 30.0  # first wait between leases; doubles up to an hour
    step_max_attempts: int = 20  # calls in all before a step goes to the dead-letter state
    pending_poll_seconds: float = 300.0  # how often a pending decision is fetched if no callback came
    # Reconciliation.
    settlement_window_days: int = (
        5  # expected but not in any statement after this many days: MISSING_AT_PAYER
    )
    write_off_approval_fen: int = 100_000  # any resolution moving more needs a second reconciler
    # a settlement batch moving more (|net|) is disbursed only after 初审 and 复核 by two people
    settlement_approval_fen: int = 100_000
    reconciliation_lease_seconds: int = 600  # a run's hold on its business date while it works
    # level 1's clearing category: setting (the line's care setting) or single (one per period)
    clearing_category: str = "setting"
    # The staff UI's sessions (/ui).
    ui_secure_cookies: str = "auto"  # auto: Secure when the request came over HTTPS; true; false
    ui_session_idle_minutes: int = 30  # a session unused this long ends
    ui_session_max_hours: int = 12  # and every session ends this long after sign-in
    # Parties: providers grade their own residents only where the city allows it (conflict of interest).
    providers_may_assess: bool = False
    # production: refuse to start on development keys (gateway/environment.py); development: warn.
    environment: str = "development"
    # The coordinated statement's PDF: a CJK TrueType font (a .ttc's first face); Debian's fonts-wqy-microhei.
    statement_font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    # Policy simulation: coverage-gap cells of fewer members are suppressed (数据可用不可见).
    simulation_min_cell_members: int = 10
    simulation_max_running: int = 2  # simulations replaying at once (POST /v1/simulations: 409 beyond)
    simulation_max_members: int = 500_000  # members in one simulation's period
    simulation_max_lines: int = 20_000_000  # claim lines in one simulation's period
    simulation_max_generated_members: int = 200  # a generated city's members (demonstrations)
    # Webhooks to providers (docs/webhooks.md).
    webhook_allow_local: bool = False  # http and local/private targets (tests); refused in production
    webhook_max_endpoints: int = 5  # live endpoints per provider
    webhook_timeout_seconds: float = 5.0  # one delivery: connect, send, the answer's status
    webhook_max_attempts: int = 12  # deliveries tried before one is dead-lettered
    webhook_retry_seconds: float = 30.0  # first wait after a failed delivery; doubles
    webhook_retry_max_seconds: float = 3600.0  # longest wait between deliveries

    @property
    def database_url_is_default(self) -> bool:
        return self.database_url == DEFAULT_DATABASE_URL


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_BOOLEANS = dict.fromkeys(_TRUE, True) | dict.fromkeys(_FALSE, False)


def _coerce(name: str, raw: Any, source: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
    except (TypeError, ValueError):
        what = "a whole number" if kind in ("int", int) else "a number"
        raise ConfigError(f"{source}={raw!r}: not {what}") from None
    if kind in ("bool", bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).strip().lower() not in _BOOLEANS:
            raise ConfigError(f"{source}={raw!r}: expected true or false")
        return _BOOLEANS[str(raw).strip().lower()]
    if name == "environment" and raw not in ENVIRONMENTS:
        raise ConfigError(f"{source}={raw!r}: one of {', '.join(ENVIRONMENTS)}")
    if name == "clearing_category" and raw not in CLEARING_CATEGORIES:
        raise ConfigError(f"{source}={raw!r}: one of {', '.join(CLEARING_CATEGORIES)}")
    return str(raw)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = environ.get("LTC_CONFIG")
    if config_file:
        try:
            document = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"LTC_CONFIG={config_file}: {error}") from None
        known = {f.name for f in fields(Settings)}
        unknown = sorted(set(document) - known)
        if unknown:
            raise ConfigError(f"{config_file}: unknown settings {', '.join(unknown)}")
        values.update({k: _coerce(k, v, f"{config_file}: {k}") for k, v in document.items()})
    for f in fields(Settings):
        variable = f"LTC_{f.name.upper()}"
        raw = environ.get(variable)
        if raw is not None and raw != "":
            values[f.name] = _coerce(f.name, raw, variable)
    return replace(Settings(), **values)
