"""A customer's periods, drafts in period order, purchases and corrections (spec 4.6, 4.7)."""

from datetime import datetime
from decimal import Decimal as D

import pytest

from meterbill.core.catalog import (
    Aggregation,
    Anchor,
    CreditGrant,
    CreditKind,
    FlatPrice,
    Interval,
    PerUnitPrice,
)
from meterbill.core.invoicing import (
    Draft,
    PeriodRef,
    closable,
    customer_periods,
    draft_invoices,
    invoice_id,
    purchases,
)
from meterbill.core.periods import Span
from meterbill.core.rating import Line
from tests.builders import at, catalog, customer, grant, meter, plan, product, subscription

CATALOG = catalog(
    products=[product(key="platform", name="Platform", price=FlatPrice(amount=D("300.00")))],
    plans=[
        plan(key="monthly", products=("platform",)),
        plan(key="weekly", products=("platform",), interval=Interval.WEEK),
        plan(key="addon", products=("platform",)),
    ],
)


def ref(start: str, end: str, plan_key: str = "monthly") -> PeriodRef:
    return PeriodRef(Span(at(start), at(end)), plan_key)


JAN = ref("2026-01-01", "2026-02-01")
FEB = ref("2026-02-01", "2026-03-01")
MAR = ref("2026-03-01", "2026-04-01")
MONTHLY_FROM_JANUARY = (subscription(plan="monthly", starts_at=at("2026-01-01")),)
WELCOME = grant(key="welcome", amount=D("400.00"), starts_at=at("2026-01-01"))


def test_customer_periods_of_two_subscriptions_in_period_order() -> None:
    two = customer(
        subscriptions=(
            subscription(plan="weekly", starts_at=at("2026-02-20")),  # a Friday
            subscription(plan="monthly", starts_at=at("2026-01-15"), ends_at=at("2026-03-01")),
        )
    )

    assert customer_periods(two, CATALOG, until=at("2026-03-05")) == [
        ref("2026-01-15", "2026-02-01"),
        ref("2026-02-01", "2026-03-01"),
        ref("2026-02-20", "2026-02-23", "weekly"),
        ref("2026-02-23", "2026-03-02", "weekly"),
        ref("2026-03-02", "2026-03-09", "weekly"),
    ]


def prepaid(key: str, starts_at: datetime) -> CreditGrant:
    return grant(key=key, kind=CreditKind.PREPAID, amount=D("250.00"), starts_at=starts_at)


def test_purchases_go_on_the_first_period_containing_their_start() -> None:
    weekly_feb_23 = ref("2026-02-23", "2026-03-02", "weekly")
    refs = [JAN, FEB, weekly_feb_23]
    grants = (
        prepaid("on-jan-1", at("2026-01-01")),
        prepaid("last-jan-microsecond", at("2026-01-31T23:59:59.999999")),
        prepaid("on-feb-1", at("2026-02-01")),
        prepaid("both-feb-and-week", at("2026-02-25")),
        prepaid("before-every-period", at("2025-12-01")),
        prepaid("after-every-period", at("2026-04-01")),
        grant(key="free", amount=D("10.00"), starts_at=at("2026-01-10")),
    )

    placed = purchases(customer(credits=grants), refs)

    assert {r: [g.key for g in gs] for r, gs in placed.items()} == {
        JAN: ["on-jan-1", "last-jan-microsecond"],
        FEB: ["on-feb-1", "both-feb-and-week"],
    }


def summary(drafts: list[Draft]) -> list[tuple[PeriodRef, D, D, D, D]]:
    return [
        (
            d.ref,
            d.totals.subtotal,
            d.totals.credits_applied,
            d.totals.total,
            d.totals.credit_balance_after,
        )
        for d in drafts
    ]


def test_credits_are_drawn_in_period_order_across_drafts() -> None:
    acme = customer(subscriptions=MONTHLY_FROM_JANUARY, credits=(WELCOME,))

    drafts = draft_invoices(
        customer=acme, catalog=CATALOG, drafts=[FEB, JAN], all_periods=[JAN, FEB], usage={}, used={}
    )

    assert summary(drafts) == [
        (JAN, D("300.00"), D("300.00"), D("0.00"), D("100.00")),
        (FEB, D("300.00"), D("100.00"), D("200.00"), D("0.00")),
    ]


def test_drafts_draw_after_what_issued_invoices_used() -> None:
    acme = customer(subscriptions=MONTHLY_FROM_JANUARY, credits=(WELCOME,))

    drafts = draft_invoices(
        customer=acme,
        catalog=CATALOG,
        drafts=[FEB],
        all_periods=[JAN, FEB],
        usage={},
        used={"welcome": D("350.00")},
    )

    assert summary(drafts) == [(FEB, D("300.00"), D("50.00"), D("250.00"), D("0.00"))]


def test_a_purchase_is_billed_on_its_draft_and_not_paid_by_credits() -> None:
    topup = grant(
        key="topup",
        kind=CreditKind.PREPAID,
        amount=D("250.00"),
        price=D("200.00"),
        starts_at=at("2026-02-10"),
    )
    acme = customer(subscriptions=MONTHLY_FROM_JANUARY, credits=(WELCOME, topup))

    drafts = draft_invoices(
        customer=acme, catalog=CATALOG, drafts=[JAN, FEB], all_periods=[JAN, FEB], usage={}, used={}
    )

    # January: welcome pays 300.00. February owes 300.00 + the 200.00 purchase; welcome's
    # last 100.00 and then 200.00 of the top-up pay the 300.00; the purchase stays due.
    # January's balance after is welcome's 100.00 only: the top-up starts after January
    # (spec 4.6 counts the grants that started before the period end).
    assert [[line.name for line in d.lines] for d in drafts] == [
        ["Platform"],
        ["Platform", "Prepaid credit purchase"],
    ]
    assert summary(drafts) == [
        (JAN, D("300.00"), D("300.00"), D("0.00"), D("100.00")),
        (FEB, D("500.00"), D("300.00"), D("200.00"), D("50.00")),
    ]


def late_line(amount: D, corrects: datetime) -> Line:
    return Line(
        key='["platform",[],null]',
        name="Platform (late usage, 2026-01-01)",
        product="platform",
        type="flat",
        group=(),
        quantity=D(0),
        unit_price=None,
        exact=amount,
        amount=amount,
        corrects=corrects,
    )


def test_corrections_go_on_the_next_draft() -> None:
    acme = customer(subscriptions=MONTHLY_FROM_JANUARY)
    late = late_line(D("12.00"), at("2026-01-01"))

    drafts = draft_invoices(
        customer=acme,
        catalog=CATALOG,
        drafts=[FEB, MAR],
        all_periods=[JAN, FEB, MAR],
        usage={},
        used={},
        corrections={JAN: [late]},
    )

    assert [([line.name for line in d.lines], d.corrected) for d in drafts] == [
        (["Platform", "Platform (late usage, 2026-01-01)"], (JAN,)),
        (["Platform"], ()),
    ]
    assert [d.totals.subtotal for d in drafts] == [D("312.00"), D("300.00")]


def test_a_correction_waits_for_a_draft_starting_after_the_corrected_period() -> None:
    # January (monthly) is issued; a weekly subscription's week of January 26th is still a
    # draft. That week starts before January ends, so the correction belongs on February.
    both = customer(
        subscriptions=(
            subscription(plan="monthly", starts_at=at("2026-01-01")),
            subscription(plan="weekly", starts_at=at("2026-01-05")),
        )
    )
    week = ref("2026-01-26", "2026-02-02", "weekly")

    drafts = draft_invoices(
        customer=both,
        catalog=CATALOG,
        drafts=[week, FEB],
        all_periods=[JAN, week, FEB],
        usage={},
        used={},
        corrections={JAN: [late_line(D("12.00"), at("2026-01-01"))]},
    )

    assert [(d.ref, d.corrected) for d in drafts] == [
        (week, ()),
        (FEB, (JAN,)),
    ]


def placed(drafts: list[Draft]) -> list[tuple[PeriodRef, tuple[PeriodRef, ...]]]:
    return [(d.ref, d.corrected) for d in drafts]


def test_same_start_subscriptions_keep_their_own_corrections() -> None:
    # Two monthly subscriptions whose periods start at the same instant: each January's
    # late usage goes on the same subscription's February, never on the other's (spec 5.3).
    both = customer(
        subscriptions=(
            subscription(plan="monthly", starts_at=at("2026-01-01")),
            subscription(plan="addon", starts_at=at("2026-01-01")),
        )
    )
    jan_addon, feb_addon = (
        ref("2026-01-01", "2026-02-01", "addon"),
        ref("2026-02-01", "2026-03-01", "addon"),
    )
    drafts = draft_invoices(
        customer=both,
        catalog=CATALOG,
        drafts=[FEB, feb_addon],
        all_periods=[JAN, jan_addon, FEB, feb_addon],
        usage={},
        used={},
        corrections={
            JAN: [late_line(D("12.00"), at("2026-01-01"))],
            jan_addon: [late_line(D("5.00"), at("2026-01-01"))],
        },
    )
    assert placed(drafts) == [(feb_addon, (jan_addon,)), (FEB, (JAN,))]
    assert [d.totals.subtotal for d in drafts] == [D("305.00"), D("312.00")]


def test_an_ended_subscription_passes_its_corrections_to_the_earliest_other_draft() -> None:
    # "monthly" ended with January; its late usage goes on the earliest draft of the other
    # subscriptions that starts at or after January's end: period start, then plan key, so
    # "addon" (February) before "weekly" (the week of February 2nd starts later).
    three = customer(
        subscriptions=(
            subscription(plan="monthly", starts_at=at("2026-01-01"), ends_at=at("2026-02-01")),
            subscription(plan="weekly", starts_at=at("2026-01-05")),
            subscription(plan="addon", starts_at=at("2026-01-01")),
        )
    )
    week = ref("2026-02-02", "2026-02-09", "weekly")
    feb_addon = ref("2026-02-01", "2026-03-01", "addon")
    drafts = draft_invoices(
        customer=three,
        catalog=CATALOG,
        drafts=[week, feb_addon],
        all_periods=[JAN, week, feb_addon],
        usage={},
        used={},
        corrections={JAN: [late_line(D("12.00"), at("2026-01-01"))]},
    )
    assert placed(drafts) == [(feb_addon, (JAN,)), (week, ())]


def test_a_continuing_subscription_waits_for_its_own_next_draft() -> None:
    # The weekly subscription goes on, so its late week waits for its own next week even
    # though the monthly subscription's February draft starts earlier.
    both = customer(
        subscriptions=(
            subscription(plan="monthly", starts_at=at("2026-01-01")),
            subscription(plan="weekly", starts_at=at("2026-01-05")),
        )
    )
    late_week = ref("2026-01-26", "2026-02-02", "weekly")
    next_week = ref("2026-02-02", "2026-02-09", "weekly")
    drafts = draft_invoices(
        customer=both,
        catalog=CATALOG,
        drafts=[FEB, next_week],
        all_periods=[late_week, FEB, next_week],
        usage={},
        used={},
        corrections={late_week: [late_line(D("12.00"), at("2026-01-26"))]},
    )
    assert placed(drafts) == [(FEB, ()), (next_week, (late_week,))]


@pytest.mark.parametrize(
    ("as_of", "grace_hours", "expected"),
    [
        pytest.param(at("2026-02-02"), D(24), True, id="end + 24h exactly"),
        pytest.param(at("2026-02-01T23:59:59"), D(24), False, id="a second short"),
        pytest.param(at("2026-02-01"), D(0), True, id="no grace: at the end"),
        pytest.param(at("2026-02-01T00:30"), D("0.5"), True, id="half an hour of grace"),
        pytest.param(at("2026-02-01T00:29:59"), D("0.5"), False, id="half an hour less a second"),
        pytest.param(at("2026-01-15"), D(24), False, id="period still running"),
    ],
)
def test_closable(as_of: datetime, grace_hours: D, expected: bool) -> None:
    assert closable(JAN, as_of=as_of, grace_hours=grace_hours) is expected


def test_invoice_id_is_stable_per_customer_plan_and_period() -> None:
    assert invoice_id("acme", JAN) == invoice_id("acme", ref("2026-01-01", "2026-02-01"))
    ids = {
        invoice_id("acme", JAN),
        invoice_id("acme", FEB),
        invoice_id("globex", JAN),
        invoice_id("acme", ref("2026-01-01", "2026-02-01", "weekly")),
    }
    assert len(ids) == 4


# --------------------------------------------------------------------------- 5.4, 5.5


ANNIVERSARY = catalog(
    products=[
        product(key="platform", name="Platform", price=FlatPrice(amount=D("310.00"), prorate=True))
    ],
    plans=[
        plan(
            key="anniversary",
            products=("platform",),
            minimum=D("620.00"),
            anchor=Anchor.SUBSCRIPTION,
        )
    ],
)


def test_an_anchored_partial_last_period_is_prorated_against_the_anchored_period() -> None:
    acme = customer(
        subscriptions=(
            subscription(
                plan="anniversary",
                starts_at=at("2026-01-31T10:30"),
                ends_at=at("2026-03-14T10:30"),
            ),
        )
    )
    refs = customer_periods(acme, ANNIVERSARY, until=at("2026-04-01"))

    drafts = draft_invoices(
        customer=acme, catalog=ANNIVERSARY, drafts=refs, all_periods=refs, usage={}, used={}
    )

    # 31 Jan 10:30 -> 28 Feb 10:30 is a full period: 310.00 and a true-up to 620.00.
    # 28 Feb 10:30 -> 14 Mar 10:30 is 14 days of the anchored period 28 Feb -> 31 Mar
    # (31 days, not February's 28): 310.00 x 14/31 = 140.00, minimum 620.00 x 14/31 = 280.00.
    assert [d.ref.period for d in drafts] == [
        Span(at("2026-01-31T10:30"), at("2026-02-28T10:30")),
        Span(at("2026-02-28T10:30"), at("2026-03-14T10:30")),
    ]
    assert [[(line.name, line.amount) for line in d.lines] for d in drafts] == [
        [("Platform", D("310.00")), ("Minimum spend true-up", D("310.00"))],
        [("Platform", D("140.00")), ("Minimum spend true-up", D("140.00"))],
    ]


METERED = catalog(
    meters=[meter(aggregation=Aggregation.SUM)],
    products=[product(key="usage", name="Usage", price=PerUnitPrice(unit_price=D(1)))],
    plans=[plan(key="monthly", products=("usage",))],
)


def test_a_monthly_credit_pays_each_month_and_nothing_rolls_over() -> None:
    monthly = grant(
        key="monthly-free",
        amount=D("100.00"),
        starts_at=at("2026-01-01"),
        recurrence=Interval.MONTH,
    )
    acme = customer(subscriptions=MONTHLY_FROM_JANUARY, credits=(monthly,))
    no_group: tuple[str, ...] = ()
    usage = {
        JAN: {"usage": {no_group: D(60)}},
        FEB: {"usage": {no_group: D(130)}},
        MAR: {"usage": {no_group: D(0)}},
    }

    drafts = draft_invoices(
        customer=acme,
        catalog=METERED,
        drafts=[JAN, FEB, MAR],
        all_periods=[JAN, FEB, MAR],
        usage=usage,
        used={},
    )

    # January uses 60.00 of its 100.00; the 40.00 left expires on 1 February. February's
    # occurrence pays 100.00 of 130.00; March owes nothing. Each occurrence expires at the
    # period end and the next one starts there, so no balance is left after any period.
    assert summary(drafts) == [
        (JAN, D("60.00"), D("60.00"), D("0.00"), D("0.00")),
        (FEB, D("130.00"), D("100.00"), D("30.00"), D("0.00")),
        (MAR, D("0.00"), D("0.00"), D("0.00"), D("0.00")),
    ]
    assert [[(u.grant, u.amount) for u in d.totals.credits] for d in drafts] == [
        [("monthly-free/2026-01-01", D("60.00"))],
        [("monthly-free/2026-02-01", D("100.00"))],
        [],
    ]


def test_a_recurring_credit_draws_after_what_issued_invoices_used() -> None:
    monthly = grant(
        key="monthly-free",
        amount=D("100.00"),
        starts_at=at("2026-01-01"),
        recurrence=Interval.MONTH,
        until=at("2026-02-01"),
    )
    acme = customer(subscriptions=MONTHLY_FROM_JANUARY, credits=(monthly,))

    drafts = draft_invoices(
        customer=acme,
        catalog=METERED,
        drafts=[FEB],
        all_periods=[JAN, FEB],
        usage={FEB: {"usage": {(): D(130)}}},
        used={"monthly-free/2026-01-01": D("60.00")},
    )

    # until 1 February: only January's occurrence exists, and it expired with January.
    assert summary(drafts) == [(FEB, D("130.00"), D("0.00"), D("130.00"), D("0.00"))]
