"""What a use case can refuse with. The API renders each as RFC 9457 problem+json."""

from __future__ import annotations

from gateway.domain.model import Fault


class ServiceError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, faults: list[Fault] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.faults = faults or []


class Invalid(ServiceError):
    """The request is well-formed JSON but breaks a rule; ``faults`` name the fields."""

    status = 422
    title = "Invalid request"

    def __init__(self, faults: list[Fault]) -> None:
        faults = sorted(set(faults))
        first = faults[0]
        more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
        super().__init__(f"{first[0] or '/'}: {first[1]}{more}", faults)


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"
