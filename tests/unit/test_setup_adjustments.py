"""Setup fields of spec 6.3-6.6: product minimum, maximum and tax_exempt, customer discounts
and taxes, settings taxes and seller; errors name the path; documents round-trip."""

import copy
from decimal import Decimal

import pytest

from meterbill.core.catalog import Catalog, Discount, Seller, Settings, Tax
from meterbill.core.errors import InvalidSetup
from meterbill.core.setup import (
    check_references,
    customer_to_document,
    parse_customer,
    parse_setup,
    setup_to_document,
)
from tests.builders import at

BASE: dict[str, object] = {
    "settings": {
        "taxes": [{"key": "vat20", "name": "VAT 20%", "rate": "0.20"}],
        "seller": {
            "name": "Cloudworks Ltd",
            "address": "1 Example Street",
            "email": "billing@cloudworks.example",
            "tax_id": "GB123456789",
        },
    },
    "meters": [{"key": "hours", "name": "Hours", "event_type": "compute", "aggregation": "count"}],
    "products": [
        {
            "key": "compute",
            "name": "Compute",
            "meter": "hours",
            "price": {"model": "per_unit", "unit_price": "0.40"},
            "minimum": "10.00",
            "maximum": "600.00",
        },
        {
            "key": "support",
            "name": "Support",
            "price": {"model": "flat", "amount": "150.00"},
            "tax_exempt": True,
        },
    ],
    "plans": [{"key": "growth", "name": "Growth", "interval": "month", "products": ["compute"]}],
    "customers": [
        {
            "id": "nimbus",
            "name": "Nimbus",
            "taxes": ["vat20"],
            "discounts": [
                {
                    "key": "launch",
                    "percent": "10",
                    "products": ["compute"],
                    "starts_at": "2026-01-01T00:00:00Z",
                    "periods": 2,
                },
                {"key": "goodwill", "amount": "75.00", "starts_at": "2026-02-01T00:00:00Z"},
            ],
        }
    ],
}


def document(**changes: object) -> dict[str, object]:
    """BASE with ``section__index__field=value`` changes (``section__field`` for settings)."""
    result = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        parts = dotted.split("__")
        target: object = result
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
        assert isinstance(target, dict)
        target[parts[-1]] = value
    return result


def catalog_of(value: dict[str, object]) -> Catalog:
    parsed = parse_setup(value)
    catalog = Catalog(
        settings=parsed.settings or Settings(),
        meters={m.key: m for m in parsed.meters},
        products={p.key: p for p in parsed.products},
        plans={p.key: p for p in parsed.plans},
    )
    check_references(catalog, parsed.customers)
    return catalog


def test_the_fields_are_read() -> None:
    parsed = parse_setup(BASE)
    assert parsed.settings is not None
    assert parsed.settings.taxes == (Tax("vat20", "VAT 20%", Decimal("0.20")),)
    assert parsed.settings.seller == Seller(
        "Cloudworks Ltd", "1 Example Street", "billing@cloudworks.example", "GB123456789"
    )
    compute, support = parsed.products
    assert (compute.minimum, compute.maximum, compute.tax_exempt) == (
        Decimal("10.00"),
        Decimal("600.00"),
        False,
    )
    assert support.tax_exempt is True
    [nimbus] = parsed.customers
    assert nimbus.taxes == ("vat20",)
    assert nimbus.discounts == (
        Discount("launch", at("2026-01-01"), percent=Decimal(10), products=("compute",), periods=2),
        Discount("goodwill", at("2026-02-01"), amount=Decimal("75.00")),
    )


def test_the_document_round_trips() -> None:
    catalog = catalog_of(BASE)
    [nimbus] = parse_setup(BASE).customers
    written = setup_to_document(catalog, [nimbus])
    assert written["settings"] == {"grace_period_hours": "24", **BASE["settings"]}  # type: ignore[dict-item]
    again = parse_setup(written)
    assert again.settings == catalog.settings
    assert again.products == tuple(catalog.products.values())
    assert parse_customer(customer_to_document(nimbus), "c") == nimbus


@pytest.mark.parametrize(
    ("changes", "path", "problem"),
    [
        (
            {"customers__0__discounts__0__amount": "5"},
            "customers[0].discounts[0].amount",
            "either percent or amount",
        ),
        (
            {"customers__0__discounts__0__percent": "100.5"},
            "customers[0].discounts[0].percent",
            "at most 100",
        ),
        (
            {"customers__0__discounts__1__amount": None},
            "customers[0].discounts[1].percent",
            "is required",
        ),
        (
            {"customers__0__discounts__0__periods": 0},
            "customers[0].discounts[0].periods",
            "at least 1",
        ),
        (
            {"customers__0__discounts__0__products": ["compute", "nope"]},
            "customers.nimbus.discounts[0].products[1]",
            "unknown product 'nope'",
        ),
        ({"customers__0__taxes": ["gst"]}, "customers.nimbus.taxes[0]", "unknown tax 'gst'"),
        ({"products__0__minimum": "-1"}, "products[0].minimum", "must not be negative"),
        ({"products__0__maximum": "5"}, "products[0].maximum", "must not be below minimum"),
        ({"products__1__tax_exempt": "yes"}, "products[1].tax_exempt", "true or false"),
        (
            {"settings__taxes": [{"key": "vat", "name": "VAT"}]},
            "settings.taxes[0].rate",
            "required",
        ),
        ({"settings__seller": {"phone": "1"}}, "settings.seller.phone", "unknown field"),
        ({"products__0__line_item_type": "tax"}, "products[0].line_item_type", "tax"),
    ],
)
def test_errors_name_the_path(changes: dict[str, object], path: str, problem: str) -> None:
    with pytest.raises(InvalidSetup) as raised:
        catalog_of(document(**changes))
    assert raised.value.path == path
    assert problem in raised.value.problem
