"""The conformance kit's story of a moved fixed-benefit month (docs/corrections.md, Void).

A member's month is granted through a first claim; a second and a third claim of the month are
granted nothing for it. The first is voided: the month is not recovered but moves to the second,
and the void notice says so (``fixed_moved``). The third is then replaced (asked again in a new
round): a payer that kept the notice grants it nothing, since the second holds the month. Run for
fixed-benefit products the payer adjudicates itself (a proposing payer grants what it is proposed).

The story uses a member of its own (a synthetic ID number made from the run), so what earlier runs
left at the payer holds none of its months, and last month, which has ended (a fixed benefit is
paid for an ended month only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from adapters.sdk import Decision, PayerAdapter, VoidNotice
from gateway.domain.identity import check_character

if TYPE_CHECKING:
    from adapters.conformance import Sample

NAME = "a void's moved month is not granted again"


def member_of(run: str) -> str:
    """A synthetic resident ID number of this run: a valid check character, born 1940-1979."""
    number = int(run, 16)
    born = date(1940, 1, 1) + timedelta(days=number % 14600)
    first17 = f"110105{born:%Y%m%d}{number // 14600 % 1000:03d}"
    return first17 + check_character(first17)


def moved_month(sample: Sample, adapter: PayerAdapter, run: str) -> Callable[[], Awaitable[str]]:
    async def story() -> str:
        member = member_of(run)
        start = (sample.today.replace(day=1) - timedelta(days=1)).replace(day=1)
        holder, second, third = (
            sample.request(f"conformance:{run}:moved:{n}", member_id=member, start=start) for n in (1, 2, 3)
        )
        granted = _months(await adapter.submit_share(holder))
        if not granted:
            return f"not checked: the payer granted the sample case no month of {start:%Y-%m}"
        for other in (second, third):
            twice = sorted(granted.keys() & _months(await adapter.submit_share(other)).keys())
            assert not twice, f"{twice} granted to a second claim of the member"
        await adapter.submit_void(
            VoidNotice(
                idempotency_key=f"conformance:{run}:moved:void",
                claim_id=holder.claim_id,
                claim_number=holder.claim_number,
                payer_code=holder.payer_code,
                product_code=holder.product_code,
                reason="conformance check: the month moves to another claim",
                lines=(),
                fixed_moved=tuple(
                    {
                        "month": month,
                        "amount_fen": amount,
                        "payer_code": holder.payer_code,
                        "product_code": holder.product_code,
                        "to_claim_id": second.claim_id,
                        "to_claim_number": second.claim_number,
                    }
                    for month, amount in sorted(granted.items())
                ),
            )
        )
        replaced = dataclasses.replace(
            sample.request(f"conformance:{run}:moved:3:round-2", member_id=member, start=start),
            claim_id=third.claim_id,
            claim_number=third.claim_number,
            round=2,
        )
        again = sorted(granted.keys() & _months(await adapter.submit_share(replaced)).keys())
        assert not again, (
            f"the void moved {sorted(granted)} to the second claim, yet the replaced third claim "
            f"was granted {again} again"
        )
        return f"{', '.join(sorted(granted))} moved to the second claim: the replaced third is not granted it"

    return story


def _months(decision: Decision) -> dict[str, int]:
    return {str(f["month"]): int(f["amount_fen"]) for f in decision.fixed if f["amount_fen"]}
