"""Sandbox payers: real REST and SOAP servers that behave like insurers, for tests and the demo.

They remember every submission per idempotency key (so a test can prove a step was sent with
one body only), adjudicate with their own product rules in payer mode, acknowledge the gateway's
proposal in gateway mode, and inject faults on request (failures, latency, garbled answers,
timeouts, pending answers decided later by callback).
"""
