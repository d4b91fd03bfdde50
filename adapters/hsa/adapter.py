"""A tier-1 payer in the 医保信息平台 style: one signed (SM2) and, where the profile asks,
encrypted (SM4) envelope per call, posted with the platform gateway's ``x-tif-*`` headers.

Each SDK operation is a transaction number (``infno``, per city). Every transmission gets a
fresh ``msgid`` and ``inf_time`` while its business content (``input``: the stored request,
under the same idempotency key) stays byte-identical; see docs/adapters.md for why. A share's
payer reference is ``infno:msgid:platform reference`` of the transmission the platform answered,
so a later reversal (冲正) can name the original ``msgid`` and ``infno`` without any state here.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx

from adapters.hsa import reconcile
from adapters.hsa.envelope import (
    SIGNATURE_FIELD,
    MessageIds,
    Profile,
    Reply,
    build_request,
    parse_response,
    signing_text,
)
from adapters.hsa.security import Sm2Signer, Sm4, secret, tif_headers
from adapters.payer_http import USER_AGENT, checked, client_of, connection_faults, json_of
from adapters.sdk import (
    AdjustmentNotice,
    AssessmentNotice,
    Capabilities,
    Decision,
    FieldMap,
    MalformedAnswer,
    PermanentError,
    ReversalNotice,
    ShareRequest,
    StatementEntry,
    TransientError,
    VoidNotice,
    to_wire,
)
from adapters.sdk_totals import ExpectedLine, PeriodTotals

DEFAULT_PATH = "/api/{infno}"
RESPONSE_SIGNED = ("infcode", "inf_refmsgid", "refmsg_time", "respond_time", "err_msg", "output")


def classify(profile: Profile, reply: Reply) -> None:
    """Success passes; the profile's transient codes retry; any other failure code is permanent."""
    if reply.infcode == "0":
        return
    detail = f"infcode {reply.infcode}: {reply.err_msg}"[:500]
    if reply.infcode in profile.transient_infcodes:
        raise TransientError(detail)
    raise PermanentError(detail)


class HsaAdapter:
    # the platform reconciles in two levels (adapters.hsa.reconcile): totals, and detail by file
    # transactions where they differ; its placeholder ``statement`` is not pulled nightly
    capabilities = Capabilities(pulls_statements=False, pulls_totals=True, pulls_detail=True)

    def __init__(
        self,
        payer_code: str,
        config: Mapping[str, Any],
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.payer_code = payer_code
        self.profile = Profile.from_config(config)
        self.path = str(config.get("path", DEFAULT_PATH))
        self.fields = FieldMap.from_config(config.get("field_map"))
        self.paasid = str(config.get("paasid", ""))
        self.token = secret(config, "paas_token")
        self.signer = Sm2Signer(secret(config, "sign_key"))
        platform_key = secret(config, "platform_public_key", required=False)
        self.platform = Sm2Signer(public_hex=platform_key) if platform_key else None
        key = secret(config, "sm4_key", required=self.profile.encrypt)
        self.sm4 = Sm4(bytes.fromhex(key)) if self.profile.encrypt and key else None
        self.ids = MessageIds(self.profile.fixmedins_code)
        self.clock = clock
        self.sent: deque[dict[str, Any]] = deque(maxlen=64)  # the last envelopes, for the checks
        self.forged: set[str] = set()  # msgids sent with a tampered signature (the checks' own)
        # the platform's own headers (``tif_headers``) authenticate each call, not ``auth``
        self.client = client or client_of(config, {"User-Agent": USER_AGENT})

    @classmethod
    def from_config(cls, payer_code: str, config: Mapping[str, Any]) -> HsaAdapter:
        return cls(payer_code, config)

    # --- one transmission ---------------------------------------------------------------------

    def envelope(self, operation: str, data: Any, tamper: bool = False) -> dict[str, Any]:
        """A signed envelope for one transmission (fresh msgid and inf_time)."""
        infno = self.profile.infno[operation]
        payload: Any = {"data": self.fields.out(data)}
        if self.sm4 is not None:
            payload = self.sm4.encrypt(json.dumps(payload, ensure_ascii=False, sort_keys=True))
        msgid, inf_time = self.ids.next(self.clock())
        envelope = build_request(self.profile, infno, msgid, inf_time, payload)
        signature_field = self.profile.name(SIGNATURE_FIELD)
        signature = self.signer.sign(signing_text(envelope, signature_field))
        if tamper:  # the conformance kit's forged request: one hex digit changed
            signature = ("0" if signature[0] != "0" else "1") + signature[1:]
            self.forged.add(msgid)
        envelope[signature_field] = signature
        return envelope

    async def transmit(self, operation: str, data: Any, tamper: bool = False) -> tuple[dict[str, Any], Any]:
        """Send one envelope; the envelope and the answer's ``output.data`` (decrypted)."""
        # gmssl's SM2 is pure Python (tens of ms a signature): off the event loop, so the other
        # payers' calls of this worker keep moving while one is signed or verified
        envelope = await asyncio.to_thread(self.envelope, operation, data, tamper)
        self.sent.append(envelope)
        infno = envelope[self.profile.name("infno")]
        path = self.path.format(infno=infno)
        headers = tif_headers(self.paasid, self.token or "", int(self.clock().timestamp()))
        with connection_faults(infno):
            response = await self.client.post(path, json=envelope, headers=headers)
        reply = parse_response(self.profile, json_of(infno, checked(infno, response)))
        await asyncio.to_thread(self._verify, infno, reply)
        classify(self.profile, reply)
        return envelope, self._output(infno, reply.output)

    def _verify(self, infno: str, reply: Reply) -> None:
        """A platform that signs its answers: one that does not verify is garbled (retried)."""
        if self.platform is None:
            return
        signed = {self.profile.name(k): getattr(reply, k) for k in RESPONSE_SIGNED}
        text = signing_text(signed, self.profile.name(SIGNATURE_FIELD))
        if not reply.signature or not self.platform.verify(reply.signature, text):
            raise MalformedAnswer(f"{infno}: the answer's SM2 signature does not verify")

    def _output(self, infno: str, output: Any) -> Any:
        if output in (None, ""):
            return None
        if self.sm4 is not None:
            if not isinstance(output, str):
                raise MalformedAnswer(f"{infno}: the profile encrypts output, got {type(output).__name__}")
            try:
                output = json.loads(self.sm4.decrypt(output))
            except (ValueError, json.JSONDecodeError) as error:
                raise MalformedAnswer(f"{infno}: the output does not decrypt ({error})") from None
        if not isinstance(output, dict):
            raise MalformedAnswer(f"{infno}: output is not an object")
        return self.fields.into(output.get("data"))

    def reference(self, envelope: Mapping[str, Any], platform_reference: str | None) -> str:
        name = self.profile.name
        return f"{envelope[name('infno')]}:{envelope[name('msgid')]}:{platform_reference or ''}"

    # --- the SDK's operations -----------------------------------------------------------------

    async def deliver_assessment(self, notice: AssessmentNotice) -> None:
        await self.transmit("assessment", to_wire(notice))

    async def submit_share(self, request: ShareRequest) -> Decision:
        envelope, answer = await self.transmit("share", to_wire(request))
        return self._decision(envelope, answer)

    async def fetch_decision(self, idempotency_key: str) -> Decision:
        envelope, answer = await self.transmit("decision", {"idempotency_key": idempotency_key})
        return self._decision(envelope, answer)

    def _decision(self, envelope: Mapping[str, Any], answer: Any) -> Decision:
        decision = Decision.from_wire(answer)
        if decision.status == "pending":
            return decision
        reference = self.reference(envelope, decision.payer_reference)
        return Decision(decision.status, reference, decision.lines, decision.fixed)

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None:
        await self.transmit("adjustment", to_wire(notice))

    async def submit_void(self, notice: VoidNotice) -> None:
        await self.transmit("void", to_wire(notice))

    async def reverse_share(self, notice: ReversalNotice) -> None:
        """冲正 by the original msgid and infno; the platform answers a repeat as the first."""
        parts = (notice.payer_reference or "").split(":", 2)
        if len(parts) != 3 or len(parts[1]) != 30:
            raise PermanentError(
                f"cannot reverse {notice.reverses_key}: its payer reference "
                f"{notice.payer_reference!r} names no original msgid"
            )
        oinfno, omsgid, _ = parts
        await self.transmit(
            "reversal",
            {
                "omsgid": omsgid,
                "oinfno": oinfno,
                "idempotency_key": notice.idempotency_key,
                "reverses_key": notice.reverses_key,
                "claim_id": notice.claim_id,
                "cause": notice.cause,
            },
        )

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        _, answer = await self.transmit("statement", {"business_date": business_date.isoformat()})
        try:
            return [StatementEntry(**entry) for entry in answer["entries"]]
        except (KeyError, TypeError) as error:
            raise MalformedAnswer(f"not a statement: {error}") from None

    async def pull_totals(self, business_date: date, ours: tuple[PeriodTotals, ...]) -> list[PeriodTotals]:
        return await reconcile.pull_totals(self, business_date, ours)

    async def pull_detail(
        self, business_date: date, totals: PeriodTotals, ours: tuple[ExpectedLine, ...]
    ) -> list[StatementEntry]:
        return await reconcile.pull_detail(self, business_date, totals, ours)

    def conformance_checks(self, request: Callable[[str], ShareRequest], run: str) -> list[Any]:
        from adapters.hsa.checks import profile_checks

        return profile_checks(self, request, run)

    async def aclose(self) -> None:
        await self.client.aclose()
