"""The bureau's monthly figures, kept by the database's triggers (migration 0035) as every row
they sum is written, replaced or voided, so the fund page and the scorecards read a few
thousand rows rather than a year of payments and steps. Each row carries how many source rows
it sums: a group whose rows were all taken back (a void, a revision) is read as absent."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.tables.base import Base


class FundPaidMonthRow(Base):
    """Current, acknowledged line payments summed by month, payer, product and the member's
    district, the line's care setting ('' for a payment without its line) and the grade."""

    __tablename__ = "fund_paid_months"

    period_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_month: Mapped[str] = mapped_column(String(7), primary_key=True)
    payer_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    district: Mapped[str] = mapped_column(String(6), primary_key=True)  # '' for none
    setting: Mapped[str] = mapped_column(String(16), primary_key=True)
    grade: Mapped[int] = mapped_column(Integer, primary_key=True)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    payments: Mapped[int] = mapped_column(BigInteger)


class FundMemberMonthRow(Base):
    """Members' responsibility of the claims not voided, by the claim's service month."""

    __tablename__ = "fund_member_months"

    period_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_month: Mapped[str] = mapped_column(String(7), primary_key=True)
    member_fen: Mapped[int] = mapped_column(BigInteger)
    claims: Mapped[int] = mapped_column(BigInteger)


class FundFixedMonthRow(Base):
    """Acknowledged fixed benefits by month, payer and product."""

    __tablename__ = "fund_fixed_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    payer_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    benefits: Mapped[int] = mapped_column(BigInteger)


class ScorecardMonthRow(Base):
    """Per settling party (a tier-1 administrator, or the payer) and the claim's service month:
    the claims it has a step of, and reconciliation's mismatches against it."""

    __tablename__ = "scorecard_months"

    party: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    claims: Mapped[int] = mapped_column(BigInteger)
    mismatches: Mapped[int] = mapped_column(BigInteger)


class DecisionTimeRow(Base):
    """How many decided steps took ``seconds`` (a bucket's lower bound: the second below a
    minute, the minute below an hour, ten minutes below a day, the hour beyond), per party and
    the claim's service month: percentiles cannot be summed, a histogram can."""

    __tablename__ = "decision_times"

    party: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    seconds: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    steps: Mapped[int] = mapped_column(BigInteger)
