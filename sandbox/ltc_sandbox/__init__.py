"""Sandbox payers: real REST and SOAP servers that behave like insurers, for tests and the demo.

A distribution of its own (``sandbox/``, ``ltc-gateway-sandbox``), never in the production
package or image: nothing in the product imports it; it adds its commands (``demo``, ``sandbox``,
``reconcile-generate``) to ``ltc-gateway`` through the ``ltc_gateway.commands`` entry points.

They remember every submission per idempotency key (so a test can prove a step was sent with
one body only), adjudicate with their own product rules in payer mode, acknowledge the gateway's
proposal in gateway mode, and inject faults on request (failures, latency, garbled answers,
timeouts, pending answers decided later by callback).

``SandboxPayers`` runs the set the demo uses, matching the example products:

* two tier-1 administrators (承办机构) of the city fund over REST, in gateway mode, each taking
  some districts;
* the 惠民保 insurer over REST in payer mode (it adjudicates with its own product rules);
* the commercial insurer over SOAP (a WSDL served by spyne) in payer mode.

With ``hsa=True`` the eastern administrator speaks the 医保信息平台 profile instead
(``sandbox/ltc_sandbox/hsa_app.py``: signed, SM4-encrypted), the documented alternative tier-1 payer.

The set lives in ``ltc_sandbox.payer_set``. This package imports nothing: ``ltc-gateway`` loads
the sandbox's commands on every start, and the servers' libraries (spyne, httpx, uvicorn) cost
about a second of CPU each time.
"""
