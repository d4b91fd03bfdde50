"""What a use case can refuse with: domain errors that say what is wrong, in the domain's words,
and carry no transport. The HTTP API maps each class to a problem+json status
(``gateway.api.problems``), the CLI to a one-line message and its exit code."""

from __future__ import annotations

from gateway.domain.model import Fault


class ServiceError(Exception):
    """A refusal: ``detail`` says why; ``faults`` name the fields at fault (pointer, text)."""

    def __init__(self, detail: str, faults: list[Fault] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.faults = faults or []


class Invalid(ServiceError):
    """The request is well-formed JSON but breaks a rule; ``faults`` name the fields."""

    def __init__(self, faults: list[Fault]) -> None:
        faults = sorted(set(faults))
        first = faults[0]
        more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
        super().__init__(f"{first[0] or '/'}: {first[1]}{more}", faults)


class NotFound(ServiceError):
    """What was asked for does not exist (or is not the caller's to see)."""


class Conflict(ServiceError):
    """The request contradicts what is already recorded."""


class Forbidden(ServiceError):
    """The caller is known but may not do this."""


class Unauthenticated(ServiceError):
    """The caller could not be identified: no key, or one that is unknown or revoked."""


class Malformed(ServiceError):
    """The request body is not a document of the expected media type."""


class TooLarge(ServiceError):
    """The request is more work than the gateway takes at once (a file's bytes, rows or unpacked size)."""
