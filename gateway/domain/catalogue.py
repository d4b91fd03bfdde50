"""The catalogue of basic care services a claim line may bill (a city's own list, as data)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    category: str
    label: str
    settings: frozenset[str]
    standard_minutes: int | None  # billed time of one unit of a visit; None for bed-days and packages


class ServiceCatalogue:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.name: str = document.get("catalogue", "")
        self.services: dict[str, Service] = {
            s["code"]: Service(
                s["code"], s["category"], s["label"], frozenset(s["settings"]), s.get("standard_minutes")
            )
            for s in document["services"]
        }

    def get(self, code: str) -> Service | None:
        return self.services.get(code)

    @classmethod
    def from_file(cls, path: Path) -> ServiceCatalogue:
        return cls(json.loads(path.read_text(encoding="utf-8")))


@cache
def default_catalogue() -> ServiceCatalogue:
    text = resources.files("gateway").joinpath("data/services.json").read_text(encoding="utf-8")
    return ServiceCatalogue(json.loads(text))
