"""The staff console's pure parts: yuan typed by a person, its word catalogues (one mechanism
with the documents'), refusals and the run's notes in Chinese, and its keyset cursors."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest

from gateway.domain.money import parse_yuan
from gateway.errors import Conflict, Forbidden, Invalid
from reconciliation.matching import MISMATCHES
from reconciliation.queue import ACTIONS, KIND_ACTIONS, actions_for
from reconciliation.queue_listing import _decode_cursor, encode_cursor
from reconciliation.ui.i18n import note_text, refusal, translator


@pytest.mark.parametrize(
    ("typed", "fen"),
    [("12.50", 1250), ("12.5", 1250), ("12", 1200), ("0.01", 1), (" 1,234.56 ", 123456), ("0", 0)],
)
def test_amounts_are_typed_in_yuan(typed: str, fen: int) -> None:
    assert parse_yuan(typed) == fen


@pytest.mark.parametrize("typed", ["12.505", "-1", "1,23", "1e3", "12,50", "", "十二", "10000000000.01"])
def test_anything_else_is_not_an_amount_in_yuan(typed: str) -> None:
    assert parse_yuan(typed) is None


def test_both_catalogues_have_the_same_words_and_every_kind_action_and_status() -> None:
    def load(lang: str) -> dict[str, str]:
        text = resources.files("reconciliation.ui").joinpath(f"locale/{lang}.json").read_text("utf-8")
        return dict(json.loads(text))

    zh, en = load("zh"), load("en")
    assert set(zh) == set(en)
    t = translator("zh")
    for kind in MISMATCHES:
        assert t(kind, "kinds") != kind
    for action in ACTIONS:
        assert t(action, "actions") != action
    assert t("GRADE_BELOW_THRESHOLD", "reasons") == "失能等级未达待遇标准"  # the documents' catalogue
    assert (
        translator("en")("total_items", count="3", difference="1.00")
        == "3 items, differences total 1.00 yuan"
    )


def test_refusals_and_the_runs_notes_are_in_the_pages_language() -> None:
    assert refusal(Invalid([("/note", "a note is required")]), "zh") == "请填写说明（每项处理都需要说明）。"
    four_eyes = Forbidden("four eyes: the resolution must be approved by another reconciler")
    assert "另一名对账员" in refusal(four_eyes, "zh")
    assert "another reconciler" in refusal(four_eyes, "en")
    assert (
        refusal(Conflict("mismatch 3 is resolved; there is nothing left to do"), "zh")
        == "该差异已处理完毕，无需再处理。"
    )
    assert note_text("found by the run of 2026-12-13", "zh") == "2026-12-13 的对账发现"
    assert note_text("已核对退款凭证", "zh") == "已核对退款凭证"  # a person's note as written


def test_each_kind_has_its_own_actions_and_a_waiting_item_only_approve() -> None:
    assert set(KIND_ACTIONS) == set(MISMATCHES)
    assert "accept_payer" not in actions_for("MISSING_AT_PAYER", "open")
    assert actions_for("OVER_COORDINATED", "open") == ["write_off", "carry_forward"]
    assert actions_for("AMOUNT_MISMATCH", "pending_approval") == ["approve"]
    assert actions_for("AMOUNT_MISMATCH", "resolved") == []


def test_a_cursor_goes_round_and_a_forged_one_is_refused_by_name() -> None:
    assert _decode_cursor(encode_cursor(date(2026, 12, 1), 7), "first_seen", "/after") == (
        date(2026, 12, 1),
        7,
    )
    assert _decode_cursor(encode_cursor(-150, 9), "difference", "/after") == (-150, 9)
    for forged in ("x", encode_cursor("abc", 1)):
        with pytest.raises(Invalid) as refused:
            _decode_cursor(forged, "difference", "/after")
        assert refused.value.faults[0][0] == "/after"
