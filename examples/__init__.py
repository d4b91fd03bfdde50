"""Example data shipped with the gateway: the sample products and the worked example of the
domain brief (used by ``ltc-gateway demo``, the tests, the simulation and the benchmarks)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def example(name: str) -> Any:
    """An example document by its path in this package (``worked-example.json``)."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


def example_products() -> list[dict[str, Any]]:
    """The sample product definitions, in file-name order (the folder also holds their payers'
    files, ``payer-*.json``, so that ``payers load`` of it registers every payer it names)."""
    folder = resources.files(__name__).joinpath("products")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    documents = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    return [d for d in documents if "product_code" in d]
