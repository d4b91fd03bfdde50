"""External checkpoints of the audit chain: one line naming the chain's end (place, entry, hash)
and when, with a MAC under the audit key, for an operator to keep outside the database.

The head's MAC stops a cut end from being hidden by editing the head, but a genuine older head,
copied away earlier and written back after deleting the entries behind it, still fits (a replay).
A checkpoint kept elsewhere catches that: ``verify --checkpoint`` fails unless the chain still
passes through the checkpoint's place with the same hash. It is only as safe as where it is kept
(write-once storage, another system's log): a table in the same database would be deleted with
the entries, so there is none.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from gateway.audit import GENESIS, Verdict, audit_key, verify
from gateway.storage.tables import AuditHeadRow, utcnow

PREFIX = "ltc-audit-checkpoint v1"
_LINE = re.compile(
    rf"(?P<body>{PREFIX} seq=(?P<seq>\d{{1,18}}) entry=(?P<entry>\d{{1,18}}) "
    r"hash=(?P<hash>[0-9a-f]{64}) at=(?P<at>\S+)) mac=(?P<mac>[0-9a-f]{64})"
)


class BadCheckpoint(ValueError):
    """Not a checkpoint line, or one whose MAC does not match (forged, edited, or another key)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    entry: int
    hash: str
    at: datetime

    def line(self, key: bytes | None = None) -> str:
        body = f"{PREFIX} seq={self.seq} entry={self.entry} hash={self.hash} at={self.at.isoformat()}"
        return f"{body} mac={_mac(key or audit_key(), body)}"


def _mac(key: bytes, body: str) -> str:
    # its own prefix: a checkpoint's MAC can never pass for an entry's or the head's
    return hmac.new(key, f"checkpoint:{body}".encode(), hashlib.sha256).hexdigest()


def parse(line: str, key: bytes | None = None) -> Checkpoint:
    match = _LINE.fullmatch(line.strip())
    if match is None:
        raise BadCheckpoint(f"not an audit checkpoint line: {line.strip()[:80]!r}")
    if not hmac.compare_digest(match["mac"], _mac(key or audit_key(), match["body"])):
        raise BadCheckpoint(f"the checkpoint at place {match['seq']} does not match its MAC (not genuine)")
    try:
        at = datetime.fromisoformat(match["at"])
    except ValueError:
        raise BadCheckpoint(f"the checkpoint at place {match['seq']} has no valid time") from None
    return Checkpoint(int(match["seq"]), int(match["entry"]), match["hash"], at)


def read(value: str, key: bytes | None = None) -> list[Checkpoint]:
    """``value``: a checkpoint line, or a file of them (one a line, as an operator appends them)."""
    if value.startswith(PREFIX):
        return [parse(value, key)]
    path = Path(value)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise BadCheckpoint(f"cannot read checkpoints from {value}: {error}") from None
    found = [parse(line, key) for line in lines if line.strip()]
    if not found:
        raise BadCheckpoint(f"{value} holds no checkpoint")
    return found


def issue(session: Session, key: bytes | None = None) -> tuple[Checkpoint | None, Verdict]:
    """A checkpoint of the chain's end as it is now; none if the chain does not verify (a broken
    chain is not vouched for)."""
    key = key or audit_key()
    verdict = verify(session, key)
    if not verdict.intact:
        return None, verdict
    head = session.get(AuditHeadRow, 1)
    if head is None:
        return Checkpoint(0, 0, GENESIS, utcnow()), verdict
    return Checkpoint(head.last_seq, head.last_id, head.hash, utcnow()), verdict


def verify_against(session: Session, checkpoints: list[Checkpoint], key: bytes | None = None) -> Verdict:
    return verify(session, key, [(c.seq, c.hash) for c in checkpoints])
