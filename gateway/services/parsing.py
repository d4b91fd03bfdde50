"""Reading a request document: the public JSON Schema first, then the domain model.

Both report faults as JSON pointers so every error names its field.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

import schemas
from gateway.services.errors import Invalid

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
