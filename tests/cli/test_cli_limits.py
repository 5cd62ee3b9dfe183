"""Spec 7 limits through the CLI, on SQLite and PostgreSQL: a line beyond them is one
rejected line with its number and the rest of the file goes in; a setup file beyond them is
a clear error (exit 1), never a traceback."""

import json
import random
import string
from pathlib import Path

from tests.cli.test_cli import SETUP, event, run


def noise(length: int) -> str:
    chooser = random.Random(length)
    return "".join(chooser.choice(string.ascii_letters + string.digits) for _ in range(length))


def nested_line(txid: str, levels: int) -> str:
    """An event line whose JSON nests ``levels`` levels (the event object is level 1)."""
    inner = "[" * (levels - 2) + "1" + "]" * (levels - 2)
    return (
        f'{{"transaction_id": "{txid}", "customer_id": "acme", "event_type": "call",'
        f' "timestamp": "2026-01-05T10:00:00Z", "properties": {{"x": {inner}}}}}'
    )


def test_ingest_rejects_deep_and_oversized_lines_and_goes_on(db_url: str, tmp_path: Path) -> None:
    setup = tmp_path / "setup.yaml"
    setup.write_text(SETUP)
    assert run(db_url, "apply", str(setup)).returncode == 0
    grouped = json.loads(event("e-group"))
    grouped["properties"]["region"] = noise(3000)  # the meter "calls" groups by region
    lines = [
        event("e1"),
        nested_line("e-deep-40", 40),  # orjson reads it; spec 7 refuses it
        event("e2"),
        nested_line("e-deep-300", 300),  # orjson writes at most 255 levels
        nested_line("e-deep-2000", 2000),  # beyond what orjson reads at all
        json.dumps(grouped),
        nested_line("e-edge", 32),
        event("e3"),
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")
    done = run(db_url, "ingest", str(events))
    assert done.returncode == 3, done.stderr  # some lines were rejected (see test_ingest_rejects)
    assert "4 accepted, 0 duplicate, 4 rejected" in done.stdout
    assert "rejected line 2: value in properties.x" in done.stderr
    assert "nests deeper than 32 levels" in done.stderr
    assert "rejected line 4: value in properties.x" in done.stderr
    assert "rejected line 5: invalid JSON: nested too deeply" in done.stderr
    assert (
        "rejected line 6: property 'region' is 3000 characters long; meter 'calls' groups by"
        " it and a group value has at most 200 characters"
    ) in done.stderr
    assert "line 7" not in done.stderr
    again = run(db_url, "ingest", str(events))
    assert "0 accepted, 4 duplicate, 4 rejected" in again.stdout


def test_apply_refuses_a_deep_setup_file_clearly(db_url: str, tmp_path: Path) -> None:
    for name, text in [
        ("deep.yaml", "meters: " + "[" * 10_000 + "]" * 10_000 + "\n"),
        ("deep.json", '{"meters": ' + "[" * 10_000 + "]" * 10_000 + "}"),
        ("deep-66.json", '{"meters": ' + "[" * 65 + "]" * 65 + "}"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        done = run(db_url, "apply", str(path))
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        assert done.stderr.startswith(f"error: {path}"), done.stderr
        assert "nest" in done.stderr
        assert "RecursionError" not in done.stderr


def test_apply_refuses_values_beyond_the_limits_with_their_path(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "setup.yaml"
    path.write_text(SETUP.replace('unit_price: "0.25"', 'unit_price: "1e25"'))
    done = run(db_url, "apply", str(path))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {path}: products[0].price.unit_price: must have a magnitude below 10^15,"
        " got '1e25'"
    )
    path.write_text(SETUP.replace("id: acme", f"id: {'a' * 201}"))
    done = run(db_url, "apply", str(path))
    assert done.returncode == 1
    assert "customers[0].id: " in done.stderr
    assert "is 201 characters long; at most 200" in done.stderr
