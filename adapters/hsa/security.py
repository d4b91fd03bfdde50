"""The national algorithms and gateway headers of the 医保信息平台 profile.

SM3 and SM4 come from ``cryptography`` (OpenSSL); SM2 from ``gmssl`` (cryptography has no SM2).
Never our own cryptography: this module only chooses parameters and encodings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl import sm2

from adapters.sdk import PermanentError

CURVE_ORDER = int(sm2.default_ecc_table["n"], 16)


def sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def tif_signature(timestamp: str, token: str, nonce: str) -> str:
    """The platform gateway's header signature: SHA-256 hex of timestamp + token + nonce + timestamp."""
    return hashlib.sha256(f"{timestamp}{token}{nonce}{timestamp}".encode()).hexdigest()


def tif_headers(paasid: str, token: str, timestamp: int) -> dict[str, str]:
    nonce = secrets.token_hex(16)
    stamp = str(timestamp)
    return {
        "x-tif-paasid": paasid,
        "x-tif-timestamp": stamp,
        "x-tif-nonce": nonce,
        "x-tif-signature": tif_signature(stamp, token, nonce),
    }


class Sm4:
    """SM4 of ``input``/``output`` text, as public integration code does it: ECB, PKCS#7 padding,
    Base64. ECB is the platform's choice, not ours (it shows equal blocks; TLS carries it anyway);
    it is deterministic, so a resent request carries the very same ciphertext."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise PermanentError("an SM4 key is 16 bytes (32 hex digits)")
        self.key = key

    def encrypt(self, text: str) -> str:
        padder = padding.PKCS7(128).padder()
        data = padder.update(text.encode()) + padder.finalize()
        encryptor = Cipher(algorithms.SM4(self.key), modes.ECB()).encryptor()
        return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()

    def decrypt(self, text: str) -> str:
        """Raises ValueError on anything that is not our ciphertext."""
        try:
            data = base64.b64decode(text, validate=True)
        except binascii.Error as error:
            raise ValueError(f"not Base64: {error}") from None
        if not data or len(data) % 16:
            raise ValueError("SM4 ciphertext must be whole 16-byte blocks")
        decryptor = Cipher(algorithms.SM4(self.key), modes.ECB()).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()
        return plain.decode()


def sm2_public_key(private_hex: str) -> str:
    """The public point (128 hex digits, x‖y) of a private key. gmssl has no key-pair helper;
    ``_kg`` is its scalar multiplication."""
    signer = sm2.CryptSM2(private_key=private_hex, public_key="")
    return str(signer._kg(int(private_hex, 16), sm2.default_ecc_table["g"]))


def new_sm2_private_key() -> str:
    return f"{secrets.randbelow(CURVE_ORDER - 1) + 1:064x}"


class Sm2Signer:
    """SM2 signatures with the SM3 digest (Z value and message), hex r‖s."""

    def __init__(self, private_hex: str | None = None, public_hex: str | None = None) -> None:
        if private_hex and not public_hex:
            public_hex = sm2_public_key(private_hex)
        self.public_hex = public_hex or ""
        self._sm2 = sm2.CryptSM2(private_key=private_hex or "", public_key=self.public_hex)
        # gmssl 3.2.2 drops a leading "04" with str.lstrip("04"), which also eats every further
        # leading 0 and 4 of x: about one key in 20 then signs and verifies with a wrong point.
        self._sm2.public_key = (
            self.public_hex.removeprefix("04") if len(self.public_hex) == 130 else self.public_hex
        )
        self.can_sign = bool(private_hex)

    def sign(self, text: str) -> str:
        if not self.can_sign:
            raise PermanentError("no SM2 private key configured to sign with")
        # gmssl draws the per-signature k from `random`, not a CSPRNG: a guessable k gives the
        # private key away, so we hand it one from `secrets`.
        k = f"{secrets.randbelow(CURVE_ORDER - 1) + 1:064x}"
        return str(self._sm2.sign_with_sm3(text.encode(), k))

    def verify(self, signature: str, text: str) -> bool:
        if not self.public_hex:
            raise PermanentError("no SM2 public key configured to verify with")
        try:
            return bool(self._sm2.verify_with_sm3(signature, text.encode()))
        except (ValueError, TypeError, IndexError):
            return False


def secret(config: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    """A secret named by ``{name}_env`` (an environment variable) or ``{name}_file`` (a file),
    the way the other adapters take theirs: the payer file never holds the value."""
    variable, path = config.get(f"{name}_env"), config.get(f"{name}_file")
    value = None
    if variable:
        value = os.environ.get(str(variable))
        if not value:
            raise PermanentError(f"the environment variable {variable!r} ({name}) is not set")
    elif path:
        try:
            value = Path(str(path)).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PermanentError(f"cannot read {name} from {path}: {error.strerror}") from None
    if value is None and required:
        raise PermanentError(f"the profile needs {name}_env or {name}_file")
    return value
