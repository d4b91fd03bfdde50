"""The simulation page's words: ``simulation.<key>`` in the console's catalogues
(``reconciliation/ui/locale``), else a word of the console's frame."""

from __future__ import annotations

from collections.abc import Callable

from reconciliation.ui.i18n import translator


def words(lang: str) -> Callable[[str], str]:
    t = translator(lang)

    def s(key: str) -> str:
        text = t(key, "simulation")
        return t(key) if text == key else text

    return s
