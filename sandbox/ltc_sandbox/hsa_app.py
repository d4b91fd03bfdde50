"""A sandbox tier-1 payer speaking the 医保信息平台 profile: it checks the gateway headers, the
envelope, the msgid and the SM2 signature, decrypts ``input`` and encrypts ``output`` (SM4), signs
its answers, and adjudicates through a ``SandboxPayer`` like the REST tier-1 sandbox.

Answers: infcode 0 success; -1 refused (permanent); -2 the signature does not verify
(permanent); -3 busy or a duplicate msgid (transient: send again with a new msgid)."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.hsa.envelope import (
    BEIJING,
    REQUEST_FIELDS,
    SIGNATURE_FIELD,
    TIME_FORMAT,
    Profile,
    signing_text,
)
from adapters.hsa.security import Sm2Signer, Sm4, new_sm2_private_key, sm2_public_key, tif_signature
from adapters.sdk import Decision
from ltc_sandbox.hsa_reconcile import HsaReconciliation
from ltc_sandbox.payer import Outcome, SandboxPayer

INSTITUTION = "H33010200001"  # the sandbox gateway's 12-character institution code
DIVISION = "330102"


@dataclass(frozen=True)
class HsaKeys:
    """Everything both sides must share, fresh per sandbox (nothing here is a real secret)."""

    paasid: str
    paas_token: str
    sign_key: str  # the gateway's SM2 private key; the sandbox holds its public key
    platform_key: str  # the platform's SM2 private key; the gateway holds its public key
    sm4_key: str

    @classmethod
    def generate(cls) -> HsaKeys:
        return cls(
            paasid="ltc-gateway-sandbox",
            paas_token=secrets.token_hex(16),
            sign_key=new_sm2_private_key(),
            platform_key=new_sm2_private_key(),
            sm4_key=secrets.token_hex(16),
        )

    def secrets(self) -> dict[str, str]:
        """What the adapter reads (``<name>_env`` / ``<name>_file``), by name."""
        return {
            "paas_token": self.paas_token,
            "sign_key": self.sign_key,
            "platform_public_key": sm2_public_key(self.platform_key),
            "sm4_key": self.sm4_key,
        }

    def environment(self, prefix: str) -> dict[str, str]:
        return {f"{prefix}_{name.upper()}": value for name, value in self.secrets().items()}

    def write(self, folder: Path, prefix: str) -> dict[str, str]:
        """Key files (readable by the owner only); the adapter settings that name them."""
        settings = {}
        for name, value in self.secrets().items():
            path = folder / f"{prefix}-{name.replace('_', '-')}.key"
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o600)
            settings[f"{name}_file"] = str(path.resolve())
        return settings


def adapter_settings(base_url: str, keys: HsaKeys, secrets_by: dict[str, str]) -> dict[str, Any]:
    """The payer file's ``adapter`` for a sandbox, the secrets named by env or file settings."""
    return {
        "type": "hsa",
        "base_url": base_url,
        "timeout_seconds": 5,
        "fixmedins_code": INSTITUTION,
        "mdtrtarea_admvs": DIVISION,
        "insuplc_admdvs": DIVISION,
        "paasid": keys.paasid,
        "encrypt": True,
        **secrets_by,
    }


@dataclass
class HsaPlatform:
    """The platform's side of the profile, in front of a SandboxPayer."""

    payer: SandboxPayer
    keys: HsaKeys
    profile: Profile
    transmissions: list[dict[str, Any]] = field(default_factory=list)  # envelopes received
    refused: list[str] = field(default_factory=list)  # why transmissions were refused
    _msgids: dict[str, tuple[str, str]] = field(default_factory=dict)  # msgid → (infno, business key)
    _reversals: dict[str, dict[str, Any]] = field(default_factory=dict)  # omsgid → answer
    _nonces: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gateway_key = Sm2Signer(public_hex=sm2_public_key(self.keys.sign_key))
        self.signer = Sm2Signer(self.keys.platform_key)
        self.sm4 = Sm4(bytes.fromhex(self.keys.sm4_key))
        self.operations = {number: name for name, number in self.profile.infno.items()}
        self.reconciliation = HsaReconciliation(self.payer)

    def headers_fault(self, headers: Any) -> str | None:
        stamp, nonce = headers.get("x-tif-timestamp", ""), headers.get("x-tif-nonce", "")
        if headers.get("x-tif-paasid") != self.keys.paasid:
            return "unknown x-tif-paasid"
        if headers.get("x-tif-signature") != tif_signature(stamp, self.keys.paas_token, nonce):
            return "x-tif-signature does not verify"
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return "x-tif-timestamp is more than 5 minutes off"
        with self._lock:
            if not nonce or nonce in self._nonces:
                return "x-tif-nonce missing or used before"
            self._nonces.add(nonce)
        return None

    def answer(self, infcode: str, msgid: str, err_msg: str = "", output: Any = None) -> dict[str, Any]:
        now = datetime.now(UTC).astimezone(BEIJING).strftime(TIME_FORMAT)
        if output is not None:
            output = self.sm4.encrypt(json.dumps({"data": output}, ensure_ascii=False, sort_keys=True))
        body = {
            "infcode": infcode,
            "inf_refmsgid": f"{DIVISION}{now.replace('-', '').replace(' ', '').replace(':', '')}"
            f"{secrets.randbelow(10**10):010d}",
            "refmsg_time": now,
            "respond_time": now,
            "err_msg": err_msg,
            "output": output,
        }
        if infcode != "0":
            self.refused.append(f"{msgid}: {infcode} {err_msg}")
        wire = {self.profile.name(k): v for k, v in body.items()}
        signature_field = self.profile.name(SIGNATURE_FIELD)
        wire[signature_field] = self.signer.sign(signing_text(wire, signature_field))
        return wire

    def handle(self, path_infno: str, wire: Any) -> dict[str, Any] | str:
        """The answer envelope, or an Outcome for the transport to misbehave with."""
        if not isinstance(wire, dict):
            return self.answer("-1", "", "the body is not an envelope")
        values = {k: wire.get(self.profile.name(k)) for k in REQUEST_FIELDS}
        msgid = str(values["msgid"] or "")
        missing = [self.profile.name(k) for k, v in values.items() if v is None]
        if missing:
            return self.answer("-1", msgid, f"missing fields: {', '.join(missing)}")
        self.transmissions.append(wire)
        signature_field = self.profile.name(SIGNATURE_FIELD)
        if not self.gateway_key.verify(str(values["cainfo"]), signing_text(wire, signature_field)):
            return self.answer("-2", msgid, "the SM2 signature (cainfo) does not verify")
        fault = self._envelope_fault(path_infno, values)
        if fault:
            return self.answer("-1", msgid, fault)
        with self._lock:
            if msgid in self._msgids:
                return self.answer("-3", msgid, "duplicate msgid: send again with a new one")
            self._msgids[msgid] = (path_infno, "")
        try:
            data = json.loads(self.sm4.decrypt(str(values["input"])))["data"]
        except (ValueError, KeyError, TypeError) as error:
            return self.answer("-1", msgid, f"input does not decrypt: {error}")
        operation = self.operations.get(path_infno)
        with self._lock:
            self._msgids[msgid] = (path_infno, str(data.get("idempotency_key", "")))
        return self._dispatch(operation, msgid, data)

    def _envelope_fault(self, path_infno: str, values: dict[str, Any]) -> str | None:
        msgid = str(values["msgid"])
        if values["infno"] != path_infno:
            return f"infno {values['infno']} was posted to {path_infno}"
        if len(msgid) != 30 or not msgid.startswith(str(values["fixmedins_code"])):
            return "msgid must be the 12-character institution code, 14 time digits and 4 digits"
        try:
            datetime.strptime(msgid[12:26], "%Y%m%d%H%M%S")
            datetime.strptime(str(values["inf_time"]), TIME_FORMAT)
        except ValueError:
            return "msgid or inf_time does not carry a time"
        for name in ("mdtrtarea_admvs", "insuplc_admdvs"):
            if not (len(str(values[name])) == 6 and str(values[name]).isdigit()):
                return f"{self.profile.name(name)} is not a GB/T 2260 division code"
        return None

    def _dispatch(self, operation: str | None, msgid: str, data: dict[str, Any]) -> dict[str, Any] | str:
        if operation == "share":
            outcome = self.payer.submit_share(data)
            if outcome == Outcome.CONFLICT:
                return self.answer("-1", msgid, "idempotency key reused with another body")
            if isinstance(outcome, str):
                return outcome
            return self.answer("0", msgid, output=outcome.to_wire())
        if operation == "decision":
            found = self.payer.fetch_decision(str(data["idempotency_key"]))
            return self.answer("0", msgid, output=(found or Decision("pending")).to_wire())
        if operation == "assessment":
            self.payer.deliver_assessment(data)
            return self.answer("0", msgid, output={"accepted": True})
        if operation == "adjustment":
            self.payer.submit_adjustment(data)
            return self.answer("0", msgid, output={"accepted": True})
        if operation == "void":
            self.payer.submit_void(data)
            return self.answer("0", msgid, output={"accepted": True})
        if operation == "statement":
            entries = self.payer.statement(date.fromisoformat(str(data["business_date"])))
            return self.answer("0", msgid, output={"entries": entries})
        if operation == "reversal":
            return self._reverse(msgid, data)
        if operation in ("totals", "upload", "detail", "download"):
            answer = getattr(self.reconciliation, operation)(data)
            if isinstance(answer, str):
                return self.answer("-1", msgid, answer)
            return self.answer("0", msgid, output=answer)
        return self.answer("-1", msgid, f"unknown infno for this profile: {operation}")

    def _reverse(self, msgid: str, data: dict[str, Any]) -> dict[str, Any]:
        omsgid, oinfno = str(data.get("omsgid")), str(data.get("oinfno"))
        with self._lock:
            done = self._reversals.get(omsgid)
            original = self._msgids.get(omsgid)
        if done is not None:  # a repeated reversal answers as the first did
            return self.answer("0", msgid, output=done)
        if original is None or original[0] != oinfno:
            return self.answer("-1", msgid, f"no transmission {omsgid} of infno {oinfno} to reverse")
        self.payer.reverse(original[1], str(data.get("cause", "")))
        result = {"omsgid": omsgid, "oinfno": oinfno, "reversed": original[1]}
        with self._lock:
            self._reversals[omsgid] = result
        return self.answer("0", msgid, output=result)


def hsa_payer_app(platform: HsaPlatform, path: str = "/api/{infno}") -> Starlette:
    answering = ThreadPoolExecutor(32, thread_name_prefix=f"sandbox-hsa-{platform.payer.payer_code}")

    async def call(request: Request) -> Response:
        fault = platform.headers_fault(request.headers)
        if fault:
            platform.refused.append(f"headers: {fault}")
            return JSONResponse({"error": fault}, status_code=401)
        try:
            wire = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        infno = request.path_params["infno"]
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(answering, platform.handle, infno, wire)
        except (KeyError, TypeError, ValueError) as error:
            return JSONResponse(platform.answer("-1", "", f"cannot adjudicate: {error}"))
        if outcome == Outcome.FAIL:
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if outcome == Outcome.MALFORMED:
            return Response(b'{"infcode": "0", "output": ', media_type="application/json")
        return JSONResponse(outcome)

    async def log(request: Request) -> Response:
        return JSONResponse({**platform.payer.log(), "refused": list(platform.refused)})

    return Starlette(
        routes=[
            Route(path.replace("{infno}", "{infno:str}"), call, methods=["POST"]),
            Route("/_sandbox/log", log, methods=["GET"]),
        ]
    )
