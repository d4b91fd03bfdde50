"""A payer's product: who it covers, what it pays and how (the published product rules).

The public contract is ``schemas/product.schema.json``; this model is what the code works with
once a definition has passed that schema.
"""

from __future__ import annotations

from enum import StrEnum
from fractions import Fraction
from functools import cached_property

from pydantic import ConfigDict, Field, field_validator

from gateway.domain.model import Fault, Value
from gateway.domain.money import parse_ratio


class Setting(StrEnum):
    INSTITUTIONAL = "institutional"  # 机构护理
    COMMUNITY = "community"  # 社区护理
    HOME = "home"  # 居家上门护理
    FAMILY = "family"  # 居家亲情护理


class Method(StrEnum):
    PER_DIEM = "per_diem"  # 按床日
    PER_ITEM = "per_item"  # 按项目
    PACKAGE = "package"  # 按服务包


class Exclusion(StrEnum):
    """Costs another scheme or party should bear (not payable where a product excludes them)."""

    MEDICAL_INSURANCE = "medical_insurance"
    WORK_INJURY = "work_injury"
    THIRD_PARTY = "third_party"
    PUBLIC_HEALTH = "public_health"


class ProductKind(StrEnum):
    INDEMNITY = "indemnity"
    FIXED_BENEFIT = "fixed_benefit"


class Basis(StrEnum):
    BILLED = "billed"  # pays as if it were alone
    REMAINING = "remaining"  # pays a share of what earlier payers left


class Adjudication(StrEnum):
    GATEWAY = "gateway"  # the gateway applies the product rules; the payer acknowledges
    PAYER = "payer"  # the payer decides; the gateway checks the decision


class Eligibility(Value):
    min_grade: int = Field(ge=0, le=5)
    waiting_days: int = Field(default=0, ge=0)
    designated_providers_only: bool = False
    excluded: tuple[Exclusion, ...] = ()
    assessment_valid_days: int = Field(default=730, ge=1)
    min_disability_months: int = Field(default=6, ge=0)


class Benefit(Value):
    setting: Setting
    method: Method
    unit_limit_fen: int | None = Field(default=None, ge=0)
    ratio: str
    requires_visit_evidence: bool = False
    visit_radius_m: int | None = Field(default=None, gt=0)
    service_codes: tuple[str, ...] | None = None  # None: every catalogue service in this setting

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, value: str) -> str:
        parse_ratio(value)
        return value

    @cached_property
    def pay_ratio(self) -> Fraction:
        return parse_ratio(self.ratio)


class Limit(Value):
    period: str = Field(pattern="^(month|year)$")
    amount_fen: int = Field(ge=0)


class FixedBenefit(Value):
    monthly_fen: int = Field(ge=0)
    payee: str = "member"


class Product(Value):
    product_code: str
    name: str
    payer_code: str
    tier: int = Field(ge=1, le=3)
    kind: ProductKind
    basis: Basis | None = None
    adjudication: Adjudication = Adjudication.GATEWAY
    eligibility: Eligibility
    benefits: tuple[Benefit, ...] = ()
    limits: tuple[Limit, ...] = ()
    fixed_benefit: FixedBenefit | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    # Looked up for every line of every claim: indexed once per (immutable) product.
    @cached_property
    def _benefits(self) -> dict[tuple[Setting, Method], Benefit]:
        index: dict[tuple[Setting, Method], Benefit] = {}
        for benefit in self.benefits:
            index.setdefault((benefit.setting, benefit.method), benefit)
        return index

    @cached_property
    def _settings(self) -> frozenset[Setting]:
        return frozenset(b.setting for b in self.benefits)

    def benefit_for(self, setting: Setting, method: Method) -> Benefit | None:
        return self._benefits.get((setting, method))

    def covers_setting(self, setting: Setting) -> bool:
        return setting in self._settings

    def limit(self, period: str) -> int | None:
        amounts = [lim.amount_fen for lim in self.limits if lim.period == period]
        return min(amounts) if amounts else None


def product_problems(product: Product) -> list[Fault]:
    """Rules the JSON Schema cannot say: (JSON pointer, detail) for each fault."""
    faults: list[Fault] = []
    seen: set[tuple[Setting, Method]] = set()
    for i, benefit in enumerate(product.benefits):
        key = (benefit.setting, benefit.method)
        if key in seen:
            faults.append((f"/benefits/{i}", f"a second benefit for {benefit.setting}/{benefit.method}"))
        seen.add(key)
    periods = [lim.period for lim in product.limits]
    for i, period in enumerate(periods):
        if period in periods[:i]:
            faults.append((f"/limits/{i}/period", f"a second {period} limit"))
    return faults
