"""The SOAP sandbox payer: a spyne service with a WSDL, served by a threaded WSGI server."""

from __future__ import annotations

import logging
import threading
from datetime import date
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import spyne.const
from spyne import Application, Boolean, ComplexModel, Double, Fault, Integer, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication
from spyne.service import ServiceBase

from adapters.sdk import Decision
from ltc_sandbox.payer import Outcome, SandboxPayer

NAMESPACE = "urn:ltc-gateway:payer:v1"


def many(model: Any) -> Any:
    return model.customize(max_occurs="unbounded", min_occurs=0)


class Reason(ComplexModel):
    __namespace__ = NAMESPACE
    code = Unicode
    amount_fen = Integer


class Visit(ComplexModel):
    __namespace__ = NAMESPACE
    caregiver_id = Unicode
    check_in = Unicode
    check_out = Unicode
    lat = Double
    lon = Double
    method = Unicode


class ShareLine(ComplexModel):
    __namespace__ = NAMESPACE
    line_no = Integer
    service_code = Unicode
    setting = Unicode
    method = Unicode
    service_date = Unicode
    service_end_date = Unicode
    quantity = Integer
    unit_price_fen = Integer
    billed_fen = Integer
    exclusion = Unicode
    visit = Visit
    prior_paid_fen = Integer
    remaining_fen = Integer
    proposed_paid_fen = Integer
    proposed_reasons = many(Reason)
    repeated_units = Integer
    repeated_days = many(Unicode)


class Provider(ComplexModel):
    __namespace__ = NAMESPACE
    provider_code = Unicode
    district = Unicode
    designated = Boolean
    designated_from = Unicode
    designated_to = Unicode


class Member(ComplexModel):
    __namespace__ = NAMESPACE
    id_number = Unicode
    name = Unicode
    district = Unicode
    lat = Double
    lon = Double


class CoverageSpan(ComplexModel):
    __namespace__ = NAMESPACE
    start_date = Unicode
    end_date = Unicode


class AssessmentFacts(ComplexModel):
    __namespace__ = NAMESPACE
    assessment_id = Unicode
    grade = Integer
    concluded_on = Unicode
    disabled_since = Unicode
    effective_from = Unicode


class Period(ComplexModel):
    __namespace__ = NAMESPACE
    start = Unicode
    end = Unicode


class PriorPayer(ComplexModel):
    __namespace__ = NAMESPACE
    payer_code = Unicode
    product_code = Unicode
    paid_fen = Integer


class FixedMonth(ComplexModel):
    __namespace__ = NAMESPACE
    month = Unicode
    amount_fen = Integer


class UsageEntry(ComplexModel):
    __namespace__ = NAMESPACE
    period = Unicode
    fen = Integer


class ShareRequest(ComplexModel):
    __namespace__ = NAMESPACE
    idempotency_key = Unicode
    claim_id = Unicode
    claim_number = Unicode
    round = Integer
    seq = Integer
    payer_code = Unicode
    product_code = Unicode
    product_version = Integer
    adjudication = Unicode
    kind = Unicode
    provider = Provider
    member = Member
    coverage = CoverageSpan
    assessment = AssessmentFacts
    period = Period
    lines = many(ShareLine)
    prior_payers = many(PriorPayer)
    proposed_fixed = many(FixedMonth)
    limit_usage = many(UsageEntry)


class LineDecision(ComplexModel):
    __namespace__ = NAMESPACE
    line_no = Integer
    paid_fen = Integer
    reasons = many(Reason)


class DecisionMessage(ComplexModel):
    __namespace__ = NAMESPACE
    status = Unicode
    payer_reference = Unicode
    lines = many(LineDecision)
    fixed = many(FixedMonth)


class Score(ComplexModel):
    __namespace__ = NAMESPACE
    indicator = Unicode
    item = Unicode
    points = Integer


class Level(ComplexModel):
    __namespace__ = NAMESPACE
    indicator = Unicode
    level = Unicode


class AssessmentNotice(ComplexModel):
    __namespace__ = NAMESPACE
    idempotency_key = Unicode
    assessment_id = Unicode
    member = Member
    agency_code = Unicode
    concluded_on = Unicode
    disabled_since = Unicode
    grade = Integer
    levels = many(Level)
    scores = many(Score)
    effective_from = Unicode
    valid_until = Unicode


class AdjustmentLine(ComplexModel):
    __namespace__ = NAMESPACE
    line_no = Integer
    previous_paid_fen = Integer
    paid_fen = Integer
    delta_fen = Integer
    kind = Unicode


class AdjustmentNotice(ComplexModel):
    __namespace__ = NAMESPACE
    idempotency_key = Unicode
    claim_id = Unicode
    claim_number = Unicode
    payer_code = Unicode
    product_code = Unicode
    round = Integer
    cause = Unicode
    lines = many(AdjustmentLine)


class MovedMonth(ComplexModel):
    """A fixed-benefit month a void moved to another live claim of the member (not recovered)."""

    __namespace__ = NAMESPACE
    month = Unicode
    amount_fen = Integer
    payer_code = Unicode
    product_code = Unicode
    to_claim_id = Unicode
    to_claim_number = Unicode


class VoidNotice(ComplexModel):
    __namespace__ = NAMESPACE
    idempotency_key = Unicode
    claim_id = Unicode
    claim_number = Unicode
    payer_code = Unicode
    product_code = Unicode
    reason = Unicode
    lines = many(AdjustmentLine)
    fixed = many(FixedMonth)
    fixed_moved = many(MovedMonth)


class StatementLine(ComplexModel):
    __namespace__ = NAMESPACE
    claim_id = Unicode
    line_no = Integer
    paid_fen = Integer
    payer_reference = Unicode
    settled_on = Unicode


class Ack(ComplexModel):
    __namespace__ = NAMESPACE
    accepted = Boolean


def _plain(value: Any) -> Any:
    """A spyne object graph as plain dicts and lists (unset fields dropped)."""
    if isinstance(value, ComplexModel):
        return {k: _plain(v) for k, v in value.as_dict().items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _from_soap_share(request: ShareRequest) -> dict[str, Any]:
    wire = _plain(request)
    for name in ("lines", "prior_payers", "proposed_fixed"):
        wire[name] = wire.get(name) or []
    wire["limit_usage"] = {u["period"]: u["fen"] for u in wire.pop("limit_usage", None) or []}
    for line in wire["lines"]:
        for name in ("service_end_date", "exclusion", "visit", "proposed_paid_fen"):
            line.setdefault(name, None)
        line["proposed_reasons"] = line.get("proposed_reasons") or []
        line["repeated_units"] = line.get("repeated_units") or 0
        line["repeated_days"] = line.get("repeated_days") or []
    return wire


def _decision(decision: Decision) -> DecisionMessage:
    return DecisionMessage(
        status=decision.status,
        payer_reference=decision.payer_reference,
        lines=[
            LineDecision(
                line_no=d.line_no,
                paid_fen=d.paid_fen,
                reasons=[Reason(code=c, amount_fen=a) for c, a in d.reasons],
            )
            for d in decision.lines
        ],
        fixed=[FixedMonth(month=f["month"], amount_fen=f["amount_fen"]) for f in decision.fixed],
    )


def soap_application(payer: SandboxPayer) -> WsgiApplication:
    class PayerService(ServiceBase):
        @rpc(ShareRequest, _returns=DecisionMessage)
        def SubmitShare(ctx: Any, request: ShareRequest) -> DecisionMessage:
            outcome = payer.submit_share(_from_soap_share(request))
            if outcome == Outcome.FAIL:
                raise Fault("Server", "the payer's system is temporarily unavailable")
            if outcome == Outcome.CONFLICT:
                raise Fault("Client.Conflict", "this idempotency key was used with another request")
            if outcome == Outcome.MALFORMED:
                ctx.transport.resp_code = "200 OK"
                raise _Garbled()
            assert isinstance(outcome, Decision)
            return _decision(outcome)

        @rpc(Unicode, _returns=DecisionMessage)
        def FetchDecision(ctx: Any, idempotency_key: str) -> DecisionMessage:
            decision = payer.fetch_decision(idempotency_key)
            if decision is None:
                raise Fault("Client.NotFound", f"no decision for {idempotency_key}")
            return _decision(decision)

        @rpc(AssessmentNotice, _returns=Ack)
        def DeliverAssessment(ctx: Any, notice: AssessmentNotice) -> Ack:
            payer.deliver_assessment(_plain(notice))
            return Ack(accepted=True)

        @rpc(AdjustmentNotice, _returns=Ack)
        def SubmitAdjustment(ctx: Any, notice: AdjustmentNotice) -> Ack:
            payer.submit_adjustment(_plain(notice))
            return Ack(accepted=True)

        @rpc(VoidNotice, _returns=Ack)
        def SubmitVoid(ctx: Any, notice: VoidNotice) -> Ack:
            payer.submit_void(_plain(notice))
            return Ack(accepted=True)

        @rpc(Unicode, _returns=many(StatementLine))
        def PullStatement(ctx: Any, business_date: str) -> list[StatementLine]:
            return [StatementLine(**entry) for entry in payer.statement(date.fromisoformat(business_date))]

    application = Application(
        [PayerService],
        tns=NAMESPACE,
        name="LtcPayer",
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
    return WsgiApplication(application)


class _Garbled(Exception):
    """Raised inside the service to make the WSGI wrapper answer broken XML."""


def _wsgi(payer: SandboxPayer) -> Any:
    inner = soap_application(payer)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return inner(environ, start_response)
        except _Garbled:
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
            return [b"<soap11env:Envelope><not-closed>"]

    return app


# spyne runs a full gc.collect() after a request at most once a second, to close files promptly;
# in a process that also holds the REST sandboxes (and the benchmark) that stopped every thread
# for 70-130 ms each second. Our service opens no files.
spyne.const.MIN_GC_INTERVAL = float("inf")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's default backlog is 5: with more calls connecting at once (wsgiref closes
    # each connection), the kernel dropped their SYNs and the clients resent them a second later
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class SoapServer:
    """A real SOAP endpoint on a loopback port, in a background thread."""

    def __init__(self, payer: SandboxPayer, host: str = "127.0.0.1", port: int = 0) -> None:
        logging.getLogger("spyne").setLevel(logging.CRITICAL)  # faults we raise on purpose are not errors
        self.payer = payer
        self.httpd = make_server(
            host, port, _wsgi(payer), server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def wsdl(self) -> str:
        return self.url + "?wsdl"

    def start(self) -> SoapServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
