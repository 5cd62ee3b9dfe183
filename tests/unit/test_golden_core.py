"""The golden scenarios computed by the pure core straight from the raw events.

This is the reference path (no storage, no buckets): the database-backed scenario tests in
tests/scenarios must agree with it and with expected.json.
"""

from datetime import datetime
from decimal import Decimal

import pytest

from meterbill.core.aggregation import measure
from meterbill.core.catalog import Catalog
from meterbill.core.events import Event, parse_timestamp, time_text, validate_event
from meterbill.core.invoicing import PeriodRef, closable, customer_periods, draft_invoices
from meterbill.core.setup import parse_setup
from meterbill.services.jsonio import iter_json_lines, loads_exact
from meterbill.views.invoice import lines_document, totals_document
from tests.golden import SCENARIOS, Scenario, compare_invoices


def _load_events(scenario: Scenario, now: datetime) -> list[Event]:
    seen: set[tuple[str, str]] = set()
    events: list[Event] = []
    aliases: dict[str, str] = {}
    for customer in parse_setup(scenario.setup).customers:
        aliases.update({alias: customer.id for alias in customer.aliases})
    with scenario.events.open("rb") as stream:
        for _, line in iter_json_lines(stream):
            event = validate_event(loads_exact(line), now=now)
            owner = aliases.get(event.customer_id, event.customer_id)
            if (owner, event.transaction_id) in seen:
                continue
            seen.add((owner, event.transaction_id))
            events.append(
                Event(
                    event.transaction_id,
                    owner,
                    event.event_type,
                    event.timestamp,
                    event.properties,
                )
            )
    return events


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_core_matches_expected_invoices(scenario: Scenario) -> None:
    expected = scenario.expected
    as_of = parse_timestamp(expected["as_of"])
    document = parse_setup(scenario.setup)
    catalog = Catalog(
        meters={m.key: m for m in document.meters},
        products={p.key: p for p in document.products},
        plans={p.key: p for p in document.plans},
    )
    events = _load_events(scenario, as_of)
    grace = Decimal(str(expected["grace_period_hours"]))
    problems: list[str] = []
    for customer in document.customers:
        mine = [e for e in events if e.customer_id == customer.id]
        refs = customer_periods(customer, catalog, until=as_of)
        usage: dict[PeriodRef, dict[str, dict[tuple[str, ...], Decimal]]] = {}
        for ref in refs:
            usage[ref] = {}
            for key in catalog.plans[ref.plan].products:
                product = catalog.products[key]
                if product.meter is None:
                    continue
                measured = measure(catalog.meters[product.meter], mine, ref.period)
                usage[ref][key] = {g: q / product.quantity_divisor for g, q in measured.items()}
        drafts = draft_invoices(
            customer=customer,
            catalog=catalog,
            drafts=refs,
            all_periods=refs,
            usage=usage,
            used={},
        )
        actual: list[dict[str, object]] = []
        for draft in drafts:
            status = "draft"
            if closable(draft.ref, as_of=as_of, grace_hours=grace):
                status = "paid" if draft.totals.total == 0 else "issued"
            actual.append(
                {
                    "period_start": time_text(draft.ref.period.start),
                    "period_end": time_text(draft.ref.period.end),
                    "status": status,
                    "lines": lines_document(draft.lines, customer.currency),
                    **totals_document(draft.totals, customer.currency),
                }
            )
        invoices = expected["invoices"]
        assert isinstance(invoices, dict)
        problems.extend(compare_invoices(invoices[customer.id], actual))
    assert problems == []
