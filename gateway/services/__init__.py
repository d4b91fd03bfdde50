"""The service layer: one function per use case. The API and the CLI call these; they hold the
transaction boundaries and turn domain faults into the errors of ``gateway.errors``."""
