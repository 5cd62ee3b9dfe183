"""WarpStream date parameters that are JSON numbers or nested values: a 400 that says what
was sent, never a 500 (``1.5`` decodes to a ``Decimal``, which the message once failed to
show)."""

from collections.abc import Iterator

import pytest

from meterbill.api.warpstream import PREFIX
from tests.compat.conftest_wt import (
    BACKENDS,
    COMPAT_WARNINGS,
    WS_HEADER,
    World,
    compat_database_url,
    error_code,
    small_world,
)

pytestmark = COMPAT_WARNINGS


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with small_world(compat_database_url(request, request.param)) as loaded:
        yield loaded


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"1.5", "got 1.5"),
        (b"-0.0", "got 0.0"),  # the exact encoder never writes a negative zero
        (b"1e400", "got 1" + "0" * 59),
        (b"true", "got true"),
        (b'{"a": 1}', "got an object"),
        (b"[" * 600 + b"]" * 600, "got an array"),
        (b'"' + b"x" * 500 + b'"', 'got "' + "x" * 55),
    ],
    ids=["decimal", "negative-zero", "huge-exponent", "boolean", "object", "deep-array", "long"],
)
def test_a_date_that_is_not_a_string_is_400_with_what_was_sent(
    world: World, raw: bytes, shown: str
) -> None:
    for name, body in [
        ("get_past_invoice", b'{"date_start": ' + raw + b"}"),
        ("get_invoice_breakdowns", b'{"date_start": ' + raw + b', "date_end": "2026-01-02"}'),
        ("get_invoice_breakdowns", b'{"date_start": "2026-01-01", "date_end": ' + raw + b"}"),
    ]:
        response = world.client.post(
            f"{PREFIX}/{name}",
            content=body,
            headers={WS_HEADER: world.own, "Content-Type": "application/json"},
        )
        assert error_code(response, 400) == "invalid_request", name
        message = response.json()["error"]["message"]
        assert 'must be a date "YYYY-MM-DD", ' + shown in message
        assert len(message) < 120
