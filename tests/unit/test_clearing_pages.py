"""The settlement batches' list pages: previous and next keep the filters."""

from __future__ import annotations

from reconciliation.ui.batch_pages import _pages


def test_the_batch_list_pages_keep_the_filters() -> None:
    rows = [{}] * 50
    assert _pages({"status": "cleared"}, {"total": 120, "offset": 0, "batches": rows}) == {
        "next": "status=cleared&offset=50"
    }
    assert _pages({"offset": "100"}, {"total": 120, "offset": 100, "batches": rows[:20]}) == {
        "previous": "offset=50"
    }
