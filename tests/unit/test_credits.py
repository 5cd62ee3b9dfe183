"""Credit grants paying an invoice: who may pay, in which order, how much (spec 4.6)."""

from datetime import datetime
from decimal import Decimal as D

import pytest

from meterbill.core.catalog import CreditGrant, CreditKind, Interval
from meterbill.core.credits import (
    CreditUse,
    balance_after,
    draw_credits,
    draw_order,
    expand_grants,
    occurrences,
    opening_balances,
)
from meterbill.core.periods import Span
from meterbill.core.rating import LINE_PURCHASE, Line, totals
from tests.builders import at, grant

JANUARY = Span(at("2026-01-01"), at("2026-02-01"))
FREE, COMMIT, PREPAID = CreditKind.FREE, CreditKind.COMMIT, CreditKind.PREPAID


def test_draw_order_priority_then_expiry_then_start_then_key() -> None:
    grants = [
        grant(key="a-forever", amount=D(1), starts_at=at("2026-01-01")),
        grant(key="z-forever", amount=D(1), starts_at=at("2026-01-01")),
        grant(key="older", amount=D(1), starts_at=at("2025-12-01")),
        grant(key="june", amount=D(1), starts_at=at("2026-01-01"), expires_at=at("2026-06-01")),
        grant(key="march", amount=D(1), starts_at=at("2026-01-01"), expires_at=at("2026-03-01")),
        grant(
            key="vip",
            amount=D(1),
            starts_at=at("2026-01-01"),
            expires_at=at("2027-01-01"),
            priority=1,
        ),
    ]

    assert [g.key for g in sorted(grants, key=draw_order)] == [
        "vip",  # priority 1 before 10
        "march",  # then the earliest expiry
        "june",
        "older",  # never-expiring grants last, the earliest start first
        "a-forever",  # then by key
        "z-forever",
    ]


def test_grants_pay_in_draw_order_each_as_much_as_it_can() -> None:
    grants = [
        grant(key="forever", kind=PREPAID, amount=D(1_000), starts_at=at("2026-01-01")),
        grant(
            key="expiring",
            kind=COMMIT,
            amount=D(100),
            starts_at=at("2026-01-01"),
            expires_at=at("2026-03-01"),
        ),
        grant(key="promo", amount=D(50), starts_at=at("2026-01-01"), priority=1),
    ]
    balances = {"forever": D("1000.00"), "expiring": D("100.00"), "promo": D("50.00")}

    uses = draw_credits(grants, balances, period=JANUARY, payable=D("300.00"))

    assert uses == [
        CreditUse("promo", FREE, D("50.00")),
        CreditUse("expiring", COMMIT, D("100.00")),
        CreditUse("forever", PREPAID, D("150.00")),
    ]
    assert balances == {"forever": D("850.00"), "expiring": D("0.00"), "promo": D("0.00")}


def test_the_first_grant_pays_all_and_the_others_nothing() -> None:
    grants = [
        grant(key="a", amount=D(100), starts_at=at("2026-01-01")),
        grant(key="b", amount=D(100), starts_at=at("2026-01-01")),
    ]
    balances = {"a": D("100.00"), "b": D("100.00")}

    uses = draw_credits(grants, balances, period=JANUARY, payable=D("30.00"))

    assert (uses, balances) == (
        [CreditUse("a", FREE, D("30.00"))],
        {"a": D("70.00"), "b": D("100.00")},
    )


@pytest.mark.parametrize(
    ("starts_at", "expires_at", "paid"),
    [
        pytest.param(at("2025-06-01"), None, D("40.00"), id="started before the period"),
        pytest.param(at("2026-01-20"), None, D("40.00"), id="starts inside the period"),
        pytest.param(at("2026-02-01"), None, None, id="starts at the period end: not yet"),
        pytest.param(at("2026-03-01"), None, None, id="starts after the period"),
        pytest.param(at("2025-06-01"), at("2026-01-15"), D("40.00"), id="expires inside"),
        pytest.param(at("2025-06-01"), at("2026-02-01"), D("40.00"), id="expires at the end"),
        pytest.param(at("2025-06-01"), at("2026-01-01"), None, id="expired at the period start"),
        pytest.param(at("2025-06-01"), at("2025-12-15"), None, id="expired before the period"),
    ],
)
def test_which_grants_can_pay(
    starts_at: datetime, expires_at: datetime | None, paid: D | None
) -> None:
    only = grant(key="g", amount=D(100), starts_at=starts_at, expires_at=expires_at)

    uses = draw_credits([only], {"g": D("100.00")}, period=JANUARY, payable=D("40.00"))

    assert uses == ([] if paid is None else [CreditUse("g", FREE, paid)])


@pytest.mark.parametrize(
    ("balance", "payable", "uses"),
    [
        pytest.param(D("0.00"), D("40.00"), [], id="empty balance pays nothing"),
        pytest.param(D("100.00"), D("0.00"), [], id="nothing owed, nothing drawn"),
        pytest.param(D("100.00"), D("-5.00"), [], id="negative owed, nothing drawn"),
        pytest.param(
            D("25.00"), D("40.00"), [CreditUse("g", FREE, D("25.00"))], id="partial payment"
        ),
    ],
)
def test_how_much_one_grant_pays(balance: D, payable: D, uses: list[CreditUse]) -> None:
    only = grant(key="g", amount=D(100), starts_at=at("2026-01-01"))

    assert draw_credits([only], {"g": balance}, period=JANUARY, payable=payable) == uses


def test_balance_after_leaves_out_grants_expiring_by_the_period_end() -> None:
    # Spec 4.6: what remains on the grants that started before the period end and do not
    # expire by it; "march" starts after January, so it is not part of January's balance.
    grants = [
        grant(key="forever", amount=D(100), starts_at=at("2026-01-01")),
        grant(key="ends", amount=D(50), starts_at=at("2026-01-01"), expires_at=at("2026-02-01")),
        grant(key="later", amount=D(30), starts_at=at("2026-01-01"), expires_at=at("2026-02-02")),
        grant(key="march", amount=D(20), starts_at=at("2026-03-01")),
    ]
    balances = {"forever": D(100), "ends": D(50), "later": D(30), "march": D(20)}

    assert balance_after(grants, balances, period=JANUARY) == D(130)


@pytest.mark.parametrize(
    ("amount", "used", "currency", "opening"),
    [
        pytest.param(D("400.00"), D(0), "USD", D("400.00"), id="nothing used"),
        pytest.param(D("400.00"), D("123.45"), "USD", D("276.55"), id="less what was used"),
        pytest.param(D("10.005"), D(0), "USD", D("10.01"), id="amount rounded half up first"),
        pytest.param(D("100.5"), D(0), "JPY", D(101), id="whole yen"),
    ],
)
def test_opening_balances(amount: D, used: D, currency: str, opening: D) -> None:
    grants = [grant(key="g", amount=amount, starts_at=at("2026-01-01"))]

    assert opening_balances(grants, {"g": used}, currency=currency) == {"g": opening}


def fixed(kind: str, amount: D) -> Line:
    return Line(
        key=kind,
        name=kind,
        product=None,
        type=kind,
        group=(),
        quantity=D(1),
        unit_price=None,
        exact=amount,
        amount=amount,
    )


def pay(lines: list[Line], grants: list[CreditGrant], balances: dict[str, D]) -> tuple[D, D, D, D]:
    result = totals(lines, grants=grants, balances=balances, period=JANUARY)
    return result.subtotal, result.credits_applied, result.total, result.credit_balance_after


WELCOME = grant(key="welcome", amount=D(1_000), starts_at=at("2026-01-01"))


def test_credits_never_pay_a_prepaid_purchase() -> None:
    lines = [fixed("usage", D("100.00")), fixed(LINE_PURCHASE, D("250.00"))]

    assert pay(lines, [WELCOME], {"welcome": D("1000.00")}) == (
        D("350.00"),
        D("100.00"),
        D("250.00"),
        D("900.00"),
    )


def test_credits_pay_down_to_zero_and_no_further() -> None:
    assert pay([fixed("usage", D("50.00"))], [WELCOME], {"welcome": D("80.00")}) == (
        D("50.00"),
        D("50.00"),
        D("0.00"),
        D("30.00"),
    )


def test_a_negative_subtotal_draws_nothing_and_totals_zero() -> None:
    assert pay([fixed("usage", D("-20.00"))], [WELCOME], {"welcome": D("80.00")}) == (
        D("-20.00"),
        D(0),
        D(0),
        D("80.00"),
    )


def test_totals_report_each_use() -> None:
    balances = {"welcome": D("1000.00")}

    result = totals(
        [fixed("usage", D("12.34"))], grants=[WELCOME], balances=balances, period=JANUARY
    )

    assert (result.credits, balances) == (
        (CreditUse("welcome", FREE, D("12.34")),),
        {"welcome": D("987.66")},
    )


# --------------------------------------------------------------------------- 5.5 recurring


def occurrence_view(grants: list[CreditGrant]) -> list[tuple[str, datetime, datetime | None]]:
    return [(g.key, g.starts_at, g.expires_at) for g in grants]


@pytest.mark.parametrize(
    ("series", "before", "expected"),
    [
        pytest.param(
            grant(
                key="m",
                amount=D(100),
                starts_at=at("2026-01-31T09:00"),
                recurrence=Interval.MONTH,
            ),
            at("2026-06-01"),
            [
                ("m/2026-01-31", at("2026-01-31T09:00"), at("2026-02-28T09:00")),
                ("m/2026-02-28", at("2026-02-28T09:00"), at("2026-03-31T09:00")),
                ("m/2026-03-31", at("2026-03-31T09:00"), at("2026-04-30T09:00")),
                ("m/2026-04-30", at("2026-04-30T09:00"), at("2026-05-31T09:00")),
                ("m/2026-05-31", at("2026-05-31T09:00"), at("2026-06-30T09:00")),
            ],
            id="31st of the month: clamped, restored, time kept",
        ),
        pytest.param(
            grant(
                key="m",
                amount=D(100),
                starts_at=at("2026-01-01"),
                recurrence=Interval.MONTH,
                until=at("2026-03-15"),
            ),
            at("2027-01-01"),
            [
                ("m/2026-01-01", at("2026-01-01"), at("2026-02-01")),
                ("m/2026-02-01", at("2026-02-01"), at("2026-03-01")),
                ("m/2026-03-01", at("2026-03-01"), at("2026-04-01")),
            ],
            id="until: none starts after it, the last lasts its interval",
        ),
        pytest.param(
            grant(
                key="m",
                amount=D(100),
                starts_at=at("2026-01-01"),
                recurrence=Interval.MONTH,
                until=at("2026-03-01"),
            ),
            at("2027-01-01"),
            [
                ("m/2026-01-01", at("2026-01-01"), at("2026-02-01")),
                ("m/2026-02-01", at("2026-02-01"), at("2026-03-01")),
            ],
            id="none starts at until",
        ),
        pytest.param(
            grant(
                key="m",
                amount=D(100),
                starts_at=at("2026-01-01"),
                recurrence=Interval.MONTH,
                expires_at=at("2026-02-15"),
            ),
            at("2027-01-01"),
            [
                ("m/2026-01-01", at("2026-01-01"), at("2026-02-01")),
                ("m/2026-02-01", at("2026-02-01"), at("2026-02-15")),
            ],
            id="expires_at cuts the series and the last occurrence",
        ),
        pytest.param(
            grant(
                key="m",
                amount=D(100),
                starts_at=at("2026-01-01"),
                recurrence=Interval.MONTH,
                expires_at=at("2026-03-01"),
            ),
            at("2027-01-01"),
            [
                ("m/2026-01-01", at("2026-01-01"), at("2026-02-01")),
                ("m/2026-02-01", at("2026-02-01"), at("2026-03-01")),
            ],
            id="none starts at expires_at",
        ),
        pytest.param(
            grant(
                key="w",
                amount=D(5),
                starts_at=at("2026-01-01T12:00"),
                recurrence=Interval.WEEK,
            ),
            at("2026-01-20"),
            [
                ("w/2026-01-01", at("2026-01-01T12:00"), at("2026-01-08T12:00")),
                ("w/2026-01-08", at("2026-01-08T12:00"), at("2026-01-15T12:00")),
                ("w/2026-01-15", at("2026-01-15T12:00"), at("2026-01-22T12:00")),
            ],
            id="weekly, bounded by the horizon",
        ),
        pytest.param(
            grant(key="q", amount=D(5), starts_at=at("2026-11-30"), recurrence=Interval.QUARTER),
            at("2027-05-30"),
            [
                ("q/2026-11-30", at("2026-11-30"), at("2027-02-28")),
                ("q/2027-02-28", at("2027-02-28"), at("2027-05-30")),
            ],
            id="quarterly from 30 Nov; none at the horizon",
        ),
        pytest.param(
            grant(key="y", amount=D(5), starts_at=at("2028-02-29"), recurrence=Interval.YEAR),
            at("2030-01-01"),
            [
                ("y/2028-02-29", at("2028-02-29"), at("2029-02-28")),
                ("y/2029-02-28", at("2029-02-28"), at("2030-02-28")),
            ],
            id="yearly from 29 Feb 2028",
        ),
        pytest.param(
            grant(key="m", amount=D(5), starts_at=at("2026-01-01"), recurrence=Interval.MONTH),
            at("2026-01-01"),
            [],
            id="nothing before the first start",
        ),
        pytest.param(
            grant(key="once", amount=D(5), starts_at=at("2026-01-01")),
            at("2025-01-01"),
            [("once", at("2026-01-01"), None)],
            id="a grant without recurrence is itself",
        ),
    ],
)
def test_occurrences(
    series: CreditGrant, before: datetime, expected: list[tuple[str, datetime, datetime | None]]
) -> None:
    assert occurrence_view(occurrences(series, before=before)) == expected


def test_an_occurrence_keeps_amount_kind_and_priority() -> None:
    series = grant(
        key="c",
        kind=COMMIT,
        amount=D("100.00"),
        starts_at=at("2026-01-01"),
        priority=3,
        recurrence=Interval.MONTH,
        until=at("2026-12-01"),
    )

    first, second = occurrences(series, before=at("2026-03-01"))

    assert second == CreditGrant(
        key="c/2026-02-01",
        kind=COMMIT,
        amount=D("100.00"),
        starts_at=at("2026-02-01"),
        expires_at=at("2026-03-01"),
        priority=3,
    )
    assert (first.recurrence, first.until) == (None, None)


def test_expand_grants_replaces_only_recurring_grants() -> None:
    once = grant(key="welcome", amount=D(400), starts_at=at("2026-01-01"))
    monthly = grant(key="m", amount=D(100), starts_at=at("2026-01-01"), recurrence=Interval.MONTH)

    expanded = expand_grants([once, monthly], before=at("2026-02-10"))

    assert [g.key for g in expanded] == ["welcome", "m/2026-01-01", "m/2026-02-01"]


def test_unused_occurrence_balance_does_not_roll_over() -> None:
    monthly = grant(
        key="m", amount=D("100.00"), starts_at=at("2026-01-01"), recurrence=Interval.MONTH
    )
    grants = expand_grants([monthly], before=at("2026-03-01"))
    balances = opening_balances(grants, {"m/2026-01-01": D("60.00")}, currency="USD")
    february = Span(at("2026-02-01"), at("2026-03-01"))

    uses = draw_credits(grants, balances, period=february, payable=D("130.00"))

    # January's 40.00 left expired on 1 February; only February's 100.00 can pay.
    assert uses == [CreditUse("m/2026-02-01", FREE, D("100.00"))]
    assert balance_after(grants, balances, period=february) == D(0)
