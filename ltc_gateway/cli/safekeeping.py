"""The audit trail's integrity and the personal data at rest."""

from __future__ import annotations

import argparse
import sys

from ltc_gateway.cli.common import Subparsers, bootstrap_migrated


def add(sub: Subparsers) -> None:
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    p = audit.add_parser(
        "verify", help="check the hash chain: exit 1 if an entry was edited, inserted or deleted"
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        metavar="LINE|FILE",
        help="a line from `audit checkpoint` (or a file of them) the chain must still reach; repeatable",
    )
    p.set_defaults(func=cmd_audit_verify)
    audit.add_parser(
        "checkpoint", help="print a MAC'd line of the chain's end now, to keep outside the database"
    ).set_defaults(func=cmd_audit_checkpoint)

    data = sub.add_parser("data", help="personal data at rest").add_subparsers(
        dest="data_command", required=True
    )
    data.add_parser(
        "rekey", help="re-encrypt under the current data key and recompute look-up hashes"
    ).set_defaults(func=cmd_data_rekey)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gateway.audit_checkpoints import BadCheckpoint, read, verify_against

    try:
        checkpoints = [c for value in args.checkpoint or () for c in read(value)]
    except BadCheckpoint as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        verdict = verify_against(session, checkpoints)
    if verdict.intact:
        reached = f", through {len(checkpoints)} checkpoint(s)" if checkpoints else ""
        print(f"audit trail intact: {verdict.entries} entries{reached}")
        return 0
    print(f"audit trail BROKEN ({verdict.entries} entries read):")
    for problem in verdict.problems:
        print(f"  {problem}")
    return 1


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from gateway.audit_checkpoints import issue

    gateway = bootstrap_migrated()
    with gateway.sessions.begin() as session:
        checkpoint, verdict = issue(session)
    if checkpoint is None:
        print(f"audit trail BROKEN ({verdict.entries} entries read): no checkpoint issued", file=sys.stderr)
        for problem in verdict.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(checkpoint.line())
    print(
        f"checkpoint of {verdict.entries} entries: keep this line outside the database "
        "(audit verify --checkpoint LINE|FILE checks the chain still reaches it)",
        file=sys.stderr,
    )
    return 0


def cmd_data_rekey(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm.attributes import flag_modified

    from gateway.storage.personal import current_key_id
    from gateway.storage.rekey import rekey_messages
    from gateway.storage.tables import MemberRow, MemberVersionRow

    gateway = bootstrap_migrated()
    count = 0
    with gateway.sessions.begin() as session:
        for member in session.scalars(select(MemberRow).with_for_update()):
            # Written again: encrypted under the current data key, and the look-up hash (set by
            # the validator) recomputed under the current lookup key.
            member.id_number = str(member.id_number)
            flag_modified(member, "id_number")
            flag_modified(member, "name")
            count += 1
        for version in session.scalars(select(MemberVersionRow)):  # under the members' locks
            flag_modified(version, "name")
            flag_modified(version, "address_text")
    print(f"re-encrypted {count} members under data key {current_key_id()!r}")
    messages = rekey_messages(gateway.sessions)
    print(
        f"re-encrypted {messages['payer_steps']} stored requests, {messages['outbox']} notices and "
        f"{messages['idempotency_keys']} kept answers under data key {current_key_id()!r}"
    )
    print(f"re-encrypted {messages['webhook_secrets']} webhook secrets under data key {current_key_id()!r}")
    return 0
