"""The 医保信息平台 profile for tier-1 payers: envelope, national algorithms, adapter."""

from adapters.hsa.adapter import HsaAdapter

__all__ = ["HsaAdapter"]
