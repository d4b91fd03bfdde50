"""A payer's error can repeat what it was sent (a 4xx body quoting the member, a WSDL check quoting
a value), and the gateway stores and logs the error's text (a step's or notice's ``last_error``,
flags, audit entries). So the errors of the adapters the pool hands out never carry the ID number
or the name of the member whose message was sent: both are blanked out, whatever the adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

from adapters.sdk import (
    AdjustmentNotice,
    AssessmentNotice,
    Decision,
    PayerAdapter,
    ShareRequest,
    StatementEntry,
    VoidNotice,
)

BLANK = "[personal data]"


def blank(text: str, member: Mapping[str, Any]) -> str:
    """``text`` without the member's ID number (also without its check character, in any case)
    and name (also as JSON escapes it)."""
    id_number, name = member.get("id_number"), member.get("name")
    for value in (str(id_number or "").upper(), str(id_number or "")[:17]):
        if len(value) >= 15:  # a first-generation number has 15 digits; anything shorter is no ID
            text = _replace_any_case(text, value)
    if isinstance(name, str) and name:
        for form in (name, json.dumps(name)[1:-1]):
            text = text.replace(form, BLANK)
    return text


def _replace_any_case(text: str, value: str) -> str:
    lowered, target, start, out = text.lower(), value.lower(), 0, []
    while (found := lowered.find(target, start)) >= 0:
        out += [text[start:found], BLANK]
        start = found + len(target)
    return "".join([*out, text[start:]])


@contextmanager
def _blanked(member: Mapping[str, Any]) -> Iterator[None]:
    try:
        yield
    except Exception as error:  # the same error, of the same kind, with its text blanked
        error.args = (blank(str(error), member),)
        raise


class Redacting:
    """A ``PayerAdapter`` around another whose errors never carry the member's personal data."""

    def __init__(self, inner: PayerAdapter) -> None:
        self.inner = inner
        self.payer_code = inner.payer_code

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def deliver_assessment(self, notice: AssessmentNotice) -> None:
        with _blanked(notice.member):
            await self.inner.deliver_assessment(notice)

    async def submit_share(self, request: ShareRequest) -> Decision:
        with _blanked(request.member):
            return await self.inner.submit_share(request)

    async def fetch_decision(self, idempotency_key: str) -> Decision:
        return await self.inner.fetch_decision(idempotency_key)

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None:
        await self.inner.submit_adjustment(notice)  # carries no personal data

    async def submit_void(self, notice: VoidNotice) -> None:
        await self.inner.submit_void(notice)  # carries no personal data

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        return await self.inner.pull_statement(business_date)

    async def aclose(self) -> None:
        await self.inner.aclose()
