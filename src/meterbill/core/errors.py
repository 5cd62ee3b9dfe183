"""Errors the billing core raises on purpose.

    BillingError
    ├── InvalidSetup        a setup document that cannot be applied (carries the path)
    ├── InvalidEvent        a usage event that is rejected (carries the reason)
    ├── NotFound            a customer, invoice or other object that does not exist
    ├── Conflict            an action the object's state does not allow (void a paid invoice…)
    ├── Unpriced            a usage line with no price for its dimension value
    └── InvalidRequest      a request whose parameters cannot be honoured

Each class carries a stable ``code`` that the HTTP layer and the CLI show to users.
HTTP status codes are chosen in ``api/errors.py``, not here.
"""

from typing import ClassVar

__all__ = [
    "BillingError",
    "Conflict",
    "InvalidEvent",
    "InvalidRequest",
    "InvalidSetup",
    "NotFound",
    "Unpriced",
]


class BillingError(Exception):
    code: ClassVar[str] = "billing_error"

    @property
    def message(self) -> str:
        return str(self)


class InvalidSetup(BillingError):
    """A setup document error; ``path`` names where, e.g. ``products[2].price.tiers[1]``."""

    code = "invalid_setup"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


class InvalidEvent(BillingError):
    code = "invalid_event"


class NotFound(BillingError):
    code = "not_found"


class Conflict(BillingError):
    code = "conflict"


class Unpriced(BillingError):
    code = "unpriced"


class InvalidRequest(BillingError):
    code = "invalid_request"
