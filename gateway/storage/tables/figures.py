"""The bureau's monthly figures, kept by the database's triggers (migration 0035) as every row
they sum is written, replaced or voided, so the fund page and the scorecards read a few
thousand rows rather than a year of payments and steps. Each row carries how many source rows
it sums: a group whose rows were all taken back (a void, a revision) is read as absent.

A key's figures are spread over slots (migration 0037): on PostgreSQL each backend's triggers
write a slot of their own, so concurrent workers do not queue on one row; a reader sums the key's
rows over the slots, and ``gateway.storage.figure_slots.fold`` moves them back into slot 0."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.tables.base import Base


def slot_column() -> Mapped[int]:
    """The slot of a key's row: 0 (SQLite, the fold, the backfill) or a PostgreSQL backend's."""
    return mapped_column(SmallInteger, primary_key=True, default=0, server_default="0")


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
    slot: Mapped[int] = slot_column()
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    payments: Mapped[int] = mapped_column(BigInteger)


class FundMemberMonthRow(Base):
    """Members' responsibility of the claims not voided, by the claim's service month."""

    __tablename__ = "fund_member_months"

    period_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_month: Mapped[str] = mapped_column(String(7), primary_key=True)
    slot: Mapped[int] = slot_column()
    member_fen: Mapped[int] = mapped_column(BigInteger)
    claims: Mapped[int] = mapped_column(BigInteger)


class FundFixedMonthRow(Base):
    """Acknowledged fixed benefits by month, payer and product."""

    __tablename__ = "fund_fixed_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    payer_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = slot_column()
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    benefits: Mapped[int] = mapped_column(BigInteger)


class ScorecardMonthRow(Base):
    """Per settling party (a tier-1 administrator, or the payer) and the claim's service month:
    the claims it has a step of, and reconciliation's mismatches against it."""

    __tablename__ = "scorecard_months"

    party: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int] = slot_column()
    claims: Mapped[int] = mapped_column(BigInteger)
    mismatches: Mapped[int] = mapped_column(BigInteger)
    mismatch_fen: Mapped[int] = mapped_column(BigInteger)  # the sum of their differences, unsigned


class DecisionTimeRow(Base):
    """How many decided steps took ``seconds`` (a bucket's lower bound: the second below a
    minute, the minute below an hour, ten minutes below a day, the hour beyond), per party and
    the claim's service month: percentiles cannot be summed, a histogram can."""

    __tablename__ = "decision_times"

    party: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    seconds: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    slot: Mapped[int] = slot_column()
    steps: Mapped[int] = mapped_column(BigInteger)


class StatementMonthRow(Base):
    """A payer's statement lines by the month they were settled in: how many, how many arrived in
    a statement received by the day after (Beijing), and their days of lag summed. Kept by
    ``import_statement``, the one writer of statement lines."""

    __tablename__ = "statement_months"

    payer_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    lines: Mapped[int] = mapped_column(BigInteger)
    on_time: Mapped[int] = mapped_column(BigInteger)
    lag_days: Mapped[int] = mapped_column(BigInteger)
