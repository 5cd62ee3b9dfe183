"""Meters over events: aggregations, filters, groups, partials that merge (spec 4.2)."""

from datetime import datetime, timedelta
from decimal import Decimal as D
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbill.core.aggregation import (
    GroupKey,
    Partial,
    aggregate,
    bucketize,
    carried,
    measure,
    merge,
    quantity,
)
from meterbill.core.catalog import Aggregation, Meter
from meterbill.core.events import Event
from meterbill.core.periods import Span, WindowSize
from tests.builders import at, event, meter

COUNT = Aggregation.COUNT
SUM = Aggregation.SUM
MAX = Aggregation.MAX
UNIQUE = Aggregation.UNIQUE_COUNT
LATEST = Aggregation.LATEST
WEIGHTED = Aggregation.TIME_WEIGHTED
HOUR, DAY = WindowSize.HOUR, WindowSize.DAY

JAN_1 = Span(at("2026-01-01"), at("2026-01-02"))


def value_at(txn: str, timestamp: str, value: object, **dimensions: str) -> Event:
    return event(txn=txn, timestamp=at(timestamp), properties={"value": value, **dimensions})


# Given newest first, so nothing depends on the order events arrive in. evt-3 and evt-4
# share a timestamp: evt-4, the greater transaction id, is the later one.
TABLE = [
    value_at("evt-4", "2026-01-01T12:00", "2.5"),
    value_at("evt-3", "2026-01-01T12:00", 1),
    value_at("evt-2", "2026-01-01T06:00", "1"),
    value_at("evt-1", "2026-01-01T00:00", 5),
]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        pytest.param(COUNT, D(4), id="count: four events"),
        pytest.param(SUM, D("9.5"), id="sum: 5 + 1 + 1 + 2.5"),
        pytest.param(MAX, D(5), id="max"),
        pytest.param(UNIQUE, D(3), id="unique_count: 1 and '1' are one value"),
        pytest.param(LATEST, D("2.5"), id="latest: 12:00 tie goes to evt-4"),
        pytest.param(WEIGHTED, D(66), id="time_weighted: 5x6h + 1x6h + 2.5x12h"),
    ],
)
def test_each_aggregation_over_a_day(aggregation: Aggregation, expected: D) -> None:
    assert measure(meter(aggregation=aggregation), TABLE, JAN_1) == {(): expected}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [value_at("b", "2026-01-01T10:00", 1), value_at("a", "2026-01-01T11:00", 2)],
            D(2),
            id="the later timestamp wins over a greater transaction id",
        ),
        pytest.param(
            [value_at("b", "2026-01-01T10:00", 2), value_at("a", "2026-01-01T10:00", 1)],
            D(2),
            id="same timestamp: the greatest transaction id wins",
        ),
        pytest.param(
            [value_at("a", "2026-01-01T10:00", 3), value_at("b", "2026-01-01T11:00", "n/a")],
            D(3),
            id="an unreadable latest value leaves the last readable one",
        ),
    ],
)
def test_latest(events: list[Event], expected: D) -> None:
    assert measure(meter(aggregation=LATEST), events, JAN_1) == {(): expected}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([-3, -1], D(-1), id="all negative: the largest, not 0"),
        pytest.param([2, "7.25", 7], D("7.25"), id="strings and numbers compare as numbers"),
    ],
)
def test_max(values: list[object], expected: D) -> None:
    events = [value_at(f"evt-{i}", "2026-01-01T10:00", v) for i, v in enumerate(values)]

    assert measure(meter(aggregation=MAX), events, JAN_1) == {(): expected}


@pytest.mark.parametrize("aggregation", [MAX, LATEST, SUM, COUNT, UNIQUE])
def test_no_event_is_zero(aggregation: Aggregation) -> None:
    assert quantity(meter(aggregation=aggregation), Partial(), span=JAN_1, carry=None) == D(0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([1, "1", 2, "2", "a"], D(3), id="numbers are compared as their text"),
        pytest.param([1, D("1.0")], D(2), id="1 and 1.0 are different texts"),
        pytest.param([True, "true"], D(1), id="a boolean is its JSON text"),
        pytest.param([None, {"a": 1}, [1], "n/a", "x"], D(2), id="null and containers skipped"),
    ],
)
def test_unique_count_compares_strings(values: list[object], expected: D) -> None:
    events = [value_at(f"evt-{i}", "2026-01-01T10:00", v) for i, v in enumerate(values)]

    assert measure(meter(aggregation=UNIQUE), events, JAN_1) == {(): expected}


@pytest.mark.parametrize(
    ("events", "period", "expected"),
    [
        pytest.param(
            [value_at("a", "2026-01-01T00:00", 10)],
            Span(at("2026-01-01T00:00"), at("2026-01-01T01:30")),
            D(15),
            id="value 10 held 90 minutes is 15",
        ),
        pytest.param(
            [value_at("a", "2026-01-01T20:00", 3)],
            JAN_1,
            D(12),
            id="the last value holds until the span ends: 3x4h",
        ),
        pytest.param(
            [
                value_at("a", "2025-12-31T18:00", 4),
                value_at("b", "2025-12-31T22:00", 2),
                value_at("c", "2026-01-01T06:00", 10),
                value_at("d", "2026-01-01T18:00", 0),
            ],
            JAN_1,
            D(132),
            id="carry-in of the latest earlier value: 2x6h + 10x12h + 0x6h",
        ),
        pytest.param(
            [value_at("a", "2025-12-31T22:00", 2)],
            JAN_1,
            D(48),
            id="a carried value alone makes a line: 2x24h",
        ),
        pytest.param(
            [value_at("a", "2026-01-01T12:00", 1), value_at("b", "2026-01-02T00:00", 100)],
            JAN_1,
            D(12),
            id="an event at the span end does not count",
        ),
        pytest.param(
            [value_at("b", "2026-01-01T12:00", 1), value_at("a", "2026-01-01T12:00", 9)],
            JAN_1,
            D(12),
            id="same timestamp: the greatest transaction id holds, 1x12h",
        ),
        pytest.param(
            [value_at("a", "2026-01-01T00:00", 2), value_at("b", "2026-01-01T12:00", "n/a")],
            JAN_1,
            D(48),
            id="an unreadable value does not interrupt the held value",
        ),
        pytest.param(
            [value_at("a", "2026-01-01T00:00", "0.5"), value_at("b", "2026-01-01T00:20", 0)],
            JAN_1,
            D("0.1666666666666666666666666667"),
            id="a third of an hour at 0.5 is exact to 28 digits",
        ),
    ],
)
def test_time_weighted(events: list[Event], period: Span, expected: D) -> None:
    assert measure(meter(aggregation=WEIGHTED), events, period) == {(): expected}


def test_time_weighted_without_value_has_no_line() -> None:
    carried_zero = [value_at("a", "2025-12-31T22:00", 0)]

    assert measure(meter(aggregation=WEIGHTED), carried_zero, JAN_1) == {}


@pytest.mark.parametrize(
    ("carry", "expected"),
    [
        pytest.param(D(2), D(48), id="carried 2 over a day"),
        pytest.param(None, D(0), id="nothing carried"),
    ],
)
def test_time_weighted_quantity_of_an_empty_slice(carry: D | None, expected: D) -> None:
    assert quantity(meter(aggregation=WEIGHTED), Partial(), span=JAN_1, carry=carry) == expected


@pytest.mark.parametrize(
    ("partial", "before", "after"),
    [
        pytest.param(None, D(3), D(3), id="no slice keeps the value"),
        pytest.param(Partial(), D(3), D(3), id="an empty slice keeps the value"),
        pytest.param(
            Partial(count=1, last=(at("2026-01-01T05:00"), D(7))),
            D(3),
            D(7),
            id="the slice's last value replaces it",
        ),
        pytest.param(Partial(), None, None, id="nothing before, nothing after"),
    ],
)
def test_carried(partial: Partial | None, before: D | None, after: D | None) -> None:
    assert carried(partial, before) == after


def test_filters_and_group_by() -> None:
    kafka_sums = meter(aggregation=SUM, filters={"api": ["kafka"]}, group_by=("region",))
    events = [
        value_at("k1", "2026-01-01T01:00", 3, api="kafka", region="eu"),
        value_at("k2", "2026-01-01T02:00", 4, api="kafka", region="us"),
        value_at("k3", "2026-01-01T03:00", 5, api="kafka", region="eu"),
        value_at("k4", "2026-01-01T04:00", 2, api="kafka"),
        value_at("h1", "2026-01-01T05:00", 100, api="http", region="eu"),
        value_at("n1", "2026-01-01T06:00", 50, region="eu"),
        event(
            txn="o1",
            timestamp=at("2026-01-01T07:00"),
            event_type="other",
            properties={"value": 70, "api": "kafka", "region": "eu"},
        ),
    ]

    assert measure(kafka_sums, events, JAN_1) == {("eu",): D(8), ("us",): D(4), ("",): D(2)}


def test_filter_values_are_compared_as_strings() -> None:
    tier_one = meter(aggregation=COUNT, filters={"tier": ["1"]})
    events = [
        event(txn="int", timestamp=at("2026-01-01T01:00"), properties={"tier": 1}),
        event(txn="str", timestamp=at("2026-01-01T02:00"), properties={"tier": "1"}),
        event(txn="dec", timestamp=at("2026-01-01T03:00"), properties={"tier": D("1.0")}),
        event(txn="two", timestamp=at("2026-01-01T04:00"), properties={"tier": 2}),
        event(txn="none", timestamp=at("2026-01-01T05:00"), properties={}),
    ]

    assert measure(tier_one, events, JAN_1) == {(): D(2)}


def test_group_by_two_dimensions_with_a_missing_one() -> None:
    counts = meter(aggregation=COUNT, group_by=("cluster", "memory"))
    events = [
        event(txn="a", timestamp=at("2026-01-01T01:00"), properties={"cluster": "c1"}),
        event(
            txn="b",
            timestamp=at("2026-01-01T02:00"),
            properties={"cluster": "c1", "memory": "4_gb"},
        ),
        event(
            txn="c",
            timestamp=at("2026-01-01T03:00"),
            properties={"cluster": "c1", "memory": "4_gb"},
        ),
        event(txn="d", timestamp=at("2026-01-01T04:00"), properties={"memory": None}),
    ]

    assert measure(counts, events, JAN_1) == {
        ("c1", ""): D(1),
        ("c1", "4_gb"): D(2),
        ("", ""): D(1),
    }


def test_time_weighted_carries_per_group() -> None:
    by_region = meter(aggregation=WEIGHTED, group_by=("region",))
    events = [
        value_at("a", "2025-12-31T20:00", 2, region="eu"),
        value_at("b", "2026-01-01T12:00", 4, region="us"),
    ]

    assert measure(by_region, events, JAN_1) == {("eu",): D(48), ("us",): D(48)}


UNREADABLE = [5, "n/a", None, {"a": 1}, "NaN", "3", "1_000", True]


@pytest.mark.parametrize(
    ("aggregation", "count", "skipped"),
    [
        pytest.param(SUM, 2, 6, id="sum reads 5 and '3' only"),
        pytest.param(COUNT, 8, 0, id="count reads no property"),
    ],
)
def test_unreadable_values_are_skipped_and_counted(
    aggregation: Aggregation, count: int, skipped: int
) -> None:
    events = [value_at(f"evt-{i}", "2026-01-01T10:00", v) for i, v in enumerate(UNREADABLE)]

    partial = aggregate(meter(aggregation=aggregation), events)[()]

    assert (partial.count, partial.skipped) == (count, skipped)


def test_unreadable_values_do_not_add_to_a_sum() -> None:
    events = [value_at(f"evt-{i}", "2026-01-01T10:00", v) for i, v in enumerate(UNREADABLE)]

    assert measure(meter(aggregation=SUM), events, JAN_1) == {(): D(8)}


def test_a_group_with_only_unreadable_values_has_no_line() -> None:
    by_region = meter(aggregation=SUM, group_by=("region",))
    events = [
        value_at("a", "2026-01-01T01:00", 5, region="eu"),
        value_at("b", "2026-01-01T02:00", "n/a", region="us"),
    ]

    assert measure(by_region, events, JAN_1) == {("eu",): D(5)}


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        pytest.param(SUM, D("9.5"), id="sum"),
        pytest.param(MAX, D(5), id="max"),
        pytest.param(LATEST, D("2.5"), id="latest"),
        pytest.param(UNIQUE, D(3), id="unique_count"),
        pytest.param(WEIGHTED, D(66), id="time_weighted: 1 holds from 06:00 across the cut"),
    ],
)
def test_merging_slices_cut_at_09_00(aggregation: Aggregation, expected: D) -> None:
    m = meter(aggregation=aggregation)
    cut = at("2026-01-01T09:00")
    morning = aggregate(m, [e for e in TABLE if e.timestamp < cut])[()]
    rest = aggregate(m, [e for e in TABLE if e.timestamp >= cut])[()]

    assert quantity(m, merge(morning, rest), span=JAN_1, carry=None) == expected


def test_bucketize_keys_each_event_by_group_size_and_window() -> None:
    buckets = bucketize(
        meter(aggregation=SUM),
        [value_at("a", "2026-01-01T10:15", 1), value_at("b", "2026-01-01T10:45", 2)],
        [HOUR, DAY],
    )

    assert {key: p.total for key, p in buckets.items()} == {
        ((), HOUR, at("2026-01-01T10:00")): D(3),
        ((), DAY, at("2026-01-01")): D(3),
    }


# Carried from December 31st, then changed three times; read over January 1st to 3rd:
# 2x6h + 10x30h + 4x30h + 0x6h = 12 + 300 + 120 + 0 = 432.
STEPS = [
    value_at("a", "2025-12-31T20:00", 2),
    value_at("b", "2026-01-01T06:00", 10),
    value_at("c", "2026-01-02T12:00", 4),
    value_at("d", "2026-01-03T18:00", 0),
]
THREE_DAYS = Span(at("2026-01-01"), at("2026-01-04"))


def read_buckets(m: Meter, events: list[Event], span: Span, size: WindowSize) -> dict[GroupKey, D]:
    """The meter over ``span`` the way storage reads it: merge the buckets in time order."""
    buckets = sorted(bucketize(m, events, [HOUR, DAY]).items(), key=lambda item: item[0][2])
    weighted = m.aggregation is WEIGHTED
    result: dict[GroupKey, D] = {}
    for group in {key[0] for key, _ in buckets}:
        mine = [(key[2], p) for key, p in buckets if key[0] == group and key[1] is size]
        before = reduce(merge, [p for start, p in mine if start < span.start], Partial())
        inside = reduce(
            merge, [p for start, p in mine if span.start <= start < span.end], Partial()
        )
        value = quantity(m, inside, span=span, carry=carried(before, None))
        if inside.count > 0 or (weighted and value != 0):
            result[group] = value
    return result


@pytest.mark.parametrize("size", [HOUR, DAY])
def test_merged_buckets_equal_measure_by_hand(size: WindowSize) -> None:
    m = meter(aggregation=WEIGHTED)

    assert measure(m, STEPS, THREE_DAYS) == {(): D(432)}
    assert read_buckets(m, STEPS, THREE_DAYS, size) == {(): D(432)}


START = at("2025-12-31")
VALUES = st.one_of(
    st.integers(min_value=-50, max_value=50),
    st.decimals(min_value=-100, max_value=100, places=2, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-100, max_value=100, places=2, allow_nan=False, allow_infinity=False).map(
        str
    ),
    st.sampled_from(["n/a", None, "NaN", "7"]),
)


@st.composite
def events_over(draw: st.DrawFn, days: int) -> list[Event]:
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=days * 86_400 - 1),
                VALUES,
                st.sampled_from(["eu", "us", None]),
            ),
            max_size=30,
        )
    )
    return [
        event(
            txn=f"evt-{index:03d}",
            timestamp=START + timedelta(seconds=second),
            properties={"value": value} if region is None else {"value": value, "region": region},
        )
        for index, (second, value, region) in enumerate(rows)
    ]


def quantities(
    m: Meter, partials: dict[GroupKey, Partial], span: Span, carry: D | None
) -> dict[GroupKey, tuple[D, int, int]]:
    return {
        group: (quantity(m, p, span=span, carry=carry), p.count, p.skipped)
        for group, p in partials.items()
    }


@settings(max_examples=200, deadline=None)
@given(
    aggregation=st.sampled_from([SUM, MAX, LATEST, UNIQUE, WEIGHTED, COUNT]),
    events=events_over(2),
    cut_second=st.integers(min_value=0, max_value=2 * 86_400),
    carry=st.none() | st.decimals(min_value=-10, max_value=10, places=1, allow_nan=False),
)
def test_merge_of_two_slices_equals_aggregating_all(
    aggregation: Aggregation, events: list[Event], cut_second: int, carry: D | None
) -> None:
    m = meter(aggregation=aggregation, group_by=("region",))
    span = Span(START, START + timedelta(days=2))
    cut: datetime = START + timedelta(seconds=cut_second)
    first = aggregate(m, [e for e in events if e.timestamp < cut])
    second = aggregate(m, [e for e in events if e.timestamp >= cut])
    merged = {
        group: merge(first.get(group, Partial()), second.get(group, Partial()))
        for group in first.keys() | second.keys()
    }

    assert quantities(m, merged, span, carry) == quantities(m, aggregate(m, events), span, carry)


@settings(max_examples=200, deadline=None)
@given(
    aggregation=st.sampled_from([SUM, MAX, LATEST, UNIQUE, WEIGHTED, COUNT]),
    events=events_over(4),
    size=st.sampled_from([HOUR, DAY]),
)
def test_merged_buckets_equal_measure(
    aggregation: Aggregation, events: list[Event], size: WindowSize
) -> None:
    m = meter(aggregation=aggregation, group_by=("region",))
    inside = Span(START + timedelta(days=1), START + timedelta(days=4))

    assert read_buckets(m, events, inside, size) == measure(m, events, inside)
