"""Spec 5 as a property, on SQLite and PostgreSQL: price changes (at period boundaries and
inside periods), a plan change (one subscription ending where the next starts), voids and
reissues, write-offs, credit notes and late events, in any order.

The expected figures are worked out here by hand, never by the engine: every price is per
unit with whole cents and every event carries whole units, so a period bills exactly the sum
of units × the unit price in force at each event's time, on the subscription that holds it.
Afterwards:

- for every period not written off, the invoices that are not void together bill exactly
  that (their own lines, corrections billed for it elsewhere, deductions on a replacement);
  a written-off period bills nothing more than when it was written off;
- a price change that takes effect before the end of the latest issued period billing the
  product is refused (spec 5.2), every other one is accepted; a void of an invoice that is
  not issued (void, or paid: an invoice of 0 is paid at once) or has a credit note is
  refused; a credit note above what the invoice still allows, or on a void invoice, is
  refused (spec 5.7);
- an issued invoice never changes (its lines and figures, as first seen);
- each line's breakdown windows add up to the line, and the usage lines of a breakdown (it
  shows all usage of its period, late events included) to what the period bills.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from meterbill.core.errors import BillingError
from meterbill.core.periods import WindowSize
from meterbill.core.protection import Refused
from meterbill.db.database import Database
from meterbill.services.breakdowns import InvoiceBreakdown, breakdown_of
from meterbill.services.catalog import apply_setup
from meterbill.services.ingest import rebuild_meter
from meterbill.services.invoicing import (
    InvoiceView,
    close_periods,
    customer_invoices,
    issue_credit_note,
    void_invoice,
)
from tests.property.test_billing_properties import Databases, billed_by_origin, examples
from tests.property.test_void_properties import frozen, ingest
from tests.services.support import call, setup

JAN = datetime(2026, 1, 1, tzinfo=UTC)
MONTHS = [datetime(2026, month, 1, tzinfo=UTC) for month in range(1, 6)]  # Jan..May
END = datetime(2026, 5, 3, tzinfo=UTC)  # April is closable (grace 24 h); May is a draft
_ZERO = Decimal(0)
# Plan ``a`` bills ``calls_a``, plan ``b`` bills ``calls_b``: both per unit on the ``units``
# meter (the sum of ``units``), each with its own price versions.
PLANS = {"a": "calls_a", "b": "calls_b"}
FIRST_PRICE = {"calls_a": Decimal("1.00"), "calls_b": Decimal("2.50")}

Origin = tuple[str, datetime]  # (plan, period start): one subscription's period
DEDUCTED = "(billed on invoice "  # a replacement's deduction of corrections billed elsewhere


@dataclass
class Schedule:
    """A product's price versions as the test keeps them: ``None`` is the ``price``."""

    versions: dict[datetime | None, Decimal] = field(default_factory=dict)

    def at(self, moment: datetime) -> Decimal:
        found = [when for when in self.versions if when is not None and when <= moment]
        return self.versions[max(found)] if found else self.versions[None]

    def entries(self) -> list[dict[str, object]]:
        return [
            {
                "effective_from": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "price": {"model": "per_unit", "unit_price": str(price)},
            }
            for when, price in sorted((w, p) for w, p in self.versions.items() if w is not None)
        ]


def first_schedules() -> dict[str, Schedule]:
    return {key: Schedule({None: price}) for key, price in FIRST_PRICE.items()}


def document(schedules: dict[str, Schedule], change: datetime | None) -> dict[str, object]:
    """Acme on plan ``a`` from 1 January; with ``change``, ``a`` ends there and ``b`` starts."""
    subscriptions: list[dict[str, object]] = [{"plan": "a", "starts_at": "2026-01-01T00:00:00Z"}]
    if change is not None:
        stamp = change.strftime("%Y-%m-%dT%H:%M:%SZ")
        subscriptions[0]["ends_at"] = stamp
        subscriptions.append({"plan": "b", "starts_at": stamp})
    return setup(
        [{"id": "acme", "name": "Acme", "subscriptions": subscriptions}],
        products=[
            {
                "key": key,
                "name": f"Calls {plan.upper()}",
                "meter": "units",
                "price": {"model": "per_unit", "unit_price": str(schedules[key].versions[None])},
                "price_changes": schedules[key].entries(),
            }
            for plan, key in PLANS.items()
        ],
        plans=[
            {"key": plan, "name": f"Plan {plan}", "interval": "month", "products": [key]}
            for plan, key in PLANS.items()
        ],
    )


def origin_of(moment: datetime, change: datetime | None) -> Origin:
    """The subscription period an event at ``moment`` belongs to."""
    month = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if change is None or moment < change:
        return ("a", month if change is None or month < change else change)
    return ("b", max(month, change))


# --- strategies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Events:
    """Events, each (months back, time into its month, units): 1 back is the last month
    closed (late usage), 0 the month after it, -1 the next; clamped to January..April."""

    batch: tuple[tuple[int, timedelta, int], ...]


@dataclass(frozen=True)
class Close:
    months: int  # close as of two days after the end of the next month or the one after


@dataclass(frozen=True)
class PriceChange:
    product: str
    effective_from: datetime
    unit_price: Decimal


@dataclass(frozen=True)
class Void:
    pick: int  # among the numbered invoices
    write_off: bool


@dataclass(frozen=True)
class CreditNote:
    pick: int
    amount: Decimal


Step = Events | Close | PriceChange | Void | CreditNote


def _inside(month: int, day: int, hour: int) -> datetime:
    return MONTHS[month] + timedelta(days=day, hours=hour)


# A whole UTC hour: a period boundary, or inside a period (now and then at its start).
whole_hours = st.sampled_from(MONTHS) | st.builds(
    _inside, st.integers(0, 3), st.integers(0, 27), st.integers(0, 23)
)
# Where in its month an event is: any minute of the first 28 days (on the hour now and then).
offsets = st.builds(
    lambda day, minute: timedelta(days=day, minutes=minute),
    st.integers(0, 27),
    st.integers(0, 24 * 60 - 1),
)
cents = st.integers(1, 500).map(lambda n: Decimal(n) / 100)
events = st.builds(
    Events,
    st.lists(
        st.tuples(st.integers(-1, 2), offsets, st.integers(1, 40)), min_size=1, max_size=4
    ).map(tuple),
)
closes = st.builds(Close, st.integers(1, 2))
price_changes = st.builds(PriceChange, st.sampled_from(sorted(PLANS.values())), whole_hours, cents)
voids = st.builds(Void, st.integers(0, 40), st.sampled_from([False, False, True]))
credit_notes = st.builds(
    CreditNote, st.integers(0, 40), st.integers(1, 1500).map(lambda n: Decimal(n) / 100)
)
# Weighted so that late events, closes and voids chain often (a replacement that deducts
# corrections billed elsewhere needs close, late events, close, void, close).
_KINDS: dict[str, st.SearchStrategy[Step]] = {
    "events": events,
    "close": closes,
    "price": price_changes,
    "void": voids,
    "credit": credit_notes,
}
step = st.sampled_from(
    ["events", "events", "events", "close", "close", "price", "void", "void", "credit"]
).flatmap(lambda kind: _KINDS[kind])
# None: plan a only; a month start: the old plan's last period is whole; else two partial
# invoices in the period holding the change.
plan_changes = (
    st.none()
    | st.sampled_from(MONTHS[1:4])
    | st.builds(_inside, st.integers(0, 3), st.integers(1, 27), st.integers(0, 23))
)


# --- the run -------------------------------------------------------------------------------


def views(database: Database, as_of: datetime) -> list[InvoiceView]:
    with database.transaction() as session:
        return customer_invoices(session, "acme", as_of=as_of)


def billed(invoices: list[InvoiceView]) -> dict[Origin, tuple[Decimal, Decimal]]:
    """Quantity and amount billed per subscription period by the invoices that are not
    void, over every line key (piece, correction, deduction)."""
    live = [view for view in invoices if view.status != "void"]
    sums: dict[Origin, tuple[Decimal, Decimal]] = {}
    for (plan, start, _), (quantity, amount) in billed_by_origin(live).items():
        had = sums.get((plan, start), (_ZERO, _ZERO))
        sums[(plan, start)] = (had[0] + quantity, had[1] + amount)
    return {origin: pair for origin, pair in sums.items() if pair != (_ZERO, _ZERO)}


class Run:
    """One example: the database, the clock, and what the test knows by itself."""

    def __init__(self, database: Database, change: datetime | None) -> None:
        self.database = database
        self.change = change
        self.schedules = first_schedules()
        self.events: list[tuple[datetime, int]] = []
        self.snapshots: dict[str, dict[str, object]] = {}
        self.written_off: dict[Origin, Decimal] = {}
        self.notes = 0
        self.sent = 0
        self.clock = JAN + timedelta(days=1)
        self.closed = 0  # months closed so far
        self.current = views(database, self.clock)

    def apply(self, schedules: dict[str, Schedule]) -> None:
        with self.database.transaction() as session:
            apply_setup(
                session, document(schedules, self.change), now=self.clock, rebuild=rebuild_meter
            )

    def step(self, step: Step) -> None:
        self.clock += timedelta(hours=1)
        if isinstance(step, Events):
            batch = []
            for back, offset, units in step.batch:
                moment = MONTHS[min(max(self.closed - back, 0), 3)] + offset
                self.sent += 1
                self.events.append((moment, units))
                batch.append(
                    call(f"e{self.sent}", moment.strftime("%Y-%m-%dT%H:%M:%SZ"), units=units)
                )
            ingest(self.database, batch, END)
        elif isinstance(step, Close):
            self.closed = min(self.closed + step.months, len(MONTHS) - 1)
            self.clock = max(self.clock, MONTHS[self.closed] + timedelta(days=2))
            with self.database.transaction() as session:
                close_periods(session, as_of=self.clock)
        elif isinstance(step, PriceChange):
            self.change_price(step)
        else:
            self.void_or_credit(step)
        self.current = views(self.database, self.clock)
        for view in self.current:
            self.check_unchanged(view)

    def change_price(self, step: PriceChange) -> None:
        """Accepted unless it takes effect before the end of the latest issued period that
        billed the product (spec 5.2); then refused, and nothing changes."""
        schedule = self.schedules[step.product]
        proposed = Schedule({**schedule.versions, step.effective_from: step.unit_price})
        latest = self.latest_issued_end(step.product)
        alters = schedule.at(step.effective_from) != step.unit_price
        schedules = {**self.schedules, step.product: proposed}
        if alters and latest is not None and step.effective_from < latest:
            with pytest.raises(Refused) as caught:
                self.apply(schedules)
            position = sorted(PLANS.values()).index(step.product)
            assert caught.value.path.startswith(f"products[{position}].price_changes")
        else:
            self.apply(schedules)
            self.schedules = schedules

    def latest_issued_end(self, product: str) -> datetime | None:
        """The end of the latest issued (not void) period that billed ``product``: on its
        plan, or on a line (a correction carried for the other subscription)."""
        ends = [
            view.ref.period.end
            for view in self.current
            if view.status in ("issued", "paid")
            and (
                PLANS[view.ref.plan] == product
                or any(line.product == product for line in view.lines)
            )
        ]
        return max(ends, default=None)

    def void_or_credit(self, step: Void | CreditNote) -> None:
        """A void is refused unless the invoice is issued with no payment and no credit
        note; a credit note above the total less earlier credit notes, or on a void
        invoice, is refused (spec 5.7)."""
        numbered = [view for view in self.current if view.number is not None]
        if not numbered:
            return
        # Half the time among the invoices a void or credit note may take, else among all
        # (void and paid ones included: refusals).
        open_ = [view for view in numbered if view.status == "issued"]
        pool = open_ if step.pick % 2 and open_ else numbered
        target = pool[step.pick // 2 % len(pool)]
        if isinstance(step, Void):
            allowed = target.status == "issued" and target.payments == target.credit_notes == 0
        else:
            allowed = (
                target.status in ("issued", "paid")
                and step.amount <= target.totals.total - target.credit_notes
            )
        try:
            with self.database.transaction() as session:
                if isinstance(step, Void):
                    void_invoice(session, target.id, now=self.clock, write_off=step.write_off)
                else:
                    note = issue_credit_note(
                        session,
                        target.id,
                        amount=step.amount,
                        reason="property",
                        at=self.clock,
                        now=self.clock,
                    )
                    self.notes += 1
                    assert note.number == self.notes
        except BillingError:
            assert not allowed, (step, target.number, target.status)
            return
        assert allowed, (step, target.number, target.status)
        if isinstance(step, Void) and step.write_off:
            origin = (target.ref.plan, target.ref.period.start)
            after = billed(views(self.database, self.clock)).get(origin, (_ZERO, _ZERO))
            self.written_off[origin] = after[1]

    def check_unchanged(self, view: InvoiceView) -> None:
        """An issued invoice's lines and figures stay as first seen."""
        if view.number is not None:
            assert frozen(view) == self.snapshots.setdefault(view.id, frozen(view)), view.number

    def expected(self) -> dict[Origin, tuple[Decimal, Decimal]]:
        """By hand: units, and units × the unit price in force at the event's time, per
        subscription period."""
        result: dict[Origin, tuple[Decimal, Decimal]] = {}
        for moment, units in self.events:
            origin = origin_of(moment, self.change)
            unit_price = self.schedules[PLANS[origin[0]]].at(moment)
            quantity, amount = result.get(origin, (_ZERO, _ZERO))
            result[origin] = (quantity + units, amount + units * unit_price)
        return result


@examples(8)
@example(  # a replacement deducts the corrections billed on the next invoice; a change
    # before the end of the latest issued period (February) is refused, a later one accepted
    change=None,
    first=[(0, timedelta(days=3), 10), (-1, timedelta(days=5), 7)],
    plan=[
        Close(1),
        Events(((1, timedelta(days=9, hours=6), 5),)),
        Close(1),
        Void(1, write_off=False),
        PriceChange("calls_a", datetime(2026, 1, 21, tzinfo=UTC), Decimal("3.00")),
        PriceChange("calls_a", datetime(2026, 2, 21, 5, tzinfo=UTC), Decimal("0.50")),
        PriceChange("calls_a", datetime(2026, 3, 6, 3, tzinfo=UTC), Decimal("3.00")),
        Events(((2, timedelta(days=20), 2), (0, timedelta(days=6), 4))),
        Close(1),
    ],
)
@example(  # a plan change inside February; January written off, then late usage for it
    change=datetime(2026, 2, 10, 12, tzinfo=UTC),
    first=[(0, timedelta(days=2), 4), (-1, timedelta(days=15), 6)],
    plan=[
        Close(2),
        Events(((2, timedelta(days=1), 3),)),
        Void(1, write_off=True),
        Events(((2, timedelta(days=4), 8), (1, timedelta(days=3), 1))),
        Close(1),
        CreditNote(1, Decimal("1.00")),
    ],
)
@given(
    change=plan_changes,
    first=st.lists(
        st.tuples(st.integers(-3, 0), offsets, st.integers(1, 40)), min_size=2, max_size=8
    ),
    plan=st.lists(step, min_size=6, max_size=14),
)
def test_billing_that_changes_over_time_bills_every_period_once_at_its_prices(
    databases: Databases,
    change: datetime | None,
    first: list[tuple[int, timedelta, int]],
    plan: list[Step],
) -> None:
    """``first``: events sent before anything else, so that most invoices have an amount
    due (an invoice of 0 is paid at once and can no longer be voided)."""
    with databases.fresh(document=document(first_schedules(), change)) as database:
        run = Run(database, change)
        for one in [Events(tuple(first)), *plan]:
            run.step(one)
        with database.transaction() as session:
            close_periods(session, as_of=END)
        final = views(database, END)
        for view in final:
            run.check_unchanged(view)
        live = [view for view in final if view.status != "void"]
        assert all(view.status != "draft" for view in live if view.ref.period.end <= MONTHS[4])
        expected = run.expected()
        got = billed(final)
        for origin, before in run.written_off.items():
            # Written off: the period bills nothing more, ever.
            assert got.pop(origin, (_ZERO, _ZERO))[1] <= before, origin
            expected.pop(origin, None)
        assert got == expected
        with database.transaction() as session:
            for view in live:
                cut = breakdown_of(session, view, size=WindowSize.DAY, as_of=END)
                check_breakdown(cut, expected)


def check_breakdown(cut: InvoiceBreakdown, expected: dict[Origin, tuple[Decimal, Decimal]]) -> None:
    """Each line's windows add up to it; the usage lines' windows (all usage of the period,
    late events included) to what the period bills."""
    view = cut.invoice
    lines = [line for line, _ in cut.windows[0].lines]
    usage = _ZERO
    for index, line in enumerate(lines):
        figures = [entry.lines[index][1] for entry in cut.windows]
        where = (view.number, line.name)
        assert sum((f.amount for f in figures), _ZERO) == line.amount, where
        if line.type == "usage" and line.corrects is None and DEDUCTED not in line.name:
            assert sum((f.quantity for f in figures), _ZERO) == line.quantity, where
            usage += line.amount
    origin = (view.ref.plan, view.ref.period.start)
    assert usage == expected.get(origin, (_ZERO, _ZERO))[1], (view.number, origin)
