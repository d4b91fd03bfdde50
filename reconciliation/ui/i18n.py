"""The staff console's words, Chinese first; ``?lang=en`` (remembered in a cookie) switches to
English. They are kept as translation catalogues, as the documents' are (one JSON file per
language in ``locale/``, read by ``gateway.documents.translations``); a payer's reason codes
come from the documents' catalogue, so both say the same thing.

``t(key)`` is a word of the console (``ui.<key>``); ``t(key, table)`` one of a named table:
kinds, actions, statuses, phases, reasons, and the clearing and simulation pages' words."""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.documents.translations import DEFAULT, LANGUAGES, catalogue
from gateway.errors import Conflict, Forbidden, NotFound, ServiceError

__all__ = ["LANGUAGES", "note_text", "refusal", "translator"]

PACKAGE = "reconciliation.ui"
TABLES = {
    "words": "ui",
    "kinds": "kind",
    "actions": "action",
    "statuses": "status",
    "reasons": "reason",
    "clearing": "clearing",
    "simulation": "simulation",
    "bureau": "bureau",
}
Translate = Callable[..., str]


def _lookup(lang: str, key: str) -> str | None:
    for language in (lang, DEFAULT):
        text = catalogue(language, PACKAGE).get(key) or catalogue(language).get(key)
        if text:
            return text
    return None


def translator(lang: str) -> Translate:
    def t(key: str, table: str = "words", **values: object) -> str:
        if table == "phases":
            full = f"ui.phase.{key}"
        else:
            full = f"{TABLES[table]}.{key}" if table in TABLES else key
        text = _lookup(lang, full)
        if text is None:
            return key  # a code newer than the catalogue is shown as itself
        return text.format(**values) if values else text

    return t


# the run's notes in the audit trail (reconciliation.sql.items.ITEM_NOTES), as catalogue keys
_RUN_NOTES = (
    (re.compile(r"^the run of (\d{4}-\d\d-\d\d) found it again$"), "note.found_again"),
    (re.compile(r"^the run of (\d{4}-\d\d-\d\d) found other amounts"), "note.other_amounts"),
    (re.compile(r"^found by the run of (\d{4}-\d\d-\d\d)$"), "note.found"),
    (re.compile(r"^the run of (\d{4}-\d\d-\d\d) no longer finds it$"), "note.gone"),
)


def note_text(note: str, lang: str) -> str:
    """A history note in the page's language when the run wrote it; a person's note as written."""
    for pattern, key in _RUN_NOTES:
        match = pattern.match(note)
        if match:
            return translator(lang)(key, "", date=match.group(1))
    return note


def refusal(error: ServiceError, lang: str) -> str:
    """A refusal of the queue in the page's language: per field at fault where the catalogue
    knows the field, else by what the refusal is about; English pages keep the detail."""
    t = translator(lang)
    texts = [t(f"fault.{pointer}", "") for pointer, _ in error.faults]
    if texts and all(text != f"fault.{p}" for text, (p, _) in zip(texts, error.faults, strict=True)):
        return " ".join(dict.fromkeys(texts))
    if lang != DEFAULT:
        detail = error.detail if not error.faults else "; ".join(f"{p}: {d}" for p, d in error.faults)
        return detail
    if isinstance(error, Forbidden) and "named person" in error.detail:
        return t("refusal.named", "")
    if isinstance(error, Forbidden) and "four eyes" in error.detail:
        return t("refusal.four_eyes", "")
    if isinstance(error, NotFound):
        return t("refusal.not_found", "")
    if isinstance(error, Conflict):
        for marker, key in (
            ("nothing left to do", "closed"),
            ("waits for a second", "waiting"),
            ("already working", "running"),
        ):
            if marker in error.detail:
                return t(f"refusal.{key}", "")
    return t("refusal.other", "")
