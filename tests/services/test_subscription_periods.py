"""Late usage follows the subscription and period it belongs to (spec 5.3, 5.7), even when
two subscriptions of a customer have periods that start at the same instant."""

from datetime import UTC, datetime
from decimal import Decimal as D

from tests.services.support import amounts, call, open_world, setup


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def customer(*subscriptions: tuple[str, str, str | None]) -> dict[str, object]:
    return {
        "id": "acme",
        "name": "Acme",
        "subscriptions": [
            {"plan": plan, "starts_at": start, **({"ends_at": end} if end else {})}
            for plan, start, end in subscriptions
        ],
    }


def by_period(views: list, plan: str) -> dict[str, list[tuple[str, D]]]:  # type: ignore[type-arg]
    return {
        view.ref.period.start.date().isoformat(): amounts(view)
        for view in views
        if view.ref.plan == plan
    }


def test_two_monthly_subscriptions_keep_their_own_late_usage(db_url: str) -> None:
    document = setup(
        [customer(("basic", "2026-01-01T00:00:00Z", None), ("extra", "2026-01-01T00:00:00Z", None))]
    )
    with open_world(db_url, document, now=at("2026-01-01T00:00:00")) as world:
        world.ingest([call("jan-1", "2026-01-10T00:00:00Z")], now=at("2026-01-20T00:00:00"))
        assert [v.number for v in world.close(at("2026-02-02T00:00:00")).issued] == [1, 2]
        # One late January call: 1.00 on basic, 10.00 on extra, each on its own February.
        world.ingest([call("jan-late", "2026-01-31T12:00:00Z")], now=at("2026-02-10T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-02-10T00:00:00"))
        assert by_period(views, "basic")["2026-02-01"] == [
            ("Calls (late usage, 2026-01-01)", D("1.00"))
        ]
        assert by_period(views, "extra")["2026-02-01"] == [
            ("Premium calls (late usage, 2026-01-01)", D("10.00"))
        ]
        closed = world.close(at("2026-03-02T00:00:00"))
        assert [(v.ref.plan, v.totals.total) for v in closed.issued] == [
            ("basic", D("1.00")),
            ("extra", D("10.00")),
        ]
        # Both corrections are billed once: March carries none of them again.
        views = world.invoices("acme", as_of=at("2026-03-10T00:00:00"))
        assert by_period(views, "basic")["2026-03-01"] == []
        assert by_period(views, "extra")["2026-03-01"] == []
        issued_feb = [v for v in views if v.number in (3, 4)]
        assert {(v.ref.plan, line.corrects_plan) for v in issued_feb for line in v.lines} == {
            ("basic", "basic"),
            ("extra", "extra"),
        }


def test_a_weekly_and_a_monthly_plan_starting_on_a_monday(db_url: str) -> None:
    # 2026-06-01 is a Monday: the first week and the month start at the same instant.
    document = setup(
        [
            customer(
                ("basic", "2026-06-01T00:00:00Z", None), ("weekly", "2026-06-01T00:00:00Z", None)
            )
        ]
    )
    with open_world(db_url, document, now=at("2026-06-01T00:00:00")) as world:
        world.ingest([call("w1", "2026-06-02T00:00:00Z")], now=at("2026-06-03T00:00:00"))
        world.close(at("2026-07-02T00:00:00"))
        # Late usage of June 2nd: the week of June 1st (weekly, 10.00) and June (basic, 1.00).
        world.ingest([call("late", "2026-06-02T01:00:00Z")], now=at("2026-07-03T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-07-03T00:00:00"))
        weekly = by_period(views, "weekly")
        assert weekly["2026-06-29"] == [("Premium calls (late usage, 2026-06-01)", D("10.00"))]
        assert by_period(views, "basic")["2026-07-01"] == [
            ("Calls (late usage, 2026-06-01)", D("1.00"))
        ]
        # Closing the week of June 29th bills the weekly correction; the monthly flag stays
        # and July still carries the basic one.
        world.close(at("2026-07-07T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-07-07T00:00:00"))
        assert by_period(views, "basic")["2026-07-01"] == [
            ("Calls (late usage, 2026-06-01)", D("1.00"))
        ]
        assert by_period(views, "weekly")["2026-07-06"] == []


def test_an_ended_subscription_bills_late_usage_on_another_subscription(db_url: str) -> None:
    document = setup(
        [
            customer(
                ("extra", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
                ("basic", "2026-01-01T00:00:00Z", None),
            )
        ]
    )
    with open_world(db_url, document, now=at("2026-01-01T00:00:00")) as world:
        world.close(at("2026-02-02T00:00:00"))
        world.ingest([call("late", "2026-01-20T00:00:00Z")], now=at("2026-02-10T00:00:00"))
        views = world.invoices("acme", as_of=at("2026-02-10T00:00:00"))
        assert by_period(views, "basic")["2026-02-01"] == [
            ("Calls (late usage, 2026-01-01)", D("1.00")),
            ("Premium calls (late usage, 2026-01-01)", D("10.00")),
        ]


def test_late_usage_of_an_ended_subscription_whose_later_periods_are_issued(
    db_url: str,
) -> None:
    """``extra`` ended on 1 March and its January and February are issued: late January
    usage has no draft of ``extra`` left to go on, so it goes on ``basic``'s March (spec
    5.7), not waiting for a draft that never comes."""
    document = setup(
        [
            customer(
                ("extra", "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
                ("basic", "2026-03-01T00:00:00Z", None),
            )
        ]
    )
    with open_world(db_url, document, now=at("2026-01-01T00:00:00")) as world:
        world.ingest([call("jan", "2026-01-05T00:00:00Z")], now=at("2026-01-06T00:00:00"))
        closed = world.close(at("2026-03-02T00:00:00"))
        assert [(v.ref.plan, v.number, v.totals.subtotal) for v in closed.issued] == [
            ("extra", 1, D("10.00")),
            ("extra", 2, D("0")),
        ]
        # Two late January calls at 10.00 (extra's price), one March call at 1.00.
        world.ingest(
            [
                call("jan-late-1", "2026-01-20T00:00:00Z"),
                call("jan-late-2", "2026-01-31T23:59:59Z"),
                call("mar", "2026-03-03T00:00:00Z"),
            ],
            now=at("2026-03-10T00:00:00"),
        )
        views = world.invoices("acme", as_of=at("2026-03-10T00:00:00"))
        assert by_period(views, "basic")["2026-03-01"] == [
            ("Calls", D("1.00")),
            ("Premium calls (late usage, 2026-01-01)", D("20.00")),
        ]
        (march,) = world.close(at("2026-04-02T00:00:00")).issued
        assert (march.number, march.totals.total) == (3, D("21.00"))
        # Billed once: April carries nothing for January.
        views = world.invoices("acme", as_of=at("2026-04-10T00:00:00"))
        assert by_period(views, "basic")["2026-04-01"] == []
