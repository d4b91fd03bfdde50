"""The provider portal's words: both catalogues hold the same keys, and every word a template asks
for by name is in them (a missing one would show as its key)."""

from __future__ import annotations

import re
from importlib import resources

from gateway.documents.translations import catalogue
from ltc_gateway.portal.web import PACKAGE, translator

ASKED = re.compile(r"""\bt\('([a-z_.]+)'\)""")


def test_both_catalogues_hold_every_word_the_templates_ask_for() -> None:
    zh, en = catalogue("zh", PACKAGE), catalogue("en", PACKAGE)
    assert set(zh) == set(en)
    folder = resources.files(PACKAGE).joinpath("templates")
    asked = {key for page in folder.iterdir() for key in ASKED.findall(page.read_text(encoding="utf-8"))}
    assert asked and asked <= set(zh), sorted(asked - set(zh))


def test_a_word_with_a_value_and_an_unknown_status() -> None:
    assert translator("en")("file_too_large", limit=10) == "The file is larger than 10 bytes; split it."
    assert translator("zh")("step.some_new_status") == "some_new_status"
