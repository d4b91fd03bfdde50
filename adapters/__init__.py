"""Payer adapters: how the gateway talks to each payer (REST, SOAP, or a plug-in)."""
