"""``meterbill webhooks``: add, list, rotate, deliveries, resend, delete; clear errors."""

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hooks.db'}"


def test_add_list_rotate_deliveries_delete(db: str) -> None:
    added = run(db, "webhooks", "add", "https://example.com/hook", "--events", "invoice.paid")
    assert added.returncode == 0, added.stderr
    *_, secret = added.stdout.strip().splitlines()
    assert secret.startswith("whsec_")
    assert "not shown again" in added.stderr
    listed = run(db, "webhooks", "list", "--json")
    [endpoint] = json.loads(listed.stdout)["data"]
    assert endpoint["url"] == "https://example.com/hook"
    assert endpoint["event_types"] == ["invoice.paid"]
    assert "secret" not in endpoint
    table = run(db, "webhooks", "list")
    assert table.returncode == 0
    assert "Webhook endpoints" in table.stdout
    assert "invoice.paid" in table.stdout

    everything = run(db, "webhooks", "add", "http://127.0.0.1:9000/", "--json")
    assert json.loads(everything.stdout)["data"]["event_types"] == []

    rotated = run(db, "webhooks", "rotate", endpoint["id"])
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip().splitlines()[-1]
    assert new.startswith("whsec_")
    assert new != secret
    assert "previous secret signs too until" in rotated.stderr

    deliveries = run(db, "webhooks", "deliveries", endpoint["id"], "--json")
    assert json.loads(deliveries.stdout) == {"data": [], "next_cursor": None}
    assert run(db, "webhooks", "deliveries", endpoint["id"]).returncode == 0

    unknown = run(db, "webhooks", "resend", endpoint["id"], "msg_nope")
    assert unknown.returncode == 1
    assert "message 'msg_nope' was never sent" in unknown.stderr

    deleted = run(db, "webhooks", "delete", endpoint["id"])
    assert deleted.returncode == 0
    assert f"deleted webhook endpoint {endpoint['id']}" in deleted.stdout
    again = run(db, "webhooks", "delete", endpoint["id"])
    assert again.returncode == 1
    assert "not found" in again.stderr
    assert len(json.loads(run(db, "webhooks", "list", "--json").stdout)["data"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ftp://example.com/",), "must start with http:// or https://"),
        (("https://example.com/", "--events", "invoice.paid,nope"), "unknown event type 'nope'"),
    ],
)
def test_bad_urls_and_event_types_are_errors(db: str, args: tuple[str, ...], message: str) -> None:
    done = run(db, "webhooks", "add", *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert json.loads(run(db, "webhooks", "list", "--json").stdout) == {"data": []}


def test_serve_refuses_a_bad_retry_schedule(db: str) -> None:
    done = run(db, "serve", "--webhook-retry-schedule", "5s,later")
    assert done.returncode == 1
    assert "--webhook-retry-schedule: delay 2 'later'" in done.stderr
