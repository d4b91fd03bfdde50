"""``ltc-gateway``: the command line. Configuration comes from the environment (``LTC_*``) or
the TOML file named by ``LTC_CONFIG``."""

from __future__ import annotations

import argparse
import sys

from gateway import __version__
from gateway.config import load_settings
from gateway.errors import ServiceError
from ltc_gateway.cli import admin, reconcile, safekeeping, service, settlement, simulate, staff
from ltc_gateway.cli.common import Subparsers


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ltc-gateway", description=__doc__)
    top.add_argument("--version", action="version", version=f"ltc-gateway {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    for commands in (service, admin, reconcile, settlement, safekeeping, simulate, staff):
        commands.add(sub)
    _add_installed_commands(sub)
    return top


# Commands another distribution adds through the entry-point group: each entry point names a
# function ``(subparsers) -> None`` that adds its subcommand (``set_defaults(func=...)``; optional
# ``json_logs=True``, ``needs_keys=False``). The sandbox's are named here so that, without it,
# they say how to install it instead of being unknown.
COMMANDS_GROUP = "ltc_gateway.commands"
SANDBOX_COMMANDS = ("demo", "sandbox", "reconcile-generate")
SANDBOX_INSTALL = "pip install -e ./sandbox (the ltc-gateway-sandbox distribution)"


def _add_installed_commands(sub: Subparsers) -> None:
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if entry.name not in sub.choices:  # an entry point may not shadow a command of the product
            entry.load()(sub)
    for name in SANDBOX_COMMANDS:
        if name not in sub.choices:
            # takes whatever follows, options included (no prefix characters), to say one line
            p = sub.add_parser(name, help=f"(needs the sandbox: {SANDBOX_INSTALL})", prefix_chars="\0")
            p.add_argument("ignored", nargs="*")
            p.set_defaults(func=_not_installed, needs_keys=False)


def _not_installed(args: argparse.Namespace) -> int:
    print(f"error: `ltc-gateway {args.command}` comes with the sandbox: {SANDBOX_INSTALL}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy import exc as sa_exc

    from gateway import environment
    from gateway.config import ConfigError
    from gateway.observability.logging import configure
    from gateway.preflight import UserError, unreachable

    args = parser().parse_args(argv)
    settings = None
    # A fault the user can fix is one line on stderr, never a traceback.
    try:
        settings = load_settings()
        # Services log JSON lines; the commands people read at a terminal log plain text.
        configure(settings.log_level, json_logs=getattr(args, "json_logs", False))
        environment.check(settings, keys=getattr(args, "needs_keys", True))
        result: int = args.func(args)
        return result
    except ServiceError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        for pointer, detail in error.faults[1:]:
            print(f"       {pointer or '/'}: {detail}", file=sys.stderr)
        return 2
    except (ConfigError, UserError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        url = settings.database_url if settings else "(unknown)"
        print(f"error: {unreachable(url, error)}", file=sys.stderr)
        return 1
