"""Care providers (定点护理服务机构) and their designation by the bureau."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import Field

from gateway.domain.model import Fault, Value


class ProviderRegistration(Value):
    provider_code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(pattern=r"^\d{6}$")  # administrative division code of the district
    designated: bool
    designated_from: date | None = None
    designated_to: date | None = None


def provider_problems(provider: ProviderRegistration) -> list[Fault]:
    faults: list[Fault] = []
    if provider.designated and provider.designated_from is None:
        faults.append(("/designated_from", "is required when the provider is designated"))
    if (
        provider.designated_from
        and provider.designated_to
        and provider.designated_to < provider.designated_from
    ):
        faults.append(("/designated_to", "must not be before designated_from"))
    return faults


@dataclass(frozen=True, slots=True)
class Designation:
    """When a provider is designated (定点); None bounds are open."""

    designated: bool
    start: date | None = None
    end: date | None = None

    def on(self, day: date) -> bool:
        return (
            self.designated
            and (self.start is None or self.start <= day)
            and (self.end is None or day <= self.end)
        )
