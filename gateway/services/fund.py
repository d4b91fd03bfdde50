"""The fund page's figures (issue 22 §1): what was paid in a year per month, tier, payer and
product, and by district, care setting and grade; the members' responsibility; fixed benefits
apart; and for each tier-1 fund the budget the bureau entered against what was paid, and the
months of payment its recorded balance leaves, with a warning below the bureau's threshold.
Each figure is read from the monthly sums migration 0035's triggers keep as payments, fixed
benefits and claims are written, replaced or voided; ``live=True`` sums the rows themselves."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.money import parse_yuan
from gateway.errors import Invalid, NotFound
from gateway.storage.tables import (
    AssessmentRow,
    ClaimLineRow,
    ClaimRow,
    FixedBenefitRow,
    FundFiguresRow,
    FundFixedMonthRow,
    FundMemberMonthRow,
    FundPaidMonthRow,
    LinePaymentRow,
    MemberRow,
    PayerRow,
    ProductRow,
    utcnow,
)

DIMENSIONS = ("district", "setting", "grade")
EARLIEST, LATEST = 2000, 2100
LARGEST_FEN = 10**15


def _paid(year: int) -> Any:
    payment = LinePaymentRow
    return (
        select(func.sum(payment.paid_fen))
        .select_from(payment)
        .join(ProductRow, ProductRow.product_code == payment.product_code)
        .where(payment.current.is_(True), payment.provisional.is_(False), payment.period_year == year)
    )


def _dimension(name: str) -> Any:
    return {
        "district": MemberRow.district,
        "setting": ClaimLineRow.setting,
        "grade": AssessmentRow.grade,
    }[name]


def _live(session: Session, year: int) -> tuple[list[Any], dict[str, list[Any]], list[Any], list[Any]]:
    """The figures from the rows themselves: what the kept monthly figures must equal."""
    payment = LinePaymentRow
    keys = (payment.period_month, ProductRow.tier, payment.payer_code, payment.product_code)
    by_month = [
        {"month": m, "tier": tier, "payer_code": payer, "product_code": product, "paid_fen": int(fen or 0)}
        for m, tier, payer, product, fen in session.execute(
            _paid(year).with_only_columns(*keys, func.sum(payment.paid_fen)).group_by(*keys).order_by(*keys)
        )
    ]
    by: dict[str, list[dict[str, Any]]] = {}
    for name in DIMENSIONS:
        column = _dimension(name)
        statement = _paid(year).join(ClaimRow, ClaimRow.claim_id == payment.claim_id)
        if name == "district":
            statement = statement.join(MemberRow, MemberRow.member_id == payment.member_id)
        elif name == "setting":
            statement = statement.join(
                ClaimLineRow,
                (ClaimLineRow.claim_id == payment.claim_id) & (ClaimLineRow.line_no == payment.line_no),
            )
        else:
            statement = statement.join(AssessmentRow, AssessmentRow.assessment_id == ClaimRow.assessment_id)
        group = (payment.period_month, ProductRow.tier, column)
        by[name] = [
            {
                "month": m,
                "tier": tier,
                "value": "" if value is None else str(value),
                "paid_fen": int(fen or 0),
            }
            for m, tier, value, fen in session.execute(
                statement.with_only_columns(*group, func.sum(payment.paid_fen))
                .group_by(*group)
                .order_by(*group)
            )
        ]
    month_of = (extract("year", ClaimRow.period_start), extract("month", ClaimRow.period_start))
    member = [
        {"month": f"{int(y):04d}-{int(m):02d}", "member_fen": int(fen or 0)}
        for y, m, fen in session.execute(
            select(*month_of, func.sum(ClaimRow.member_responsibility_fen))
            .where(
                month_of[0] == year,
                ClaimRow.status != "voided",
                ClaimRow.member_responsibility_fen.is_not(None),
            )
            .group_by(*month_of)
            .order_by(*month_of)
        )
    ]
    fixed_keys = (FixedBenefitRow.month, FixedBenefitRow.payer_code, FixedBenefitRow.product_code)
    fixed = [
        {"month": m, "payer_code": payer, "product_code": product, "amount_fen": int(fen or 0)}
        for m, payer, product, fen in session.execute(
            select(*fixed_keys, func.sum(FixedBenefitRow.amount_fen))
            .where(FixedBenefitRow.provisional.is_(False), FixedBenefitRow.month.like(f"{year:04d}-%"))
            .group_by(*fixed_keys)
            .order_by(*fixed_keys)
        )
    ]
    return by_month, by, member, fixed


def _kept(session: Session, year: int) -> tuple[list[Any], dict[str, list[Any]], list[Any], list[Any]]:
    """The figures from the monthly sums the triggers of migration 0035 keep (a few thousand
    rows a year, summed over their slots: migration 0037); a group whose payments were all taken
    back counts no payment and is absent."""
    paid = FundPaidMonthRow
    kept = (
        select()
        .select_from(paid)
        .join(ProductRow, ProductRow.product_code == paid.product_code)
        .where(paid.period_year == year)
        .having(func.sum(paid.payments) > 0)
    )
    keys = (paid.period_month, ProductRow.tier, paid.payer_code, paid.product_code)
    by_month = [
        {"month": m, "tier": tier, "payer_code": payer, "product_code": product, "paid_fen": int(fen or 0)}
        for m, tier, payer, product, fen in session.execute(
            kept.add_columns(*keys, func.sum(paid.paid_fen)).group_by(*keys).order_by(*keys)
        )
    ]
    by: dict[str, list[dict[str, Any]]] = {}
    for name in DIMENSIONS:
        column = {"district": paid.district, "setting": paid.setting, "grade": paid.grade}[name]
        statement = kept.where(paid.setting != "") if name == "setting" else kept  # a line-less payment
        group = (paid.period_month, ProductRow.tier, column)
        by[name] = [
            {"month": m, "tier": tier, "value": str(value), "paid_fen": int(fen or 0)}
            for m, tier, value, fen in session.execute(
                statement.add_columns(*group, func.sum(paid.paid_fen)).group_by(*group).order_by(*group)
            )
        ]
    months = FundMemberMonthRow  # a key's rows summed over their slots (migration 0037)
    member = [
        {"month": m, "member_fen": int(fen)}
        for m, fen in session.execute(
            select(months.period_month, func.sum(months.member_fen))
            .where(months.period_year == year)
            .group_by(months.period_month)
            .having(func.sum(months.claims) > 0)
            .order_by(months.period_month)
        )
    ]
    f = FundFixedMonthRow
    fixed_key = (f.month, f.payer_code, f.product_code)
    fixed = [
        {"month": m, "payer_code": payer, "product_code": product, "amount_fen": int(fen)}
        for m, payer, product, fen in session.execute(
            select(*fixed_key, func.sum(f.amount_fen))
            .where(f.month.like(f"{year:04d}-%"))
            .group_by(*fixed_key)
            .having(func.sum(f.benefits) > 0)
            .order_by(*fixed_key)
        )
    ]
    return by_month, by, member, fixed


def report(session: Session, year: int, live: bool = False) -> dict[str, Any]:
    """The year's figures, from the kept monthly sums (``live``: from the rows, as a check)."""
    if not EARLIEST <= year <= LATEST:
        raise Invalid([("/year", f"a year from {EARLIEST} to {LATEST}")])
    by_month, by, member, fixed = (_live if live else _kept)(session, year)
    return {
        "year": year,
        "by_month": by_month,
        "by": by,
        "member": member,
        "fixed": fixed,
        "funds": _funds(session, year, by_month, fixed),
    }


def _funds(
    session: Session, year: int, by_month: list[dict[str, Any]], fixed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each tier-1 fund: budget against paid, and the months of payment its balance leaves at the
    average of the months paid so far (fixed benefits included: they are the fund's money too)."""
    tier1 = list(session.scalars(select(ProductRow.payer_code).where(ProductRow.tier == 1).distinct()))
    figures = {
        f.payer_code: f for f in session.scalars(select(FundFiguresRow).where(FundFiguresRow.year == year))
    }
    funds = []
    for payer in sorted(set(tier1) | set(figures)):
        monthly: dict[str, int] = {}
        for row in by_month:
            if row["payer_code"] == payer and row["tier"] == 1:
                monthly[row["month"]] = monthly.get(row["month"], 0) + row["paid_fen"]
        for row in fixed:
            if row["payer_code"] == payer:
                monthly[row["month"]] = monthly.get(row["month"], 0) + row["amount_fen"]
        paid = sum(monthly.values())
        average = paid // len(monthly) if monthly else 0
        f = figures.get(payer)
        balance = f.balance_fen if f else None
        months_left = round(balance / average, 1) if balance is not None and average > 0 else None
        funds.append(
            {
                "payer_code": payer,
                "paid_fen": paid,
                "monthly_average_fen": average,
                "budget_fen": f.budget_fen if f else None,
                "budget_used": round(paid / f.budget_fen * 100, 1) if f and f.budget_fen else None,
                "balance_fen": balance,
                "balance_on": f.balance_on if f else None,
                "warn_months": f.warn_months if f else None,
                "months_left": months_left,
                "warning": months_left is not None and f is not None and months_left < f.warn_months,
                "over_budget": bool(f and f.budget_fen and paid > f.budget_fen),
            }
        )
    return funds


def set_figures(session: Session, actor: str, form: dict[str, str]) -> dict[str, Any]:
    """The bureau enters a tier-1 fund's budget, balance and warning for a year (typed in yuan)."""
    faults: list[tuple[str, str]] = []
    payer = form.get("payer_code", "").strip()
    if (
        session.get(PayerRow, payer) is None
        or session.scalar(
            select(ProductRow.product_code)
            .where(ProductRow.payer_code == payer, ProductRow.tier == 1)
            .limit(1)
        )
        is None
    ):
        raise NotFound(f"no tier-1 fund {payer!r}", [("/payer_code", "a tier-1 payer")])
    year = int(form["year"]) if form.get("year", "").strip().isdigit() and len(form["year"]) == 4 else 0
    if not EARLIEST <= year <= LATEST:
        faults.append(("/year", f"a year from {EARLIEST} to {LATEST}"))
    budget = parse_yuan(form.get("budget", ""))
    if budget is None or not 0 <= budget < LARGEST_FEN:
        faults.append(("/budget", "an amount in yuan, e.g. 1200000.00"))
    balance = parse_yuan(form["balance"]) if form.get("balance", "").strip() else None
    if form.get("balance", "").strip() and (balance is None or not 0 <= balance < LARGEST_FEN):
        faults.append(("/balance", "an amount in yuan, e.g. 300000.00"))
    try:
        balance_on = date.fromisoformat(form["balance_on"]) if form.get("balance_on", "").strip() else None
    except ValueError:
        balance_on = None
        faults.append(("/balance_on", "a date, e.g. 2026-12-01"))
    warn = form.get("warn_months", "3").strip()
    if not (warn.isdigit() and 0 < int(warn) <= 60):
        faults.append(("/warn_months", "a whole number of months, 1 to 60"))
    if faults:
        raise Invalid(faults)
    row = session.scalar(
        select(FundFiguresRow).where(FundFiguresRow.payer_code == payer, FundFiguresRow.year == year)
    )
    if row is None:
        row = FundFiguresRow(payer_code=payer, year=year, budget_fen=0, updated_by=actor)
        session.add(row)
    before = {"budget_fen": row.budget_fen, "balance_fen": row.balance_fen}
    row.budget_fen, row.balance_fen, row.balance_on = budget, balance, balance_on  # type: ignore[assignment]
    row.warn_months, row.updated_by, row.updated_at = int(warn), actor, utcnow()
    audit.record(
        session,
        "fund.figures",
        f"fund:{payer}/{year}",
        actor,
        before=before,
        budget_fen=budget,
        balance_fen=balance,
        balance_on=balance_on,
        warn_months=int(warn),
    )
    session.flush()
    return {"payer_code": payer, "year": year}
