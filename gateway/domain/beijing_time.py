"""Business dates are Beijing dates (Asia/Shanghai), whatever the server's zone: the one Beijing
clock of the gateway, its reconciliation and its adapters (zoneinfo, not a fixed +8 h offset)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_date(moment: datetime) -> date:
    """The Beijing date of a moment (a naive one is taken as UTC, as the database stores it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).date()


def beijing_today() -> date:
    """Today's Beijing date, by the system clock."""
    return beijing_date(datetime.now(UTC))
