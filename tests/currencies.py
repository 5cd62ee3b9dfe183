"""A small story in three currencies whose every amount is computed by hand, to check how
amounts are written (docs/decisions.md 46): USD (2 minor digits), JPY (0) and KWD (3).

One plan ``basic`` (month) with three products, the same catalog for every customer (the
customer's currency decides the rounding, spec 4.4):

* ``calls`` per unit 12.5 on the ``calls`` meter (count);
* ``bytes`` per unit 0.0125 on the same meter;
* ``base`` flat 100.

Each customer makes three calls in January 2026 and has a free grant ``welcome`` of 5.
January, once closed:

| line | exact | USD | JPY | KWD |
| --- | --- | --- | --- | --- |
| calls | 3 × 12.5 = 37.5 | 37.50 | 38 (half-up) | 37.500 |
| bytes | 3 × 0.0125 = 0.0375 | 0.04 | 0 | 0.038 |
| base | 100 | 100.00 | 100 | 100.000 |
| subtotal | | 137.54 | 138 | 137.538 |
| credits_applied (welcome 5) | | 5.00 | 5 | 5.000 |
| total = amount_due | | 132.54 | 133 | 132.538 |
| credit_balance_after, tax, payments, credit_notes | | 0.00 | 0 | 0.000 |

Unit prices and quantities stay exact whatever the currency: ``"12.5"``, ``"0.0125"``,
``"3"``.
"""

__all__ = [
    "CUSTOMERS",
    "EVENTS",
    "JANUARY",
    "SETUP_YAML",
    "UNIT_PRICES",
    "expected_fields",
    "money_fields",
]

CUSTOMERS = {"usd-co": "USD", "jpy-co": "JPY", "kwd-co": "KWD"}

SETUP_YAML = """\
settings:
  grace_period_hours: 24
meters:
  - {key: calls, name: Calls, event_type: call, aggregation: count}
products:
  - {key: calls, name: Calls, meter: calls, price: {model: per_unit, unit_price: "12.5"}}
  - {key: bytes, name: Bytes, meter: calls, price: {model: per_unit, unit_price: "0.0125"}}
  - {key: base, name: Base fee, price: {model: flat, amount: "100"}}
plans:
  - {key: basic, name: Basic, interval: month, products: [calls, bytes, base]}
customers:
""" + "".join(
    f"""  - id: {customer}
    name: {customer}
    currency: {currency}
    subscriptions: [{{plan: basic, starts_at: "2026-01-01T00:00:00Z"}}]
    credits:
      - {{key: welcome, kind: free, amount: "5", starts_at: "2026-01-01T00:00:00Z"}}
"""
    for customer, currency in CUSTOMERS.items()
)

EVENTS = [
    {
        "transaction_id": f"{customer}-{n}",
        "customer_id": customer,
        "event_type": "call",
        "timestamp": f"2026-01-1{n}T12:00:00Z",
        "properties": {},
    }
    for customer in CUSTOMERS
    for n in range(3)
]

# January's amounts as they must be written, per currency (the table above).
JANUARY: dict[str, dict[str, str]] = {
    "USD": {
        "calls": "37.50",
        "bytes": "0.04",
        "base": "100.00",
        "subtotal": "137.54",
        "credits_applied": "5.00",
        "total": "132.54",
        "amount_due": "132.54",
        "zero": "0.00",
    },
    "JPY": {
        "calls": "38",
        "bytes": "0",
        "base": "100",
        "subtotal": "138",
        "credits_applied": "5",
        "total": "133",
        "amount_due": "133",
        "zero": "0",
    },
    "KWD": {
        "calls": "37.500",
        "bytes": "0.038",
        "base": "100.000",
        "subtotal": "137.538",
        "credits_applied": "5.000",
        "total": "132.538",
        "amount_due": "132.538",
        "zero": "0.000",
    },
}
UNIT_PRICES = {"calls": "12.5", "bytes": "0.0125"}


def money_fields(invoice: dict[str, object]) -> dict[str, object]:
    """An invoice document's amounts and exact figures, in the shape of ``JANUARY``."""
    lines = {str(line["product"]): line for line in invoice["lines"]}  # type: ignore[attr-defined]
    return {
        "amounts": {product: line["amount"] for product, line in lines.items()},
        "quantities": {product: line["quantity"] for product, line in lines.items()},
        "unit_prices": {p: line["unit_price"] for p, line in lines.items() if "unit_price" in line},
        "subtotal": invoice["subtotal"],
        "credits_applied": invoice["credits_applied"],
        "credits": invoice["credits"],
        "total": invoice["total"],
        "amount_due": invoice["amount_due"],
        "zeros": [invoice[f] for f in ("tax", "credit_balance_after", "payments", "credit_notes")],
    }


def expected_fields(currency: str) -> dict[str, object]:
    """What :func:`money_fields` must give for January in ``currency``."""
    want = JANUARY[currency]
    return {
        "amounts": {p: want[p] for p in ("calls", "bytes", "base")},
        "quantities": {"calls": "3", "bytes": "3", "base": "1"},
        "unit_prices": UNIT_PRICES,
        "subtotal": want["subtotal"],
        "credits_applied": want["credits_applied"],
        "credits": [{"credit": "welcome", "kind": "free", "amount": want["credits_applied"]}],
        "total": want["total"],
        "amount_due": want["amount_due"],
        "zeros": [want["zero"]] * 4,
    }
