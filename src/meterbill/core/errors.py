"""Errors the billing core raises on purpose.

    BillingError
    ├── InvalidSetup        a setup document that cannot be applied (carries the path)
    ├── InvalidEvent        a usage event that is rejected (carries the reason)
    ├── NotFound            a customer, invoice or other object that does not exist
    ├── Conflict            an action the object's state does not allow (void a paid invoice…)
    ├── Unpriced            a usage line with no price for its dimension value
    ├── Unrepresentable     an amount that cannot be rounded or stored as minor units
    ├── OutOfRange          a well-formed value beyond what is allowed (as_of too far
    │                       ahead, a payment above the amount due)
    ├── InvalidRequest      a request whose parameters cannot be honoured
    └── StorageUnavailable  the database cannot do the work now (read-only or full disk,
                            server gone, lock or pool wait timed out): try again later

Each class carries a stable ``code`` that the HTTP layer and the CLI show to users.
HTTP status codes are chosen in ``api/errors.py``, not here.
"""

from datetime import datetime
from typing import ClassVar

__all__ = [
    "BillingError",
    "Conflict",
    "InvalidEvent",
    "InvalidRequest",
    "InvalidSetup",
    "NotFound",
    "OutOfRange",
    "StorageUnavailable",
    "Unpriced",
    "Unrepresentable",
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


class Unrepresentable(BillingError):
    """An amount that cannot be rounded to, or stored as, integer minor units (spec 7).

    Raised where money is rounded (``core.money``) with the amount only; the layers that
    know more add the product (rating), the period (drafting) and the customer (services)
    with :meth:`within`, so the message names all three.
    """

    code = "amount_out_of_range"

    def __init__(
        self,
        detail: str,
        *,
        customer: str | None = None,
        product: str | None = None,
        period: tuple[datetime, datetime] | None = None,
    ) -> None:
        self.detail = detail
        self.customer = customer
        self.product = product
        self.period = period
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.customer is not None:
            where.append(f"customer {self.customer!r}")
        if self.product is not None:
            where.append(f"product {self.product!r}")
        if self.period is not None:
            start, end = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in self.period)
            where.append(f"period {start} → {end}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.detail}" if prefix else self.detail

    def within(
        self,
        *,
        customer: str | None = None,
        product: str | None = None,
        period: tuple[datetime, datetime] | None = None,
    ) -> "Unrepresentable":
        """The same error with the details it does not name yet filled in."""
        return Unrepresentable(
            self.detail,
            customer=self.customer if self.customer is not None else customer,
            product=self.product if self.product is not None else product,
            period=self.period if self.period is not None else period,
        )


class OutOfRange(BillingError):
    code = "out_of_range"


class InvalidRequest(BillingError):
    code = "invalid_request"


class StorageUnavailable(BillingError):
    """Raised by ``db`` for an operational failure of the database, never by the core; the
    request itself may be fine, and the same request may succeed later."""

    code = "storage_unavailable"
