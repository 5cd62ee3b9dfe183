"""Spend alerts in the setup document: read, written back, and every mistake named by path."""

from decimal import Decimal

import pytest

from meterbill.core.catalog import Alert, AlertKind
from meterbill.core.errors import InvalidSetup
from meterbill.core.setup import customer_to_document, parse_alert, parse_customer


def customer(*alerts: object, currency: str = "USD") -> dict[str, object]:
    return {"id": "acme", "name": "Acme", "currency": currency, "alerts": list(alerts)}


def test_alerts_are_read_and_written_back() -> None:
    document = customer(
        {"key": "total", "kind": "draft_total_above", "threshold": "100.00"},
        {"key": "api", "kind": "product_amount_above", "threshold": "20", "product": "api"},
        {"key": "low", "kind": "credit_balance_below", "threshold": "5.5"},
    )
    parsed = parse_customer(document, "customers[0]")
    assert parsed.alerts == (
        Alert("total", AlertKind.DRAFT_TOTAL_ABOVE, Decimal("100.00")),
        Alert("api", AlertKind.PRODUCT_AMOUNT_ABOVE, Decimal("20"), "api"),
        Alert("low", AlertKind.CREDIT_BALANCE_BELOW, Decimal("5.5")),
    )
    assert parse_customer(customer_to_document(parsed), "c") == parsed
    assert customer_to_document(parsed)["alerts"] == [
        {"key": "total", "kind": "draft_total_above", "threshold": "100.00"},
        {"key": "api", "kind": "product_amount_above", "threshold": "20", "product": "api"},
        {"key": "low", "kind": "credit_balance_below", "threshold": "5.5"},
    ]


@pytest.mark.parametrize(
    ("alert", "path", "problem"),
    [
        ({"key": "a", "kind": "total_above", "threshold": "1"}, "kind", "must be one of"),
        ({"key": "a", "kind": "draft_total_above"}, "threshold", "is required"),
        ({"key": "a", "kind": "draft_total_above", "threshold": 1.5}, "threshold", "quote it"),
        ({"key": "a", "kind": "draft_total_above", "threshold": "-1"}, "threshold", "negative"),
        (
            {"key": "a", "kind": "draft_total_above", "threshold": "1.001"},
            "threshold",
            "at most 2 decimal places (the minor unit of USD)",
        ),
        (
            {"key": "a", "kind": "draft_total_above", "threshold": "1e15"},
            "threshold",
            "magnitude below 10^15",
        ),
        ({"key": "a", "kind": "credit_balance_below", "threshold": "0"}, "threshold", "than 0"),
        ({"key": "a", "kind": "product_amount_above", "threshold": "1"}, "product", "required"),
        (
            {"key": "a", "kind": "draft_total_above", "threshold": "1", "product": "api"},
            "product",
            "only an alert of kind product_amount_above",
        ),
        ({"key": "a b", "kind": "draft_total_above", "threshold": "1"}, "key", "must match"),
        ({"key": "a", "kind": "draft_total_above", "threshold": "1", "x": 1}, "x", "unknown"),
    ],
)
def test_a_bad_alert_names_its_path(alert: dict[str, object], path: str, problem: str) -> None:
    with pytest.raises(InvalidSetup) as caught:
        parse_customer(customer(alert), "customers[3]")
    assert caught.value.path == f"customers[3].alerts[0].{path}"
    assert problem in caught.value.problem


def test_duplicate_keys_and_currencies_without_cents() -> None:
    twice = {"key": "a", "kind": "draft_total_above", "threshold": "1"}
    with pytest.raises(InvalidSetup) as caught:
        parse_customer(customer(twice, twice), "customers[0]")
    assert caught.value.path == "customers[0].alerts[1].key"
    assert "duplicate alert key 'a'" in caught.value.problem
    yen = {"key": "a", "kind": "draft_total_above", "threshold": "1.5"}
    with pytest.raises(InvalidSetup, match="at most 0 decimal places"):
        parse_customer(customer(yen, currency="JPY"), "customers[0]")


def test_parse_alert_alone_names_fields_without_a_prefix() -> None:
    with pytest.raises(InvalidSetup) as caught:
        parse_alert({"key": "a", "kind": "draft_total_above"}, "", currency="EUR")
    assert str(caught.value) == "threshold: is required"
