"""Property-based tests of the billing engine, on SQLite and PostgreSQL (spec 3, 4.2, 4.6–4.8).

Every example starts from a fresh database with the setup applied: a new SQLite file, or
PostgreSQL's ``public`` schema dropped and migrated again (the test session has one PostgreSQL
database, so the properties that need two databases use them one after the other). The
expected figures come from outside the engine's storage: ``measure()`` over the raw events
(the reference semantics of 4.2), the price models, minimum and credit order written out
again here, or a second database fed the same events in another order.
"""

import itertools
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterbill.core.aggregation import measure
from meterbill.core.catalog import Aggregation, Meter, Product
from meterbill.core.events import Event, validate_event
from meterbill.core.periods import WindowSize
from meterbill.core.rating import Line
from meterbill.core.setup import parse_setup
from meterbill.db.database import Database
from meterbill.services.breakdowns import InvoiceBreakdown, breakdown_of
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import Status, ingest_batch, rebuild_meter
from meterbill.services.invoicing import (
    InvoiceView,
    close_periods,
    customer_invoices,
    void_invoice,
)
from meterbill.views.invoice import invoice_document
from tests.dbsupport import reset_postgres_schema
from tests.property.strategies import (
    ALIAS,
    CUSTOMER,
    FEB_START,
    GRACE,
    GRANTS,
    JAN_START,
    MAR_START,
    NOW,
    PER_UNIT_PRICES,
    SECOND_CUSTOMER,
    TWO_CUSTOMERS,
    Grant,
    batches,
    owner,
    setup_document,
    usage_events,
    with_rejects,
)

FEB_2 = datetime(2026, 2, 2, tzinfo=UTC)
MAR_2 = datetime(2026, 3, 2, tzinfo=UTC)
MINIMUM = Decimal("150.00")
CENT = Decimal("0.01")
PLACES = Decimal("1e-12")
_ZERO = Decimal(0)


def examples(count: int) -> settings:
    """Few examples, each a whole database: the file runs in under a minute on both.

    ``METERBILL_PROPERTY_SCALE=N`` runs N times as many, for a longer hunt.
    """
    return settings(
        max_examples=count * int(os.environ.get("METERBILL_PROPERTY_SCALE", "1")),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


_SETUP = parse_setup(setup_document())
METERS: dict[str, Meter] = {meter.key: meter for meter in _SETUP.meters}
PRODUCTS: dict[str, Product] = {product.key: product for product in _SETUP.products}
_ADDITIVE = {Aggregation.COUNT, Aggregation.SUM, Aggregation.TIME_WEIGHTED}

Items = list[dict[str, object]]
Document = dict[str, object]


# --- databases -----------------------------------------------------------------------------


class Databases:
    """A fresh database per example, the setup document already applied.

    SQLite: a new file, copied from a template migrated and set up once per test: the copy
    holds what a fresh ``apply`` writes (catalog version included, so the process's catalog
    cache serves every copy) and saves half of every example's time.
    PostgreSQL: the session's database with its ``public`` schema dropped and migrated again.
    """

    def __init__(self, db_url: str, folder: Path) -> None:
        self.url = db_url
        self.folder = folder
        self.count = 0

    @contextmanager
    def fresh(
        self,
        *,
        second_customer: bool = False,
        subscriptions: bool = False,
        document: Document | None = None,
    ) -> Iterator[Database]:
        """With ``document``, that setup instead of :func:`setup_document` (applied to every
        new database: no template)."""
        own = document is not None
        if document is None:
            document = setup_document(second_customer=second_customer, subscriptions=subscriptions)
        if not self.url.startswith("sqlite"):
            reset_postgres_schema(self.url)
            database = Database(self.url)
            try:
                apply_document(database, document)
                yield database
            finally:
                database.dispose()
            return
        self.count += 1
        path = self.folder / f"example-{self.count}.db"
        if not own:
            template = self.folder / f"template-{int(second_customer)}-{int(subscriptions)}.db"
            if not template.exists():
                build = Database(f"sqlite:///{template}")
                try:
                    apply_document(build, document)
                finally:
                    build.dispose()
            shutil.copyfile(template, path)
            if template.with_name(template.name + "-wal").exists():
                shutil.copyfile(template.with_name(template.name + "-wal"), f"{path}-wal")
        database = Database(f"sqlite:///{path}")
        try:
            if own:
                apply_document(database, document)
            yield database
        finally:
            database.dispose()
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)


def apply_document(database: Database, document: Document) -> None:
    with database.transaction() as session:
        apply_setup(session, document, now=NOW, rebuild=rebuild_meter)


def ingest(database: Database, parts: Sequence[Items]) -> list[Status]:
    """Each batch in its own transaction; the outcomes' statuses in item order."""
    statuses: list[Status] = []
    for part in parts:
        with database.transaction() as session:
            outcomes = ingest_batch(session, load_catalog(session), part, now=NOW)
        statuses.extend(outcome.status for outcome in outcomes)
    return statuses


def close(database: Database, as_of: datetime) -> list[InvoiceView]:
    with database.transaction() as session:
        return close_periods(session, as_of=as_of).issued


def invoices(database: Database, customer_id: str = CUSTOMER) -> list[InvoiceView]:
    with database.transaction() as session:
        return customer_invoices(session, customer_id, as_of=NOW)


def documents(database: Database) -> list[Document]:
    return [invoice_document(view) for view in invoices(database)]


# --- oracles -------------------------------------------------------------------------------


def raw_events(items: Items) -> dict[str, list[Event]]:
    """Each customer's events as validated, one per transaction id (duplicates are exact
    copies, so which one is kept does not matter)."""
    seen: dict[tuple[str, str], Event] = {}
    for item in items:
        event = validate_event(item, now=NOW)
        seen.setdefault((owner(event.customer_id), event.transaction_id), event)
    result: dict[str, list[Event]] = {CUSTOMER: [], SECOND_CUSTOMER: []}
    for (customer_id, _), event in seen.items():
        result[customer_id].append(event)
    return result


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def same_quantity(a: Decimal, b: Decimal) -> bool:
    """Quantities are compared to 12 decimal places (spec 4.2)."""
    return a.quantize(PLACES, rounding=ROUND_HALF_UP) == b.quantize(PLACES, rounding=ROUND_HALF_UP)


def group_of(line: Line) -> tuple[str, ...]:
    return tuple(value for _, value in line.group)


def is_correction(line: Line) -> bool:
    return line.corrects is not None


def own_lines(view: InvoiceView) -> list[Line]:
    return [line for line in view.lines if not is_correction(line)]


def _graduated(quantity: Decimal) -> list[tuple[int, Decimal, Decimal]]:
    """(tier, quantity, unit price) of the graduated GiB-written price, written out again."""
    bands = ((Decimal(50), Decimal("0.10")), (Decimal(200), Decimal("0.075")))
    result: list[tuple[int, Decimal, Decimal]] = []
    lower = _ZERO
    for tier, (upper, unit_price) in enumerate(bands, start=1):
        if quantity > lower:
            result.append((tier, min(quantity, upper) - lower, unit_price))
        lower = upper
    if quantity > lower:
        result.append((3, quantity - lower, Decimal("0.0333333")))
    return result or [(1, _ZERO, Decimal("0.10"))]


def _volume_price(quantity: Decimal) -> Decimal:
    if quantity <= 10:
        return Decimal(5)
    return Decimal("4.5") if quantity <= 20 else Decimal("3.99")


def check_usage_lines(view: InvoiceView, events: list[Event]) -> None:
    """The invoice's own usage lines against ``measure()`` over the raw events (4.2, 4.3)."""
    period = view.ref.period
    lines = [line for line in own_lines(view) if line.product in PRODUCTS]
    for key, product in PRODUCTS.items():
        mine = [line for line in lines if line.product == key]
        if product.meter is None:
            assert [(line.name, line.quantity, line.amount) for line in mine] == [
                ("Platform fee", Decimal(1), Decimal("49.99"))
            ]
            continue
        measured = measure(METERS[product.meter], events, period)
        expected = {group: value / product.quantity_divisor for group, value in measured.items()}
        by_group: dict[tuple[str, ...], list[Line]] = {}
        for line in mine:
            by_group.setdefault(group_of(line), []).append(line)
        assert sorted(by_group) == sorted(expected), f"{key} groups in {period}"
        for group, quantity in expected.items():
            found = by_group[group]
            total = sum((line.quantity for line in found), _ZERO)
            assert same_quantity(total, quantity), f"{key} {group} in {period}: {total} {quantity}"
            _check_prices(key, group, quantity, found)
    spent = sum((line.amount for line in own_lines(view) if line.product is not None), _ZERO)
    true_up = [line.amount for line in own_lines(view) if line.type == "minimum"]
    assert true_up == ([MINIMUM - spent] if spent < MINIMUM else []), f"minimum in {period}"


def _check_prices(key: str, group: tuple[str, ...], quantity: Decimal, found: list[Line]) -> None:
    shown = [(line.name, line.quantity, line.unit_price, line.amount) for line in found]
    if key in PER_UNIT_PRICES:
        dimension, prices, default = PER_UNIT_PRICES[key]
        unit_price = prices.get(group[0], default) if dimension else default
        assert [(line.unit_price, line.amount) for line in found] == [
            (unit_price, cents(found[0].quantity * unit_price))
        ], shown
    elif key == "gib_written":
        wanted = _graduated(quantity)
        assert [(line.name, line.unit_price) for line in found] == [
            (f"GiB written - Tier {tier}", unit_price) for tier, _, unit_price in wanted
        ], shown
        for line, (_, part, unit_price) in zip(found, wanted, strict=True):
            assert same_quantity(line.quantity, part), shown
            assert line.amount == cents(line.quantity * unit_price), shown
    elif key == "seats":
        unit_price = _volume_price(quantity)
        assert [(line.unit_price, line.amount) for line in found] == [
            (unit_price, cents(found[0].quantity * unit_price))
        ], shown
    elif key == "api_calls":
        packages = (quantity / 10).to_integral_value(rounding=ROUND_CEILING)
        assert [line.amount for line in found] == [packages * Decimal("0.25")], shown


def _draw(
    grants: Sequence[Grant], balances: dict[str, Decimal], owed: Decimal
) -> dict[str, Decimal]:
    """What each grant pays of ``owed``, in draw order, taken from ``balances``."""
    drawn: dict[str, Decimal] = {}
    for grant in grants:
        paid = min(balances[grant.key], owed)
        if paid > 0:
            drawn[grant.key] = paid
            balances[grant.key] -= paid
            owed -= paid
    return drawn


def _check_figures(view: InvoiceView, drawn: dict[str, Decimal], balance: Decimal) -> None:
    figures = view.totals
    where = f"invoice {view.ref.period.start:%Y-%m} ({view.status})"
    assert {use.grant: use.amount for use in figures.credits} == drawn, where
    assert figures.credits_applied == sum(drawn.values(), _ZERO), where
    assert figures.total == max(figures.subtotal - figures.credits_applied, _ZERO), where
    assert figures.credit_balance_after == balance, where


def check_totals(views: Sequence[InvoiceView]) -> None:
    """Subtotal = sum of lines; credits drawn in period order, commit before free (4.6)."""
    grants = GRANTS if views and views[0].customer.id == CUSTOMER else ()
    balances = {grant.key: grant.amount for grant in grants}
    for view in views:
        assert view.totals.subtotal == sum((line.amount for line in view.lines), _ZERO)
        assert all(line.amount == line.amount.quantize(CENT) for line in view.lines)
        drawn = _draw(grants, balances, view.totals.subtotal)
        _check_figures(view, drawn, sum(balances.values(), _ZERO))


def check_draft_credits(views: Sequence[InvoiceView]) -> None:
    """Drafts draw what the issued, non-void invoices left: a void gives its credits back."""
    balances = {grant.key: grant.amount for grant in GRANTS}
    for view in views:
        if view.status in ("issued", "paid"):
            for use in view.totals.credits:
                balances[use.grant] -= use.amount
    for view in views:
        if view.status == "draft":
            drawn = _draw(GRANTS, balances, view.totals.subtotal)
            _check_figures(view, drawn, sum(balances.values(), _ZERO))


def check_breakdown(view: InvoiceView, views: Sequence[InvoiceView], cut: InvoiceBreakdown) -> None:
    """Windows tile the period; each line's windows add up to it; all to the usage billed."""
    period = view.ref.period
    spans = [entry.window for entry in cut.windows]
    assert spans[0].start == period.start
    assert spans[-1].end == period.end
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))
    lines = [line for line, _ in cut.windows[0].lines]
    assert all([line for line, _ in entry.lines] == lines for entry in cut.windows)
    if view.status == "draft":
        assert lines == own_lines(view)
    for index, line in enumerate(lines):
        figures = [entry.lines[index][1] for entry in cut.windows]
        where = f"{period.start:%Y-%m} {cut.size} {line.name} {line.group}"
        assert all(figure.amount == figure.amount.quantize(CENT) for figure in figures), where
        assert sum((figure.amount for figure in figures), _ZERO) == line.amount, where
        meter = METERS.get(PRODUCTS[line.product].meter or "") if line.product else None
        if meter is not None and meter.aggregation in _ADDITIVE:
            # count, sum, time_weighted: the windows' quantities add up to the line's (4.8).
            total = sum((figure.quantity for figure in figures), _ZERO)
            assert same_quantity(total, line.quantity), f"{where}: {total}"
    # What the windows show is the period's usage as billed, late usage included: the
    # invoice's own lines plus every correction billed for it elsewhere.
    own = view.totals.subtotal - sum(
        (line.amount for line in view.lines if is_correction(line)), _ZERO
    )
    corrected = sum(
        (line.amount for other in views for line in other.lines if line.corrects == period.start),
        _ZERO,
    )
    shown = sum((figure.amount for entry in cut.windows for _, figure in entry.lines), _ZERO)
    assert shown == own + corrected, f"{period.start:%Y-%m} {cut.size}"


def check_window_quantities(cut: InvoiceBreakdown, events: list[Event]) -> None:
    """Each window's quantity is ``measure()`` over that window (4.8): the meter over it for
    count, sum and time_weighted, the aggregation inside it for the others; a graduated
    product's tier lines share each window's quantity between them."""
    shares: dict[tuple[str, tuple[str, ...]], list[Decimal]] = {}
    for line, _ in cut.windows[0].lines:
        product = PRODUCTS.get(line.product or "")
        if product is None or product.meter is None or is_correction(line):
            continue
        shares.setdefault((product.key, group_of(line)), [_ZERO] * len(cut.windows))
    for index, entry in enumerate(cut.windows):
        for line, figure in entry.lines:
            slot = (line.product or "", group_of(line))
            if slot in shares and not is_correction(line):
                shares[slot][index] += figure.quantity
    for (key, group), series in shares.items():
        product = PRODUCTS[key]
        meter = METERS[product.meter or ""]
        for entry, shown in zip(cut.windows, series, strict=True):
            measured = measure(meter, events, entry.window).get(group, _ZERO)
            expected = measured / product.quantity_divisor
            where = f"{key} {group} {entry.window.start:%Y-%m-%d %H:%M}: {shown} {expected}"
            assert same_quantity(shown, expected), where


# --- properties ----------------------------------------------------------------------------


@examples(15)
@given(data=st.data())
def test_breakdown_adds_up(databases: Databases, data: st.DataObject) -> None:
    """1. Every line's windows add up to the line, and the windows to the subtotal less
    correction lines (plus the corrections billed later for the period); each day's
    quantity is the meter over that day, late usage included."""
    events = data.draw(usage_events(), label="events")
    late = data.draw(
        usage_events(start=JAN_START, end=FEB_START, min_size=0, max_size=5, prefix="late"),
        label="late January events",
    )
    hourly = data.draw(st.sampled_from([JAN_START, FEB_START, MAR_START]), label="hourly month")
    raw = raw_events(events + late)[CUSTOMER]
    with databases.fresh() as database:
        ingest(database, [events])
        close(database, FEB_2)
        ingest(database, [late])
        with database.transaction() as session:
            views = customer_invoices(session, CUSTOMER, as_of=NOW)
            assert [view.status for view in views][1:] == ["draft", "draft"]
            assert views[0].status in ("issued", "paid")
            for view in views:
                sizes = [WindowSize.DAY]
                if view.ref.period.start == hourly:
                    sizes.append(WindowSize.HOUR)
                for size in sizes:
                    cut = breakdown_of(session, view, size=size, as_of=NOW)
                    check_breakdown(view, views, cut)
                    if size is WindowSize.DAY:
                        check_window_quantities(cut, raw)


@examples(15)
@given(data=st.data())
def test_ingest_is_idempotent(databases: Databases, data: st.DataObject) -> None:
    """2. The same events again (as sent, by alias or id, even with another body) are all
    duplicates and change no invoice."""
    events = data.draw(usage_events(), label="events")
    parts = data.draw(batches(events), label="batches")
    closed = data.draw(st.sampled_from([None, FEB_2, MAR_2]), label="close as of")
    again: Items = []
    for item in data.draw(st.permutations(events), label="resent"):
        resent = dict(item)
        if data.draw(st.booleans(), label="other customer name"):
            resent["customer_id"] = ALIAS if item["customer_id"] == CUSTOMER else CUSTOMER
        if data.draw(st.booleans(), label="other body"):
            resent["properties"] = {"cluster": "c9", "bytes": 1, "gib": 1}
            resent["timestamp"] = "2026-02-14T12:00:00Z"
        again.append(resent)
    distinct = len({(owner(item["customer_id"]), item["transaction_id"]) for item in events})
    with databases.fresh() as database:
        first = ingest(database, parts)
        assert first.count(Status.ACCEPTED) == distinct
        assert first.count(Status.DUPLICATE) == len(events) - distinct
        if closed is not None:
            close(database, closed)
        before = documents(database)
        second = ingest(database, data.draw(batches(again), label="resent batches"))
        assert second == [Status.DUPLICATE] * len(again)
        assert documents(database) == before


def _run(
    databases: Databases, parts: Sequence[Items], closed: datetime | None
) -> tuple[list[Document], list[tuple[object, ...]]]:
    """Both customers' invoices and daily breakdown figures after ingesting ``parts``."""
    with databases.fresh(second_customer=True) as database:
        ingest(database, parts)
        if closed is not None:
            close(database, closed)
        figures: list[tuple[object, ...]] = []
        with database.transaction() as session:
            views = [
                view
                for customer_id in (CUSTOMER, SECOND_CUSTOMER)
                for view in customer_invoices(session, customer_id, as_of=NOW)
            ]
            for view in views:
                cut = breakdown_of(session, view, size=WindowSize.DAY, as_of=NOW)
                figures.extend(
                    (entry.window.start, line.key, figure.quantity, figure.amount)
                    for entry in cut.windows
                    for line, figure in entry.lines
                )
        return [invoice_document(view) for view in views], figures


@examples(12)
@given(data=st.data())
def test_arrival_order_does_not_matter(databases: Databases, data: st.DataObject) -> None:
    """3. Two orders and batch splits of the same events: identical invoices and breakdowns."""
    events = data.draw(usage_events(customers=TWO_CUSTOMERS), label="events")
    closed = data.draw(st.sampled_from([None, FEB_2, MAR_2]), label="close as of")
    first = data.draw(batches(data.draw(st.permutations(events))), label="first arrival")
    second = data.draw(batches(data.draw(st.permutations(events))), label="second arrival")
    documents_first, figures_first = _run(databases, first, closed)
    documents_second, figures_second = _run(databases, second, closed)
    assert documents_second == documents_first
    assert figures_second == figures_first


@examples(15)
@given(data=st.data())
def test_buckets_agree_with_raw_events(databases: Databases, data: st.DataObject) -> None:
    """4. Each line's quantity is ``measure()`` over the raw events of its period divided by
    the product's divisor, and priced by its model; drafts and issued invoices alike. Events
    ingest must reject are rejected, and change nothing for the others of their batch."""
    events = data.draw(usage_events(customers=TWO_CUSTOMERS), label="events")
    sent, bad = data.draw(with_rejects(events), label="with rejects")
    parts = data.draw(batches(sent), label="batches")
    closed = data.draw(st.sampled_from([None, FEB_2, MAR_2]), label="close as of")
    raw = raw_events(events)
    with databases.fresh(second_customer=True) as database:
        statuses = ingest(database, parts)
        assert [status is Status.REJECTED for status in statuses] == bad
        if closed is not None:
            close(database, closed)
        everyone = {who: invoices(database, who) for who in (CUSTOMER, SECOND_CUSTOMER)}
    for who, views in everyone.items():
        assert [view.ref.period.start for view in views] == [JAN_START, FEB_START, MAR_START]
        for view in views:
            check_usage_lines(view, raw[who])
            assert [line for line in view.lines if is_correction(line)] == []
        check_totals(views)


@examples(12)
@given(data=st.data())
def test_late_usage_after_finalization(databases: Databases, data: st.DataObject) -> None:
    """5. January stays as issued; February bills exactly the re-rated difference as
    ``(late usage, 2026-01-01)`` lines, and nothing else changes."""
    events = data.draw(usage_events(), label="events")
    late = data.draw(
        usage_events(start=JAN_START, end=FEB_START, min_size=1, max_size=8, prefix="late"),
        label="late January events",
    )
    # The re-rating, independently: a fresh database given every event before any close.
    with databases.fresh() as reference:
        ingest(reference, [events + late])
        rerated = invoices(reference)
    with databases.fresh() as database:
        ingest(database, [events])
        issued = close(database, FEB_2)
        assert [view.ref.period.start for view in issued] == [JAN_START]
        before = invoices(database)
        ingest(database, [late])
        after = invoices(database)
        close(database, MAR_2)
        final = invoices(database)
    jan, feb, _ = after
    billed_jan = before[0]
    assert invoice_document(jan) == invoice_document(billed_jan)
    assert jan.status in ("issued", "paid")

    fixes = [line for line in feb.lines if is_correction(line)]
    assert all(line.corrects == JAN_START for line in fixes)
    names = {line.name for line in (*rerated[0].lines, *billed_jan.lines)}
    for line in fixes:
        base, _, rest = line.name.partition(" (late usage, ")
        assert rest == "2026-01-01)", line.name
        assert base in names, line.name
    assert sum((line.amount for line in fixes), _ZERO) == (
        rerated[0].totals.subtotal - billed_jan.totals.subtotal
    )

    # February's and March's own lines are those of a database that never saw a close, and
    # the late events changed none of them, except where a late gauge reading changes the
    # value carried into the period (time_weighted) and the minimum true-up that follows.
    assert before[1].lines == tuple(own_lines(before[1]))
    for current, fresh, earlier in zip(after[1:], rerated[1:], before[1:], strict=True):
        assert own_lines(current) == own_lines(fresh)
        assert _unaffected(own_lines(current), own_lines(earlier)) == _unaffected(
            own_lines(earlier), own_lines(current)
        )
    check_totals(after)

    # Once February is issued with the corrections, nothing for January is billed again.
    assert invoice_document(final[1]) == {**invoice_document(feb), **_issue_fields(final[1])}
    assert [line for line in final[2].lines if is_correction(line)] == []
    check_totals(final)


Origin = tuple[str, datetime, str]


def billed_by_origin(views: Sequence[InvoiceView]) -> dict[Origin, tuple[Decimal, Decimal]]:
    """Quantity and amount billed per (plan, period start, line key) over every invoice:
    a line counts for its own invoice's subscription and period, a correction for the one
    it names (``corrects_plan``, ``corrects``). Purchases are never corrected; zero sums
    are left out."""
    sums: dict[Origin, tuple[Decimal, Decimal]] = {}
    for view in views:
        for line in view.lines:
            if line.type == "prepaid_credit_purchase":
                continue
            if line.corrects is None:
                origin = (view.ref.plan, view.ref.period.start, line.key)
            else:
                assert line.corrects_plan is not None, line
                origin = (line.corrects_plan, line.corrects, line.key)
            quantity, amount = sums.get(origin, (_ZERO, _ZERO))
            sums[origin] = (quantity + line.quantity, amount + line.amount)
    return {
        origin: (quantity.quantize(PLACES, rounding=ROUND_HALF_UP), amount)
        for origin, (quantity, amount) in sums.items()
        if (quantity, amount) != (_ZERO, _ZERO)
    }


@examples(6)
@given(data=st.data())
def test_late_usage_with_several_subscriptions(databases: Databases, data: st.DataObject) -> None:
    """Spec 5.3, 5.7: three subscriptions whose periods start at the same instants (one
    ends with January), late events for January and for February after each is issued.
    Over all invoices, what each subscription's period bills (its own lines plus the
    corrections naming it) is what a database that saw every event before any close rates
    for it: nothing lost, nothing billed twice, nothing on another subscription's account."""
    events = data.draw(usage_events(), label="events")
    late_jan = data.draw(
        usage_events(start=JAN_START, end=FEB_START, min_size=1, max_size=6, prefix="late"),
        label="late January events",
    )
    late_feb = data.draw(
        usage_events(start=FEB_START, end=MAR_START, min_size=1, max_size=6, prefix="later"),
        label="late February events",
    )
    with databases.fresh(subscriptions=True) as reference:
        ingest(reference, [events + late_jan + late_feb])
        expected = invoices(reference)
    assert all(view.status == "draft" for view in expected)
    with databases.fresh(subscriptions=True) as database:
        ingest(database, [events])
        first = close(database, FEB_2)
        assert sorted(view.ref.plan for view in first) == ["addon", "legacy", "standard"]
        ingest(database, [late_jan])
        second = close(database, MAR_2)
        assert sorted(view.ref.plan for view in second) == ["addon", "standard"]
        ingest(database, [late_feb])
        final = invoices(database)
    # Every correction sits on an invoice that starts at or after the corrected period's
    # end: the same subscription's, or (legacy ended) another's.
    for view in final:
        for line in view.lines:
            if line.corrects is not None:
                assert line.corrects < view.ref.period.start, (view.ref, line)
                if line.corrects_plan != "legacy":
                    assert line.corrects_plan == view.ref.plan, (view.ref, line)
    assert billed_by_origin(final) == billed_by_origin(expected)
    check_totals(final)


def _unaffected(lines: list[Line], other: list[Line]) -> list[Line]:
    """``lines`` without the gauge lines and the minimum when the gauge lines differ."""
    gauge = [line for line in lines if line.product == "gib_days"]
    if gauge == [line for line in other if line.product == "gib_days"]:
        return lines
    return [line for line in lines if line.product not in ("gib_days", None)]


def _issue_fields(view: InvoiceView) -> Document:
    document = invoice_document(view)
    return {
        key: document[key]
        for key in ("number", "status", "issued_at", "paid_at", "amount_due", "payments")
    }


CLOSE_TIMES = (
    datetime(2026, 1, 20, tzinfo=UTC),
    datetime(2026, 2, 1, 23, 59, 59, tzinfo=UTC),
    FEB_2,
    datetime(2026, 2, 15, 6, 30, tzinfo=UTC),
    MAR_START,
    MAR_2,
    NOW,
)


@examples(15)
@given(data=st.data())
def test_invoice_numbers_have_no_gaps(databases: Databases, data: st.DataObject) -> None:
    """6. After closes at several times (between ingests, with voids), the numbers are 1..N."""
    events = data.draw(usage_events(customers=TWO_CUSTOMERS), label="events")
    times = data.draw(st.lists(st.sampled_from(CLOSE_TIMES), min_size=1, max_size=5), label="as")
    parts = data.draw(batches(events), label="batches")
    customers = (CUSTOMER, SECOND_CUSTOMER)
    seen: dict[str, int] = {}
    with databases.fresh(second_customer=True) as database:
        for step, as_of in enumerate(times):
            ingest(database, parts[step : step + 1])
            close(database, as_of)
            if data.draw(st.booleans(), label="void one"):
                _void_one(database, data)
            views = [view for who in customers for view in invoices(database, who)]
            for view in views:
                if view.number is not None:
                    assert seen.setdefault(view.id, view.number) == view.number
        ingest(database, parts[len(times) :])
        views = [view for who in customers for view in invoices(database, who)]
    latest = max(times)
    numbers = sorted(view.number for view in views if view.number is not None)
    assert numbers == list(range(1, len(numbers) + 1))  # gap-free, none reused
    # Every period closable at the last close has a numbered invoice: issued, or void (a
    # void keeps its number; its replacement, a draft, is numbered by the next close).
    closable = {view.id for view in views if view.ref.period.end + GRACE <= latest}
    numbered = {view.id for view in views if view.number is not None}
    assert numbered <= closable
    assert {(v.customer.id, v.ref) for v in views if v.id in closable} <= {
        (v.customer.id, v.ref) for v in views if v.id in numbered
    }
    assert all(view.status == "draft" for view in views if view.id not in numbered)
    assert seen == {view.id: view.number for view in views if view.number is not None}
    for who in customers:
        mine = [v.number for v in views if v.customer.id == who and v.number is not None]
        assert mine == sorted(mine)
    check_draft_credits([view for view in views if view.customer.id == CUSTOMER])


def _void_one(database: Database, data: st.DataObject) -> None:
    views = [view for view in invoices(database) if view.status == "issued"]
    if not views:
        return
    target = data.draw(st.sampled_from(views), label="voided")
    with database.transaction() as session:
        void_invoice(session, target.id, now=NOW)


def test_setup_document_is_valid(databases: Databases) -> None:
    """The setup the properties use applies cleanly and bills a flat fee and the minimum."""
    with databases.fresh(second_customer=True) as database:
        views = invoices(database)
    assert [invoice_document(view)["subtotal"] for view in views] == ["150.00", "150.00", "150.00"]
