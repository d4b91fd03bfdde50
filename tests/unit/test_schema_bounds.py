"""Every public schema bounds what reaches a column or a payer (issue 18, items 2 and 7): each
amount of fen within ±10^12 (``MAX_FEN``), each integer within a stated maximum, and each text
free of control characters (PostgreSQL refuses a NUL; no code, name or reference needs one)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

import schemas
from gateway.domain.numbers import MAX_FEN

NAMES = sorted(
    p.name.removesuffix(".schema.json")
    for p in resources.files(schemas).iterdir()
    if p.name.endswith(".schema.json")
)


def subschemas(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "type" in node:
            yield path, node
        for key, value in node.items():
            yield from subschemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from subschemas(value, f"{path}/{n}")


def types(node: dict[str, Any]) -> list[str]:
    kind = node["type"]
    return kind if isinstance(kind, list) else [kind]


def test_there_are_schemas_to_check() -> None:
    assert {"claim", "statement", "resolution", "decision", "product"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_amount_of_fen_in_every_schema_has_a_maximum_of_at_most_ten_to_the_twelve(name: str) -> None:
    amounts = [
        (path, node)
        for path, node in subschemas(schemas.load(name))
        if "integer" in types(node) and path.rsplit("/", 1)[-1].endswith("_fen")
    ]
    for path, node in amounts:
        assert "maximum" in node and node["maximum"] <= MAX_FEN, f"{name}{path}"
        assert "minimum" in node and node["minimum"] >= -MAX_FEN, f"{name}{path}"


@pytest.mark.parametrize("name", NAMES)
def test_every_integer_in_every_schema_has_a_range(name: str) -> None:
    for path, node in subschemas(schemas.load(name)):
        if "integer" in types(node) and "enum" not in node:
            assert "maximum" in node, f"{name}{path} has no maximum"


@pytest.mark.parametrize("name", NAMES)
def test_every_text_in_every_schema_refuses_a_nul(name: str) -> None:
    for path, node in subschemas(schemas.load(name)):
        if "string" not in types(node) or "enum" in node or "const" in node:
            continue
        # the validator checks these formats; "uri" it does not (no rfc3987 installed)
        pattern, form = node.get("pattern"), node.get("format")
        assert pattern or form in ("date", "date-time", "uuid"), f"{name}{path} takes any text"
        if pattern:
            assert not re.search(pattern, "a\x00b"), f"{name}{path} lets a NUL through"
            assert not re.search(pattern, "a\x1fb"), f"{name}{path} lets a control character through"
