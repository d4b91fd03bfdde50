"""The documents' words, kept as translation catalogues: one JSON file per language under
``locale/`` (a translator edits a file, not code). Chinese first; English on request.

The one catalogue mechanism of the project: the staff console keeps its own words the same way
(``reconciliation/ui/locale/``, read with ``catalogue(lang, "reconciliation.ui")``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

LANGUAGES = ("zh", "en")
DEFAULT = "zh"


@cache
def catalogue(lang: str, package: str = "gateway.documents") -> dict[str, str]:
    """``package``'s catalogue of ``lang``: its ``locale/<lang>.json``."""
    text = resources.files(package).joinpath(f"locale/{lang}.json").read_text(encoding="utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


@dataclass(frozen=True, slots=True)
class Translator:
    lang: str

    def __call__(self, key: str, **values: object) -> str:
        """The message in this language, else in Chinese, else the key itself (a reason code that
        a newer payer sends is shown as its code rather than failing the document)."""
        text = catalogue(self.lang).get(key) or catalogue(DEFAULT).get(key) or key.split(".", 1)[-1]
        return text.format(**values) if values else text

    def reason(self, code: str) -> str:
        return self(f"reason.{code}")


def negotiate(query_lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` wins; else the first language of Accept-Language we have; else Chinese."""
    if query_lang in LANGUAGES:
        return str(query_lang)
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, n, primary))
    return min(ranked)[2] if ranked else DEFAULT
