"""Reading a request document: the public JSON Schema first, then the domain model.

Both report faults as JSON pointers so every error names its field.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

import schemas
from gateway.domain.numbers import MAX_DIGITS
from gateway.errors import Invalid

M = TypeVar("M", bound=BaseModel)


def parse(schema: str, model: type[M], document: Any) -> M:
    faults = schemas.faults(schema, document)
    if faults:
        raise Invalid(faults)
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise Invalid([(_pointer(e["loc"]), e["msg"]) for e in error.errors()]) from None


def _pointer(loc: tuple[int | str, ...]) -> str:
    return "".join(f"/{part}" for part in loc)


def digest(document: Any) -> str:
    """The same JSON document gives the same digest, whatever its key order or spacing."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _LongNumber:
    """An integer literal of more digits than any number the gateway takes: kept as a marker,
    because ``int()`` of 4,301 digits or more raises ValueError (CVE-2020-10735) and fewer are
    still no amount, id or count."""


def _integer(text: str) -> int | _LongNumber:
    return int(text) if len(text.lstrip("-")) <= MAX_DIGITS else _LongNumber()


def load_json(raw: str | bytes) -> Any:
    """``json.loads``, refusing (by pointer) an integer literal longer than ``MAX_DIGITS``.
    Raises ``json.JSONDecodeError``, ``UnicodeDecodeError`` or ``RecursionError`` as it does."""
    document = json.loads(raw, parse_int=_integer)
    # the document is walked for one only where the text has a run of that many digits
    if not (_DIGITS_TEXT.search(raw) if isinstance(raw, str) else _DIGITS_BYTES.search(raw)):
        return document
    faults = [(pointer, f"is an integer of more than {MAX_DIGITS} digits") for pointer in _long(document)]
    if faults:
        raise Invalid(faults)
    return document


_DIGITS_TEXT = re.compile(f"[0-9]{{{MAX_DIGITS + 1}}}")
_DIGITS_BYTES = re.compile(_DIGITS_TEXT.pattern.encode())


def _long(document: Any) -> list[str]:
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", document)]  # a stack, not recursion: a body may nest deep
    while stack and len(found) < 20:
        pointer, node = stack.pop()
        if isinstance(node, _LongNumber):
            found.append(pointer)
        elif isinstance(node, dict):
            stack.extend((f"{pointer}/{_escape(str(k))}", v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{pointer}/{n}", v) for n, v in enumerate(node))
    return found


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
