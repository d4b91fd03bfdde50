"""A business date far outside the data is refused by name (issue 18, item 4's last point), by
the API, the command line and the scheduler alike: 0001-01-01 made the run's window arithmetic
raise OverflowError (a 500, a traceback), and 9999-12-31 ran a night no data can belong to."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from gateway.bootstrap import Gateway
from gateway.errors import Invalid
from gateway.services.keys import Role
from ltc_gateway.scheduling import reconcile_once
from tests.integration.test_cli import ltc
from tests.integration.world import World


def latest(gateway: Gateway) -> date:
    return gateway.today() + timedelta(days=366)


@pytest.mark.parametrize("day", ["0001-01-01", "1999-12-31", "9999-12-31", "latest+1"])
def test_a_business_date_far_outside_the_data_is_refused_naming_the_field(world: World, day: str) -> None:
    if day == "latest+1":
        day = (latest(world.gateway) + timedelta(days=1)).isoformat()
    key = world.key(Role.RECONCILER, "zhang")
    for wait in (True, False):
        refused = world.post("/v1/reconciliation/runs", {"business_date": day, "wait": wait}, key)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/business_date"]
    assert world.get("/v1/reconciliation/runs", key).json()["runs"] == []  # no run row was made


def test_the_first_and_last_business_dates_a_run_takes(world: World) -> None:
    key = world.key(Role.RECONCILER, "zhang")
    for day in (date(2000, 1, 1), latest(world.gateway)):
        ran = world.post("/v1/reconciliation/runs", {"business_date": day.isoformat(), "wait": True}, key)
        assert ran.status_code == 201, ran.text


def test_the_scheduler_and_the_command_line_refuse_such_a_date_without_a_traceback(
    gateway: Gateway, tmp_path: Path
) -> None:
    with pytest.raises(Invalid) as refused:
        reconcile_once(gateway, date(1, 1, 1))
    assert refused.value.faults[0][0] == "/business_date"
    answer = ltc("reconcile", "--date", "0001-01-01", url=gateway.settings.database_url, cwd=tmp_path)
    assert answer.returncode == 2, answer.stderr
    assert "error: /business_date: must lie from 2000-01-01" in answer.stderr, answer.stderr
    assert "Traceback" not in answer.stderr
