"""The billing setup: applying a setup document, and loading the catalog and customers.

Applying is idempotent (spec 2): objects are matched by key (customers by id), created or
updated, and a second apply of the same document changes nothing. A meter that is new or
whose definition changed has its buckets rebuilt from the raw events.
"""

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from meterbill.core.catalog import Catalog, Customer, Plan, Product
from meterbill.core.errors import InvalidSetup, NotFound
from meterbill.core.periods import Span
from meterbill.core.protection import IssuedInvoice, check_changes
from meterbill.core.setup import (
    SetupDocument,
    check_references,
    customer_to_document,
    parse_customer,
    parse_setup,
    setup_to_document,
)
from meterbill.db import Session
from meterbill.db import catalog as store
from meterbill.db import invoices as invoice_store
from meterbill.db.models import CustomerRow
from meterbill.services.jsonio import dumps_text, loads_exact
from meterbill.services.usage import MeterRef

__all__ = [
    "ApplyReport",
    "CatalogState",
    "apply_setup",
    "current_setup",
    "customer_choices",
    "customer_from_row",
    "load_catalog",
    "load_customer",
    "meter_ref",
    "save_customer",
]

_VERSION_KEY = "catalog_version"
_SETTINGS_KEY = "settings"


@dataclass(frozen=True, slots=True)
class CatalogState:
    """The catalog with the storage ids of its meters, indexed for ingest."""

    catalog: Catalog
    meters: dict[str, MeterRef]
    by_event_type: dict[str, tuple[MeterRef, ...]] = field(default_factory=dict)
    # The stored catalog version this was parsed from (None: none stored yet).
    version: str | None = None


@dataclass(slots=True)
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    rebuilt: list[str] = field(default_factory=list)


_cache: dict[str, CatalogState] = {}
_cache_lock = threading.Lock()


def _single(catalog: Catalog, section: str) -> dict[str, object]:
    document = setup_to_document(catalog, ())
    items = document.get(section)
    assert isinstance(items, list)
    item = items[0]
    assert isinstance(item, dict)
    return item


def load_catalog(session: Session) -> CatalogState:
    """The catalog as stored, parsed once per catalog version and process."""
    version = store.get_meta(session, _VERSION_KEY)
    with _cache_lock:
        cached = _cache.get(version) if version else None
    if cached is not None:
        return cached
    rows = store.meter_rows(session)
    document: dict[str, object] = {
        "meters": [loads_exact(row.definition) for row in rows],
        "products": [loads_exact(row.definition) for row in store.product_rows(session)],
        "plans": [loads_exact(row.definition) for row in store.plan_rows(session)],
    }
    settings = store.get_meta(session, _SETTINGS_KEY)
    if settings is not None:
        document["settings"] = loads_exact(settings)
    # Read back without the entry limits: what was stored before a limit existed still loads.
    parsed = parse_setup(document, limits=False)
    catalog = Catalog(
        settings=parsed.settings or Catalog().settings,
        meters={m.key: m for m in parsed.meters},
        products={p.key: p for p in parsed.products},
        plans={p.key: p for p in parsed.plans},
    )
    refs = {row.key: MeterRef(row.id, catalog.meters[row.key]) for row in rows}
    by_type: dict[str, list[MeterRef]] = {}
    for ref in refs.values():
        for event_type in ref.meter.event_types:
            by_type.setdefault(event_type, []).append(ref)
    state = CatalogState(catalog, refs, {k: tuple(v) for k, v in by_type.items()}, version)
    if version:
        with _cache_lock:
            _cache[version] = state
    return state


def load_customer(session: Session, customer_id: str) -> Customer:
    row = store.get_customer(session, customer_id)
    if row is None:
        raise NotFound(f"customer '{customer_id}' not found")
    return customer_from_row(row)


def customer_from_row(row: CustomerRow) -> Customer:
    """The customer a stored row defines."""
    definition = loads_exact(row.definition)
    return parse_customer(definition, f"customers.{row.id}", limits=False)


def current_setup(session: Session) -> dict[str, object]:
    """The whole setup as a document that ``apply_setup`` accepts."""
    state = load_catalog(session)
    customers = [load_customer(session, row.id) for row in store.customer_rows(session)]
    document = setup_to_document(state.catalog, customers)
    return document


def _bump(session: Session) -> None:
    # A fresh random version, never a counter: a process's cache must not mistake a new
    # database (or a wiped one) at the same URL for the one it cached.
    store.set_meta(session, _VERSION_KEY, uuid.uuid4().hex)


def _check_aliases(session: Session, customers: tuple[Customer, ...]) -> None:
    names = {alias for c in customers for alias in c.aliases} | {c.id for c in customers}
    owners = store.alias_owners(session, names)
    for index, customer in enumerate(customers):
        for position, alias in enumerate(customer.aliases):
            owner = owners.get(alias)
            if owner is not None and owner != customer.id:
                raise InvalidSetup(
                    f"customers[{index}].aliases[{position}]",
                    f"alias '{alias}' already belongs to customer '{owner}'",
                )
        owner = owners.get(customer.id)
        if owner is not None and owner != customer.id:
            raise InvalidSetup(
                f"customers[{index}].id", f"'{customer.id}' is an alias of customer '{owner}'"
            )


def apply_setup(
    session: Session,
    document: object,
    *,
    now: datetime,
    rebuild: Callable[[Session, MeterRef], None],
) -> ApplyReport:
    """Validate ``document`` whole against the stored setup, then create or update."""
    parsed = parse_setup(document)
    current = load_catalog(session).catalog
    merged = Catalog(
        settings=parsed.settings or current.settings,
        meters={**current.meters, **{m.key: m for m in parsed.meters}},
        products={**current.products, **{p.key: p for p in parsed.products}},
        plans={**current.plans, **{p.key: p for p in parsed.plans}},
    )
    positions = {("customers", c.id): f"customers[{i}]" for i, c in enumerate(parsed.customers)}
    positions.update({("products", p.key): f"products[{i}]" for i, p in enumerate(parsed.products)})
    positions.update({("plans", p.key): f"plans[{i}]" for i, p in enumerate(parsed.plans)})
    positions.update({("meters", m.key): f"meters[{i}]" for i, m in enumerate(parsed.meters)})

    def path_of(section: str, key: str) -> str:
        return positions.get((section, key), f"{section}.{key}")

    check_references(merged, parsed.customers, path_of=path_of)
    _check_aliases(session, parsed.customers)
    _check_protected(session, current, merged, parsed.customers, path_of)
    return _store(session, parsed, now=now, rebuild=rebuild)


def _check_protected(
    session: Session,
    current: Catalog,
    merged: Catalog,
    customers: tuple[Customer, ...],
    path_of: Callable[[str, str], str],
) -> None:
    """Refuse the whole document if it alters what an issued invoice was rated from
    (spec 5.2); void invoices and drafts protect nothing."""
    issued = [
        IssuedInvoice(
            number=row.number or 0,
            customer_id=row.customer_id,
            plan=row.plan_key,
            period=Span(row.period_start, row.period_end),
            products=products,
            grants=grants,
        )
        for row, products, grants in invoice_store.issued_summaries(session)
    ]
    if not issued:
        return
    old_customers = {}
    for customer in customers:
        if store.get_customer(session, customer.id) is not None:
            old_customers[customer.id] = load_customer(session, customer.id)
    check_changes(
        old=current,
        new=merged,
        old_customers=old_customers,
        new_customers=customers,
        issued=issued,
        path_of=path_of,
    )


def _store(
    session: Session,
    parsed: SetupDocument,
    *,
    now: datetime,
    rebuild: Callable[[Session, MeterRef], None],
) -> ApplyReport:
    report = ApplyReport()
    changed_meters: list[MeterRef] = []

    def record(name: str, created: bool, changed: bool) -> None:
        if created:
            report.created.append(name)
        elif changed:
            report.updated.append(name)
        else:
            report.unchanged += 1

    if parsed.settings is not None:
        text = dumps_text(
            setup_to_document(Catalog(settings=parsed.settings), ()).get("settings", {})
        )
        if store.get_meta(session, _SETTINGS_KEY) != text:
            store.set_meta(session, _SETTINGS_KEY, text)
            record("settings", False, True)
    for meter in parsed.meters:
        definition = dumps_text(_single(Catalog(meters={meter.key: meter}), "meters"))
        existed = any(r.key == meter.key for r in store.meter_rows(session))
        row, changed, refingerprinted = store.upsert_meter(
            session,
            key=meter.key,
            name=meter.name,
            definition=definition,
            fingerprint=meter.fingerprint,
        )
        record(f"meter {meter.key}", not existed, changed)
        if refingerprinted:
            changed_meters.append(MeterRef(row.id, meter))
    for product in parsed.products:
        record(*_store_keyed(session, "product", product))
    for plan in parsed.plans:
        record(*_store_keyed(session, "plan", plan))
    for customer in parsed.customers:
        existed = store.get_customer(session, customer.id) is not None
        changed = save_customer(session, customer, now=now)
        record(f"customer {customer.id}", not existed, changed)
    if report.created or report.updated:
        _bump(session)
    for ref in changed_meters:
        rebuild(session, ref)
        report.rebuilt.append(ref.meter.key)
    return report


def _store_keyed(session: Session, kind: str, item: Product | Plan) -> tuple[str, bool, bool]:
    if isinstance(item, Product):
        definition = dumps_text(_single(Catalog(products={item.key: item}), "products"))
        existed = session.get(store.ProductRow, item.key) is not None
        changed = store.upsert_product(session, key=item.key, definition=definition)
    else:
        definition = dumps_text(_single(Catalog(plans={item.key: item}), "plans"))
        existed = session.get(store.PlanRow, item.key) is not None
        changed = store.upsert_plan(session, key=item.key, definition=definition)
    return f"{kind} {item.key}", not existed, changed


def save_customer(session: Session, customer: Customer, *, now: datetime) -> bool:
    """Create or update one customer (and its aliases); returns whether anything changed."""
    return store.upsert_customer(
        session,
        customer_id=customer.id,
        name=customer.name,
        currency=customer.currency,
        definition=dumps_text(customer_to_document(customer)),
        aliases=customer.aliases,
        now=now,
    )


def meter_ref(state: CatalogState, key: str) -> MeterRef:
    """The meter ``key`` with its storage id, or ``NotFound``."""
    ref = state.meters.get(key)
    if ref is None:
        raise NotFound(f"meter '{key}' not found")
    return ref


def customer_choices(session: Session) -> list[tuple[str, str]]:
    """Every customer as (id, name), by id: what an admin may open a dashboard for."""
    rows = store.customer_rows(session)
    return [(row.id, row.name) for row in rows]
