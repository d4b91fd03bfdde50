"""Draft product versions: the rules a simulation replays claims under (domain.md section 9).

A draft names a registered product and either gives a whole product document or ``changes`` to
its definition. Changes merge into the definition: objects key by key, ``benefits`` by their
(setting, method), ``limits`` by their period (an ``amount_fen`` of null removes the limit); any
other value replaces the one before. The result is validated as a product is when it is loaded
(the product schema and ``product_problems``), so a draft can say nothing a product cannot.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.domain.products import Product, product_problems
from gateway.errors import Invalid
from gateway.parsing import parse


def _merge_keyed(base: list[Any], changes: list[Any], key: Sequence[str], pointer: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in base]
    for i, change in enumerate(changes):
        if not isinstance(change, Mapping) or any(k not in change for k in key):
            raise Invalid([(f"{pointer}/{i}", f"a change names its {' and '.join(key)}")])
        found = next((m for m in merged if all(m.get(k) == change[k] for k in key)), None)
        if found is None:
            merged.append(dict(change))
        else:
            found.update(change)
    return merged


def merge(
    definition: Mapping[str, Any], changes: Mapping[str, Any], pointer: str = "/changes"
) -> dict[str, Any]:
    """The definition with ``changes`` applied (see the module docstring)."""
    result = copy.deepcopy(dict(definition))
    for name, value in changes.items():
        here = f"{pointer}/{name}"
        if name == "benefits" and isinstance(value, list):
            result[name] = _merge_keyed(result.get(name, []), value, ("setting", "method"), here)
        elif name == "limits" and isinstance(value, list):
            limits = _merge_keyed(result.get(name, []), value, ("period",), here)
            result[name] = [lim for lim in limits if lim.get("amount_fen") is not None]
        elif isinstance(value, Mapping) and isinstance(result.get(name), Mapping):
            result[name] = merge(result[name], value, here)
        else:
            result[name] = copy.deepcopy(value)
    return result


def draft_product(document: Mapping[str, Any], current: Mapping[str, Mapping[str, Any]]) -> Product:
    """One draft as a product; ``current``: each registered product's definition by code."""
    code = document.get("product_code")
    if not isinstance(code, str) or code not in current:
        raise Invalid([("/product_code", f"no registered product {code!r}")])
    if "changes" in document:
        changes = document["changes"]
        if not isinstance(changes, Mapping):
            raise Invalid([("/changes", "must be an object")])
        if changes.get("product_code", code) != code or changes.get("payer_code", None) not in (
            None,
            current[code]["payer_code"],
        ):
            raise Invalid([("/changes", "a draft changes a product's rules, not which product it is")])
        definition = merge(current[code], changes)
    else:
        definition = dict(document)
        if definition.get("payer_code") != current[code]["payer_code"]:
            raise Invalid([("/payer_code", f"{code} belongs to payer {current[code]['payer_code']}")])
    product = parse("product", Product, definition)
    faults = product_problems(product)
    if faults:
        raise Invalid(faults)
    return product


def draft_products(
    documents: Sequence[Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]]
) -> dict[str, Product]:
    """Every draft by product code; faults point into the list (``/drafts/<i>/...``)."""
    drafts: dict[str, Product] = {}
    for i, document in enumerate(documents):
        try:
            product = draft_product(document, current)
        except Invalid as error:
            raise Invalid([(f"/drafts/{i}{pointer}", detail) for pointer, detail in error.faults]) from None
        if product.product_code in drafts:
            raise Invalid([(f"/drafts/{i}/product_code", f"a second draft of {product.product_code}")])
        drafts[product.product_code] = product
    return drafts
