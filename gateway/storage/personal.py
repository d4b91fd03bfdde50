"""Personal data at rest (domain.md section 8): the resident ID number and the name are stored
encrypted (AES-256-GCM, a fresh nonce each time), and the ID number is found by a keyed hash
(HMAC-SHA256), never by its text.

Keys come from the environment (or a file it names), never from the database:

* ``LTC_DATA_KEYS`` — ``id:base64key[,id:base64key…]``, 32-byte keys, the first encrypts; the
  others still decrypt (rotation: put the new key first, run ``ltc-gateway data rekey``, then
  remove the old one). ``LTC_DATA_KEYS_FILE`` names a file holding the same text.
* ``LTC_LOOKUP_KEY`` — the HMAC key of the look-up hash (changing it also needs ``data rekey``).

Without them a fixed development key is used, which protects nothing: set both in production.

Stored messages (a payer step's request, an outbox notice) are JSON whose personal fields are
sealed one by one, in place (``SealedFields``): the rest stays readable, and the document comes
back key for key as it was built, so a resend is byte-identical to the first send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Text, TypeDecorator
from sqlalchemy.engine import Dialect

_DEVELOPMENT = (
    "dev:" + base64.b64encode(hashlib.sha256(b"ltc-gateway development data key").digest()).decode()
)


@cache
def _keys() -> tuple[str, dict[str, bytes]]:
    text = os.environ.get("LTC_DATA_KEYS")
    file = os.environ.get("LTC_DATA_KEYS_FILE")
    if not text and file:
        text = Path(file).read_text(encoding="utf-8").strip()
    entries = [e.strip() for e in (text or _DEVELOPMENT).split(",") if e.strip()]
    keys: dict[str, bytes] = {}
    for entry in entries:
        key_id, _, encoded = entry.partition(":")
        key = base64.b64decode(encoded)
        if not key_id or len(key) != 32:
            raise ValueError("LTC_DATA_KEYS: each entry is id:base64 of 32 bytes")
        keys[key_id] = key
    return entries[0].partition(":")[0], keys


@cache
def _lookup_key() -> bytes:
    return os.environ.get("LTC_LOOKUP_KEY", "ltc-gateway development lookup key").encode()


def lookup_hash(id_number: str) -> str:
    return hmac.new(_lookup_key(), id_number.upper().encode(), hashlib.sha256).hexdigest()


def signature(purpose: str, data: bytes) -> str:
    """HMAC-SHA256 under the look-up key, bound to ``purpose``: for tokens the gateway hands out
    and must recognise unaltered (a claim list's cursor)."""
    return hmac.new(_lookup_key(), purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()


def encrypt(text: str) -> str:
    current, keys = _keys()
    nonce = os.urandom(12)
    sealed = AESGCM(keys[current]).encrypt(nonce, text.encode(), current.encode())
    return f"{current}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(stored: str) -> str:
    key_id, _, payload = stored.partition(":")
    keys = _keys()[1]
    if key_id not in keys:
        raise ValueError(f"no data key {key_id!r} to decrypt with (LTC_DATA_KEYS)")
    raw = base64.b64decode(payload)
    return AESGCM(keys[key_id]).decrypt(raw[:12], raw[12:], key_id.encode()).decode()


def current_key_id() -> str:
    return _keys()[0]


class Encrypted(TypeDecorator[str]):
    """Text encrypted on the way in, decrypted on the way out."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)


# The fields of a stored message that hold personal data: at its top level or in one of its
# objects (a share request's and an assessment notice's ``member``; domain.md section 8).
PERSONAL_FIELDS = frozenset({"id_number", "name", "member_id_number"})


def _each_field(document: Any, change: Callable[[str], str]) -> Any:
    """A copy of the message with ``change`` applied to the text of every personal field; every
    key keeps its place (a resend must serialise to the same bytes). Two levels only: a share
    request has hundreds of values in its lines, and walking them all cost more than the JSON."""
    if not isinstance(document, dict):
        return document

    def level(node: dict[str, Any], deeper: bool) -> dict[str, Any]:
        copy = {}
        for key, value in node.items():
            if key in PERSONAL_FIELDS and isinstance(value, str):
                value = change(value)
            elif deeper and isinstance(value, dict) and not PERSONAL_FIELDS.isdisjoint(value):
                value = level(value, False)
            copy[key] = value
        return copy

    return level(document, True)


def seal_fields(document: Any) -> Any:
    return _each_field(document, encrypt)


def open_fields(document: Any) -> Any:
    return _each_field(document, decrypt)


def reseal_fields(document: Any) -> tuple[Any, bool]:
    """A sealed document with every personal field under the current data key, and whether any
    was under another (``data rekey``)."""
    current, changed = current_key_id(), False

    def again(stored: str) -> str:
        nonlocal changed
        if stored.partition(":")[0] == current:
            return stored
        changed = True
        return encrypt(decrypt(stored))

    return _each_field(document, again), changed


class SealedFields(TypeDecorator[Any]):
    """JSON stored with its personal fields encrypted (``seal_fields``), opened when read."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else seal_fields(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else open_fields(value)
