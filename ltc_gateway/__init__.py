"""The composition root: the assembled service. The gateway's API and reconciliation's routes and
staff UI in one ASGI app (``ltc_gateway.app``, served as ``ltc_gateway.asgi:app``), the command
line split by concern (``ltc_gateway.cli``) and the reconciliation schedule
(``ltc_gateway.scheduling``). Nothing in ``gateway/``, ``adapters/`` or ``reconciliation/``
imports it; it is the one place the gateway and reconciliation are put together."""
