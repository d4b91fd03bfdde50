"""What the commands share: the gateway bootstrapped on a migrated database, dates from options.
(Imports are made when a command runs: ``ltc-gateway --help`` loads no database layer.)"""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway

# What ``add(sub)`` of each command module, and each ``ltc_gateway.commands`` entry point, is
# handed: the subparsers of ``ltc-gateway`` (argparse does not export the type's name).
Subparsers = argparse._SubParsersAction


def bootstrap_migrated(migrated: bool = True) -> Gateway:
    from gateway.bootstrap import bootstrap
    from gateway.config import load_settings
    from gateway.preflight import require_schema

    gateway = bootstrap(load_settings())
    if migrated:  # a missing schema is said in one line, before the first query fails
        require_schema(gateway.engine)
    return gateway


def parse_date(option: str, text: str) -> date:
    from gateway.preflight import UserError

    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise UserError(f"{option} {text}: {error} (a date is YYYY-MM-DD)") from None
