"""``ltc-gateway staff``: the named people who sign in to the staff console (add, list, disable,
set a password, issue a key of their own). A password is read from a prompt (twice) or, when stdin
is not a terminal, from its first line; never from an argument (it would sit in the shell's
history and ``ps``). A personal key acts as its person on the API and the settlement command line,
so four-eyes compares that person however they call."""

from __future__ import annotations

import argparse
import getpass
import sys

from ltc_gateway.cli.common import Subparsers, bootstrap_migrated

ROLES = ("bureau_supervisor", "reconciler", "approver")
KEY_ROLES = ("reconciler", "bureau")


def add(sub: Subparsers) -> None:
    staff = sub.add_parser("staff", help="staff accounts of the console").add_subparsers(
        dest="staff_command", required=True
    )
    p = staff.add_parser("add", help="a new person (the password is asked for, or read from stdin)")
    p.add_argument("username")
    p.add_argument("--name", required=True, help="the person's name, as shown to colleagues")
    p.add_argument("--role", action="append", required=True, choices=ROLES, help="repeat for several")
    p.set_defaults(func=cmd_add)
    staff.add_parser("list", help="the accounts, their roles and state").set_defaults(func=cmd_list)
    p = staff.add_parser("disable", help="the person signs in no more; their sessions end")
    p.add_argument("username")
    p.set_defaults(func=cmd_disable)
    p = staff.add_parser("password", help="set a new password (also lifts a lockout)")
    p.add_argument("username")
    p.set_defaults(func=cmd_password)
    p = staff.add_parser("key", help="an API key of the person's own (shown once; revoke with keys revoke)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=KEY_ROLES, help="one the person's staff roles open")
    p.add_argument("--label")
    p.set_defaults(func=cmd_key)


def _password() -> str:
    from gateway.preflight import UserError

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def cmd_add(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.services.staff import add_account

    password = _password()
    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        add_account(session, args.username, args.name, args.role, password, operator())
    print(f"staff account {args.username}: roles {', '.join(sorted(set(args.role)))}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gateway.services.staff import list_accounts

    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        accounts = list_accounts(session)
    for a in accounts:
        state = "disabled" if not a["active"] else "locked" if a["locked"] else "active"
        print(f"{a['username']}\t{a['name']}\t{','.join(a['roles'])}\t{state}")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.services.staff import disable

    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        disable(session, args.username, operator())
    print(f"staff account {args.username} disabled")
    return 0


def cmd_password(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.services.staff import set_password

    password = _password()
    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        set_password(session, args.username, password, operator())
    print(f"staff account {args.username}: password set")
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    from gateway.audit import operator
    from gateway.services.keys import Role
    from gateway.services.staff import issue_key

    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        key_id, key = issue_key(session, args.username, Role(args.role), operator(), args.label)
    print(key)
    print(
        f"key {key_id}: {args.username}'s own, role {args.role}. It is shown only now; store it safely.",
        file=sys.stderr,
    )
    return 0
