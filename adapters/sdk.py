"""The payer adapter SDK: what the gateway asks of a payer, and what it accepts back.

An adapter implements ``PayerAdapter``. The bundled ones speak REST (``adapters.rest``) and SOAP
(``adapters.soap``); third parties plug in through the ``ltc_gateway.adapters`` entry-point group
(a factory ``(payer_code, config) -> PayerAdapter``). Messages travel as plain JSON-able dicts
(``to_wire`` / ``*.from_wire``) so any transport can carry them; a payer's own field names are
reached by configuration (``FieldMap``), not code.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol, runtime_checkable


class AdapterError(Exception):
    """A payer call failed."""


class TransientError(AdapterError):
    """Worth retrying with the same idempotency key: timeouts, 5xx, broken or garbled answers."""


class PermanentError(AdapterError):
    """Retrying the same request will not help (4xx, refused contract); the step is dead-lettered."""


class MalformedAnswer(TransientError):
    """The payer answered something that is not a valid message (retried: often a proxy glitch)."""


@dataclass(frozen=True, slots=True)
class ShareLine:
    line_no: int
    service_code: str
    setting: str
    method: str
    service_date: str
    service_end_date: str | None
    quantity: int
    unit_price_fen: int
    billed_fen: int
    exclusion: str | None
    visit: dict[str, Any] | None
    prior_paid_fen: int  # what earlier payers paid on this line
    remaining_fen: int  # billed − repeated − prior: the most this payer may pay
    proposed_paid_fen: int | None = None  # gateway adjudication: the share the gateway computed
    proposed_reasons: tuple[dict[str, Any], ...] = ()  # [{code, amount_fen}]
    # Units an earlier claim already claimed for the member (DUPLICATE_SERVICE): no payer pays them;
    # for a bed-day range, the repeated days (ISO dates).
    repeated_units: int = 0
    repeated_days: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ShareRequest:
    """One payer's share of one claim: everything a payer needs to adjudicate it alone."""

    idempotency_key: str  # the same on every retry of this step
    claim_id: str
    claim_number: str
    round: int
    seq: int
    payer_code: str
    product_code: str
    product_version: int
    adjudication: Literal["gateway", "payer"]
    kind: Literal["indemnity", "fixed_benefit"]
    provider: dict[str, Any]  # provider_code, district, designated, designated_from, designated_to
    member: dict[str, Any]  # id_number, name, lat, lon
    coverage: dict[str, Any]  # start_date, end_date
    assessment: dict[str, Any]  # assessment_id, grade, concluded_on, disabled_since, effective_from
    period: dict[str, str]  # start, end
    lines: tuple[ShareLine, ...]
    prior_payers: tuple[dict[str, Any], ...] = ()  # [{payer_code, product_code, paid_fen}]
    proposed_fixed: tuple[
        dict[str, Any], ...
    ] = ()  # fixed benefit, gateway adjudication: [{month, amount_fen}]
    limit_usage: dict[str, int] = field(default_factory=dict)  # the gateway's record: {"month:2026-11": fen}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ShareRequest:
        try:
            lines = tuple(
                ShareLine(
                    **{
                        **line,
                        "proposed_reasons": tuple(line.get("proposed_reasons") or ()),
                        "repeated_days": tuple(line.get("repeated_days") or ()),
                    }
                )
                for line in wire["lines"]
            )
            return cls(
                **{k: v for k, v in wire.items() if k not in ("lines", "prior_payers", "proposed_fixed")},
                lines=lines,
                prior_payers=tuple(wire.get("prior_payers") or ()),
                proposed_fixed=tuple(wire.get("proposed_fixed") or ()),
            )
        except (KeyError, TypeError) as error:
            raise MalformedAnswer(f"not a share request: {error}") from None


@dataclass(frozen=True, slots=True)
class LineDecision:
    line_no: int
    paid_fen: int
    reasons: tuple[tuple[str, int], ...] = ()  # must add up to billed − paid


@dataclass(frozen=True, slots=True)
class Decision:
    """A payer's answer to a share: decided now, pending (it will call back or be asked again), or
    returned unadjudicated (退回/返戻) with the reason the provider must put right and resubmit —
    not a decision to pay less: later tiers wait."""

    status: Literal["decided", "pending", "returned"]
    payer_reference: str | None = None
    lines: tuple[LineDecision, ...] = ()
    fixed: tuple[dict[str, Any], ...] = ()  # fixed benefit: [{month, amount_fen}] granted
    return_reason: str | None = None  # returned: why (a missing document, the wrong member, …)

    @classmethod
    def from_wire(cls, wire: Any) -> Decision:
        try:
            status = wire["status"]
            if status not in ("decided", "pending", "returned"):
                raise MalformedAnswer(f"decision status must be decided, pending or returned, got {status!r}")
            returned = wire.get("return_reason")
            if status == "returned":
                if not isinstance(returned, str) or not returned.strip() or len(returned) > 500:
                    raise MalformedAnswer("a returned share needs a return_reason (1 to 500 characters)")
                return cls(status, _optional_text(wire.get("payer_reference")), return_reason=_text(returned))
            lines = tuple(
                LineDecision(
                    line_no=_int(line["line_no"]),
                    paid_fen=_fen(line["paid_fen"]),
                    reasons=tuple(
                        (_text(r["code"]), _fen(r["amount_fen"])) for r in line.get("reasons") or ()
                    ),
                )
                for line in wire.get("lines") or ()
            )
            fixed = tuple(
                {"month": _text(f["month"]), "amount_fen": _fen(f["amount_fen"])}
                for f in wire.get("fixed") or ()
            )
            return cls(status, _optional_text(wire.get("payer_reference")), lines, fixed)
        except (KeyError, TypeError, AttributeError) as error:
            raise MalformedAnswer(f"not a decision: {type(error).__name__} {error}") from None

    def to_wire(self) -> dict[str, Any]:
        if self.status == "returned":
            return {
                "status": self.status,
                "payer_reference": self.payer_reference,
                "return_reason": self.return_reason,
            }
        return {
            "status": self.status,
            "payer_reference": self.payer_reference,
            "lines": [
                {
                    "line_no": d.line_no,
                    "paid_fen": d.paid_fen,
                    "reasons": [{"code": c, "amount_fen": a} for c, a in d.reasons],
                }
                for d in self.lines
            ],
            "fixed": list(self.fixed),
        }


# Integers written as text, here and in the gateway (gateway.domain.numbers): ASCII digits only
# (str.isdigit() takes "³", int() "٣"), at most 20; longer is no number of ours, and int() of 4,301
# digits raises.
INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        # SOAP carries integers as text; ASCII digits only (str.isdigit() takes "³", int() not)
        if isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
            return int(value)
        raise TypeError(f"expected an integer, got {value!r}")
    return value


MAX_FEN = 10**12  # the gateway's bound on every amount (gateway.domain.numbers.MAX_FEN)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _fen(value: Any) -> int:
    amount = _int(value)
    if not -MAX_FEN <= amount <= MAX_FEN:
        raise TypeError(f"an amount of fen beyond ±{MAX_FEN}: {amount}")
    return amount


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _text(value: Any) -> str:
    """Text a payer sends that the gateway stores: no control characters (no database takes a NUL)."""
    text = str(value)
    if CONTROL.search(text):
        raise TypeError(f"control characters in {text!r}")
    return text


@dataclass(frozen=True, slots=True)
class AssessmentNotice:
    """An assessment sent once to every payer the member is covered by (mutual recognition)."""

    idempotency_key: str
    assessment_id: str
    member: dict[str, Any]
    agency_code: str
    concluded_on: str
    disabled_since: str
    grade: int
    levels: dict[str, str]
    scores: dict[str, dict[str, int]]
    effective_from: str
    valid_until: str


@dataclass(frozen=True, slots=True)
class AdjustmentNotice:
    """After a revision, what changes for this payer: top-ups (+) and recoveries (−) per line."""

    idempotency_key: str
    claim_id: str
    claim_number: str
    payer_code: str
    product_code: str
    round: int
    cause: str
    lines: tuple[dict[str, Any], ...]  # [{line_no, previous_paid_fen, paid_fen, delta_fen, kind}]


@dataclass(frozen=True, slots=True)
class VoidNotice:
    """The provider withdrew the claim: what this payer paid on it is recovered, per line (and the
    fixed-benefit months it granted through it). Sent to every payer that was asked for a share.

    A fixed-benefit month that another live claim of the member covers is not recovered: it stays
    granted, held by that claim from now on, and ``fixed_moved`` names it. The payer records the
    month as held by ``to_claim_id``, so it grants the month to no other claim of the member (a
    replacement of a third claim of that month included). A payer that does not read the field
    still parses the notice; the gateway then sets aside such a second grant (docs/corrections.md).
    """

    idempotency_key: str  # one per payer and product of the claim
    claim_id: str
    claim_number: str
    payer_code: str
    product_code: str
    reason: str
    lines: tuple[dict[str, Any], ...]  # [{line_no, previous_paid_fen, paid_fen, delta_fen, kind}]
    fixed: tuple[dict[str, Any], ...] = ()  # fixed benefit recovered: [{month, amount_fen}]
    # fixed benefit moved, not recovered:
    # [{month, amount_fen, payer_code, product_code, to_claim_id, to_claim_number}]
    fixed_moved: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> VoidNotice:
        """A notice as sent (``to_wire``); one written before ``fixed_moved`` existed moved nothing."""
        try:
            return cls(
                **{
                    **wire,
                    "lines": tuple(wire["lines"]),
                    "fixed": tuple(wire.get("fixed") or ()),
                    "fixed_moved": tuple(wire.get("fixed_moved") or ()),
                }
            )
        except KeyError as error:
            raise TypeError(f"not a void notice: no {error}") from None


@dataclass(frozen=True, slots=True)
class ReversalNotice:
    """A revision or a void undoes an earlier submission: the payer reverses it (冲正). Sent to
    adapters that can (``Reverses``); the others learn of the change by adjustment notices."""

    idempotency_key: str  # of this reversal: one reversal per submission undone
    claim_id: str
    payer_code: str
    product_code: str
    reverses_key: str  # the idempotency key of the submission undone
    payer_reference: str | None  # what the payer answered that submission with
    cause: str


@dataclass(frozen=True, slots=True)
class StatementEntry:
    claim_id: str
    line_no: int | None
    paid_fen: int
    payer_reference: str
    settled_on: str


def to_wire(message: Any) -> dict[str, Any]:
    """A dataclass message as a JSON-able dict (tuples become lists). One pass over the fields:
    ``dataclasses.asdict`` deep-copies every value first, and a share request was built several
    times a claim."""
    wire = _plain(message)
    assert isinstance(wire, dict)
    return wire


# a dataclass's field names, by class: ``dataclasses.fields`` for every message and line of every
# call was a tenth of a worker's CPU
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_ATOMS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter's payer does beyond the calls every adapter answers, declared by the adapter
    class (``capabilities = Capabilities(...)``) so the gateway asks the adapter, not its type.

    ``pulls_statements``: the nightly reconciliation calls ``pull_statement`` for this payer (a
    payer that uploads its statements instead says False).
    ``adjudicates_locally``: the payer has no integration of its own; the gateway adjudicates every
    share by the published product rules, sends it no notices and has nothing to check.
    ``pulls_totals``: the payer answers its own totals per clearing category and period
    (``adapters.sdk_totals.PullsTotals``); without it the gateway sums its statement lines.
    ``pulls_detail``: where totals differ, the payer answers its lines for that category and
    period (``adapters.sdk_totals.PullsDetail``); a payer with totals and neither detail nor statements is a
    totals-only payer: a period that differs is reported, not matched line by line.
    """

    pulls_statements: bool = True
    adjudicates_locally: bool = False
    pulls_totals: bool = False
    pulls_detail: bool = False


DEFAULT_CAPABILITIES = Capabilities()  # an adapter that declares none: a remote payer that is pulled


def capabilities_of(adapter: Any) -> Capabilities:
    """An adapter's (or an adapter class's, or a factory's) declared capabilities."""
    declared = getattr(adapter, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else DEFAULT_CAPABILITIES


@runtime_checkable
class PayerAdapter(Protocol):
    """How the gateway talks to one payer. Every method may raise TransientError or PermanentError.

    An adapter may declare a class attribute ``capabilities: Capabilities``; without one it is
    taken to be a remote payer whose statements are pulled (``DEFAULT_CAPABILITIES``).
    """

    payer_code: str

    async def deliver_assessment(self, notice: AssessmentNotice) -> None: ...

    async def submit_share(self, request: ShareRequest) -> Decision: ...

    async def fetch_decision(self, idempotency_key: str) -> Decision: ...

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None: ...

    async def submit_void(self, notice: VoidNotice) -> None: ...

    async def pull_statement(self, business_date: date) -> list[StatementEntry]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Reverses(Protocol):
    """An adapter whose payer reverses an undone submission explicitly (冲正), idempotently."""

    async def reverse_share(self, notice: ReversalNotice) -> None: ...


@dataclass(frozen=True)
class FieldMap:
    """Renames between the gateway's field names and a payer's, by dotted path ('lines[].paid_fen').

    ``outbound`` maps gateway → payer on requests; ``inbound`` maps payer → gateway on answers.
    """

    outbound: Mapping[str, str] = field(default_factory=dict)
    inbound: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> FieldMap:
        config = config or {}
        return cls(dict(config.get("request", {})), dict(config.get("response", {})))

    def out(self, document: Any) -> Any:
        return remap(document, self.outbound)

    def into(self, document: Any) -> Any:
        return remap(document, self.inbound)


def remap(document: Any, renames: Mapping[str, str]) -> Any:
    """Move each ``source`` path to its ``target`` path (same depth of [] lists on both sides)."""
    for source, target in renames.items():
        document = _move(document, source.split("."), target.split("."))
    return document


def _move(node: Any, source: list[str], target: list[str]) -> Any:
    if not isinstance(node, dict) or not source:
        return node
    head, target_head = source[0], target[0]
    if head.endswith("[]"):
        key, target_key = head[:-2], target_head.removesuffix("[]")
        items = node.pop(key, None)
        if isinstance(items, list):
            node[target_key] = [_move(item, source[1:], target[1:]) for item in items]
        return node
    if len(source) == 1:
        if head in node:
            node[target_head] = node.pop(head)
        return node
    child = node.pop(head, None)
    if child is not None:
        node[target_head] = _move(child, source[1:], target[1:])
    return node
