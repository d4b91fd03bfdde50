"""Stored messages: their personal fields sealed in place, opened to the same bytes."""

from __future__ import annotations

import base64
import json
import os

from gateway.storage import personal

MESSAGE = {
    "idempotency_key": "c:1:1",
    "member": {"id_number": "11010519491231002X", "name": "王秀英", "district": "330102", "lat": 30.2},
    "lines": [{"line_no": 1, "billed_fen": 450000}],
    "period": {"start": "2026-11-01", "end": "2026-11-30"},
}


def test_a_sealed_message_holds_no_personal_text_and_opens_to_the_same_bytes() -> None:
    sealed = personal.seal_fields(MESSAGE)
    text = json.dumps(sealed, ensure_ascii=False)
    assert "11010519491231002" not in text and "王秀英" not in text
    assert [k for k in sealed["member"]] == [k for k in MESSAGE["member"]]  # every key in its place
    assert sealed["member"]["district"] == "330102" and sealed["lines"] == MESSAGE["lines"]
    assert json.dumps(personal.open_fields(sealed)) == json.dumps(MESSAGE)
    assert personal.seal_fields(MESSAGE) != sealed  # a fresh nonce each time
    assert MESSAGE["member"]["name"] == "王秀英"  # the message itself is left as it was


def test_resealing_moves_only_what_an_older_key_sealed() -> None:
    sealed = personal.seal_fields(MESSAGE)
    unchanged, changed = personal.reseal_fields(sealed)
    assert (unchanged, changed) == (sealed, False)
    old = os.environ.get("LTC_DATA_KEYS")
    os.environ["LTC_DATA_KEYS"] = (
        "k9:" + base64.b64encode(os.urandom(32)).decode() + "," + (old or personal._DEVELOPMENT)
    )
    personal._keys.cache_clear()
    try:
        resealed, changed = personal.reseal_fields(sealed)
        assert changed and resealed["member"]["name"].startswith("k9:")
        assert personal.open_fields(resealed) == MESSAGE
    finally:
        if old is None:
            del os.environ["LTC_DATA_KEYS"]
        else:
            os.environ["LTC_DATA_KEYS"] = old
        personal._keys.cache_clear()
