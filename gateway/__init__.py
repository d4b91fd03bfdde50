"""ltc-gateway: one assessment and one claim, coordinated across the tiers of long-term care cover."""

__version__ = "0.1.0"
