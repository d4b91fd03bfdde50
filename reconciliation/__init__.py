"""Nightly reconciliation of what payers settled against what the gateway expected."""
