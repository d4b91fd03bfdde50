"""The conformance kit's checks of the 医保信息平台 profile (run by ``adapter-check`` after the
SDK's own checks, through the same adapter): the envelope as sent, msgid uniqueness, the SM2
signatures, SM4 round trips, a forged signature refused, reversal (冲正), the error mapping, and
reconciliation in two levels: totals (3201) for a settled share's category and period, and the
detail of the same group by file upload, compare and download (9101, 3202, 9102), whose lines
must add up to the totals the platform answered."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from adapters.hsa.envelope import BEIJING, REQUEST_FIELDS, SIGNATURE_FIELD, TIME_FORMAT, Reply, signing_text
from adapters.hsa.reconcile import pull_detail, pull_totals
from adapters.sdk import (
    PermanentError,
    ReversalNotice,
    ShareRequest,
    TransientError,
    to_wire,
)
from adapters.sdk_totals import ExpectedLine, PeriodTotals

Body = Callable[[], Awaitable[str]]
DIVISION = re.compile(r"[0-9]{6}")


def profile_checks(
    adapter: object, request: Callable[[str], ShareRequest], run: str
) -> list[tuple[str, Body]]:
    from adapters.hsa.adapter import HsaAdapter, classify

    assert isinstance(adapter, HsaAdapter)
    profile, name = adapter.profile, adapter.profile.name

    async def envelope() -> str:
        assert adapter.sent, "nothing was sent"
        sent = adapter.sent[-1]
        missing = [name(f) for f in REQUEST_FIELDS if name(f) not in sent]
        assert not missing, f"missing from the envelope: {', '.join(missing)}"
        msgid, inf_time = str(sent[name("msgid")]), str(sent[name("inf_time")])
        assert len(msgid) == 30 and msgid.startswith(profile.fixmedins_code), f"msgid {msgid!r}"
        stamp = datetime.strptime(msgid[12:26], "%Y%m%d%H%M%S")
        assert stamp == datetime.strptime(inf_time, TIME_FORMAT), f"msgid {msgid} but inf_time {inf_time}"
        assert msgid[26:].isdigit(), f"msgid {msgid!r} does not end in a 4-digit sequence"
        for division in ("mdtrtarea_admvs", "insuplc_admdvs"):
            assert DIVISION.fullmatch(str(sent[name(division)])), f"{name(division)} is not a 6-digit code"
        return f"{len(REQUEST_FIELDS)} fields; msgid {msgid}"

    async def unique() -> str:
        ids = [str(sent[name("msgid")]) for sent in adapter.sent]
        assert len(ids) >= 5, f"only {len(ids)} transmissions to compare"
        assert len(set(ids)) == len(ids), "a msgid was sent twice"
        return f"{len(ids)} transmissions, {len(ids)} distinct msgids"

    async def signatures() -> str:
        signature_field = name(SIGNATURE_FIELD)
        honest = [sent for sent in adapter.sent if sent[name("msgid")] not in adapter.forged]
        for sent in honest:
            text = signing_text(sent, signature_field)
            assert adapter.signer.verify(str(sent[signature_field]), text), f"{sent[name('msgid')]}"
        answers = "the platform's answers verified" if adapter.platform else "answers are not signed"
        return f"{len(honest)} requests verify with our SM2 public key; {answers}"

    async def tampered() -> str:
        try:
            await adapter.transmit("share", to_wire(request(f"conformance:{run}:forged")), tamper=True)
        except PermanentError as error:
            return f"refused, permanent: {error}"[:120]
        raise AssertionError("a request with a forged signature was accepted")

    async def encryption() -> str:
        if adapter.sm4 is None:
            return "the profile sends input and output in clear (encrypt: false)"
        sent = adapter.sent[-1]
        plain = json.loads(adapter.sm4.decrypt(str(sent[name("input")])))
        assert (
            adapter.sm4.encrypt(json.dumps(plain, ensure_ascii=False, sort_keys=True)) == sent[name("input")]
        ), "SM4 does not round-trip the input"
        return "SM4 input round-trips; every answer's output decrypted"

    async def reversal() -> str:
        share = request(f"conformance:{run}:reversed")
        decision = await adapter.submit_share(share)
        notice = ReversalNotice(
            idempotency_key=f"conformance:{run}:reversal",
            claim_id=share.claim_id,
            payer_code=adapter.payer_code,
            product_code=share.product_code,
            reverses_key=share.idempotency_key,
            payer_reference=decision.payer_reference,
            cause="conformance check",
        )
        await adapter.reverse_share(notice)
        await adapter.reverse_share(notice)  # idempotent: the repeat is answered as the first
        return f"reversed {decision.payer_reference} twice, accepted both times"

    async def errors() -> str:
        def outcome(code: str) -> str:
            try:
                classify(profile, Reply(code, "", "", "", "", None, ""))
            except TransientError:
                return "transient"
            except PermanentError:
                return "permanent"
            return "success"

        assert outcome("0") == "success", "infcode 0 is not success"
        assert outcome("-1") == "permanent", "infcode -1 (refused) is not permanent"
        for code in profile.transient_infcodes:
            assert outcome(code) == "transient", f"infcode {code} is not transient"
        return f"0 success; {', '.join(sorted(profile.transient_infcodes))} transient; others permanent"

    async def two_levels() -> str:
        share = request(f"conformance:{run}:reconciled")
        decision = await adapter.submit_share(share)
        assert decision.status == "decided", f"the share was not decided ({decision.status})"
        line = share.lines[0]
        paid = next((d.paid_fen for d in decision.lines if d.line_no == line.line_no), 0)
        group = PeriodTotals(line.setting, share.period["start"][:7], 1, paid, line.billed_fen)
        today = datetime.now(BEIJING).date()
        [platform] = await pull_totals(adapter, today, (group,))
        assert (platform.category, platform.period) == (group.category, group.period), (
            "another group answered"
        )
        assert platform.count >= 1 and platform.paid_fen >= paid, (
            f"totals {platform} miss the share just settled"
        )
        ours = (ExpectedLine(share.claim_id, line.line_no, paid),)
        entries = await pull_detail(adapter, today, group, ours)
        lines = {(e.claim_id, e.line_no) for e in entries}
        assert (share.claim_id, line.line_no) in lines, "the detail does not list the share just settled"
        assert len(lines) == platform.count and sum(e.paid_fen for e in entries) == platform.paid_fen, (
            f"the detail ({len(lines)} lines, {sum(e.paid_fen for e in entries)} fen) does not add up to the "
            f"totals ({platform.count}, {platform.paid_fen})"
        )
        infno = profile.infno
        return (
            f"{infno['totals']}: {platform.count} lines {platform.paid_fen} fen in {group.category} "
            f"{group.period}; {infno['upload']}/{infno['detail']}/{infno['download']}: "
            f"{len(entries)} entries add up"
        )

    return [
        ("hsa: envelope fields present", envelope),
        ("hsa: a forged signature is refused", tampered),
        ("hsa: reversal, repeated", reversal),
        ("hsa: msgid unique across calls", unique),
        ("hsa: signatures verify", signatures),
        ("hsa: encryption round-trips", encryption),
        ("hsa: error codes mapped", errors),
        ("hsa: reconciliation totals, then detail by files", two_levels),
    ]
