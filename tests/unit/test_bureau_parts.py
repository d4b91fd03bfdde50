"""The pure parts of the bureau's pages: masking a stored request, a decision time as read."""

from __future__ import annotations

from gateway.services.dead_letters import masked
from reconciliation.ui.oversight_pages import duration


def test_a_stored_request_is_masked_at_every_depth_and_keeps_the_rest() -> None:
    request = {
        "member": {"id_number": "11010519491231002X", "name": "王秀英"},
        "lines": [{"member_id_number": "330106198001011234", "billed_fen": 100}],
        "claim_number": "P1",
    }
    assert masked(request) == {
        "member": {"id_number": "110105********002X", "name": "王**"},
        "lines": [{"member_id_number": "330106********1234", "billed_fen": 100}],
        "claim_number": "P1",
    }
    assert masked(None) is None


def test_a_decision_time_reads_in_the_largest_sensible_unit() -> None:
    assert [duration(s) for s in (None, 3.25, 150, 7300, 200000)] == [
        "—",
        "3.2 s",
        "2.5 min",
        "2.0 h",
        "2.3 d",
    ]
    assert duration(150, "zh") == "2.5 分钟"
