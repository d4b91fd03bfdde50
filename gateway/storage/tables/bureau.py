"""The bureau's own records: what it did with each item of its supervision queue (assigned to a
person, noted, closed with a reason), and the tier-1 fund's figures it enters for a year (the
budget, the balance it last recorded, the months-left warning)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.tables.base import Base, utcnow


class SupervisionItemRow(Base):
    """The bureau's handling of one thing to look at: a flag on a claim, or a notice the outbox
    gave up on. The thing itself stays where it was recorded; this row exists once it is touched."""

    __tablename__ = "supervision_items"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # flag | outbox
    source_id: Mapped[int] = mapped_column(Integer)
    assignee: Mapped[str | None] = mapped_column(String(64))
    closed_reason: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SupervisionNoteRow(Base):
    """A note a person left on a supervision item, kept in order."""

    __tablename__ = "supervision_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("supervision_items.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class FundFiguresRow(Base):
    """What the bureau enters for a tier-1 fund and year: the budget, the balance it last
    recorded (and on which day), and below how many months of payment left to warn."""

    __tablename__ = "fund_figures"
    __table_args__ = (UniqueConstraint("payer_code", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payer_code: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    balance_fen: Mapped[int | None] = mapped_column(BigInteger)
    balance_on: Mapped[date | None]
    warn_months: Mapped[int] = mapped_column(Integer, default=3)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
