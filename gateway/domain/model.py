"""Base for the domain's value objects: immutable, strict about unknown fields."""

from pydantic import BaseModel, ConfigDict


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Fault = tuple[str, str]  # (JSON pointer of the field, what is wrong with it)
