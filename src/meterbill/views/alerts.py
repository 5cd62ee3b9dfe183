"""The JSON shapes of spend alerts (``services.alerts``): an alert's definition, and its
state in a current period. Amounts are decimal text in the customer's currency with exactly
its minor digits (:func:`meterbill.core.money.money_text`)."""

from meterbill.core.catalog import Alert
from meterbill.core.events import time_text
from meterbill.core.money import money_text
from meterbill.services.alerts import AlertStatus

__all__ = ["alert_document", "alert_status_document"]


def alert_document(alert: Alert, currency: str) -> dict[str, object]:
    """An alert as defined: key, kind, threshold, product (or null) and currency."""
    return {
        "key": alert.key,
        "kind": alert.kind.value,
        "threshold": money_text(alert.threshold, currency),
        "product": alert.product,
        "currency": currency,
    }


def alert_status_document(status: AlertStatus) -> dict[str, object]:
    """An alert in one current period: its value now and whether (when, at what value) it
    fired there; ``plan`` and the period are null when the customer has no current one."""
    ref = status.ref
    currency = status.currency
    return {
        **alert_document(status.alert, status.currency),
        "plan": None if ref is None else ref.plan,
        "period_start": None if ref is None else time_text(ref.period.start),
        "period_end": None if ref is None else time_text(ref.period.end),
        "value": None if status.value is None else money_text(status.value, currency),
        "fired": status.fired_at is not None,
        "fired_at": time_text(status.fired_at),
        "fired_value": (
            None if status.fired_value is None else money_text(status.fired_value, currency)
        ),
    }
