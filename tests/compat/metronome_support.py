"""What the Metronome-compatibility tests share.

* ``metronome_app`` / ``MetronomeEnv``: the whole application in process (the Metronome API
  under ``/metronome``) with the clock fixed at 2026-02-10T00:00:00Z, an admin key, and the
  small setup below loaded through the services;
* ``running_server``: a real ``meterbill serve`` in a subprocess on 127.0.0.1, killed at
  the end;
* ``exact``: a response body decoded with every number as ``Decimal`` (what the API sent,
  digit for digit).

The setup: plan ``std`` (month) bills the meters ``cpu_hours`` (sum of ``cpu_hours`` by
``region``, 0.05 per unit) and ``requests`` (count, 0.001 per unit) and a flat ``support``
fee of 10.00; meter ``spare`` (count of ``spare`` events) is priced by nothing. Customers
``acme`` ("Acme Rockets Ltd", alias ``acme_ingest``, free credit ``welcome`` of 5.00) and
``globex`` ("Globex", alias ``globex_ingest``), both subscribed from 2026-01-01.
"""

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml
from bench.server import serve
from fastapi import FastAPI

from meterbill.api.app import create_app
from meterbill.db.database import Database
from meterbill.services.catalog import apply_setup, load_catalog
from meterbill.services.ingest import ingest_batch, rebuild_meter
from meterbill.services.invoicing import close_periods
from meterbill.services.keys import create_key

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

__all__ = [
    "BASE",
    "CLOCK",
    "SETUP",
    "MetronomeEnv",
    "TestClient",
    "bearer",
    "close",
    "event",
    "exact",
    "ingest_events",
    "metronome_env",
    "running_server",
]

BASE = "/metronome/v1"
CLOCK = datetime(2026, 2, 10, tzinfo=UTC)

SETUP = """\
settings: {grace_period_hours: 24}
meters:
  - {key: cpu_hours, name: CPU hours, event_type: cpu_usage, aggregation: sum,
     property: cpu_hours, group_by: [region]}
  - {key: requests, name: Requests, event_type: request, aggregation: count}
  - {key: spare, name: Spare, event_type: spare, aggregation: count}
products:
  - {key: cpu, name: CPU, meter: cpu_hours, price: {model: per_unit, unit_price: "0.05"}}
  - {key: requests, name: Requests, meter: requests,
     price: {model: per_unit, unit_price: "0.001"}}
  - {key: support, name: Support, price: {model: flat, amount: "10.00"}}
plans:
  - {key: std, name: Standard, interval: month, products: [cpu, requests, support]}
customers:
  - id: acme
    name: Acme Rockets Ltd
    aliases: [acme_ingest]
    subscriptions: [{plan: std, starts_at: "2026-01-01T00:00:00Z"}]
    credits: [{key: welcome, kind: free, amount: "5.00", starts_at: "2026-01-01T00:00:00Z"}]
  - id: globex
    name: Globex
    aliases: [globex_ingest]
    subscriptions: [{plan: std, starts_at: "2026-01-01T00:00:00Z"}]
"""


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def exact(response: httpx.Response) -> Any:
    """The JSON body with numbers as ``Decimal`` (ints too), as the server wrote them."""
    return json.loads(response.text, parse_float=Decimal, parse_int=Decimal)


def event(
    txn: str, customer: str, event_type: str, timestamp: str, **props: object
) -> dict[str, Any]:
    return {
        "transaction_id": txn,
        "customer_id": customer,
        "event_type": event_type,
        "timestamp": timestamp,
        "properties": props,
    }


def ingest_events(database: Database, events: list[dict[str, Any]], *, now: datetime) -> None:
    """Load events through the ingest service (the fast path for big golden files)."""
    with database.transaction() as session:
        outcomes = ingest_batch(session, load_catalog(session), events, now=now)
    rejected = [o for o in outcomes if o.status.value == "rejected"]
    assert all(o.reason for o in rejected)


@dataclass(frozen=True, slots=True)
class MetronomeEnv:
    database: Database
    app: FastAPI
    client: TestClient
    admin: dict[str, str]
    acme_key: dict[str, str]
    globex_key: dict[str, str]
    acme: str
    """acme's Metronome id."""
    globex: str


@contextmanager
def metronome_env(
    db_url: str, *, setup: str | None = SETUP, clock: datetime = CLOCK
) -> Iterator[MetronomeEnv]:
    """The application over ``db_url`` with an admin key and its clock fixed at ``clock``;
    with ``setup`` (the small setup by default) also applied, and a key for each of its
    customers ``acme`` and ``globex``."""
    database = Database(db_url)
    try:
        keys: dict[str, str] = {}
        with database.transaction() as session:
            _, admin = create_key(session, customer_id=None, now=CLOCK)
            if setup is not None:
                apply_setup(session, yaml.safe_load(setup), now=CLOCK, rebuild=rebuild_meter)
                for name in ("acme", "globex"):
                    keys[name] = create_key(session, customer_id=name, now=CLOCK)[1]
        app = create_app(database, clock=lambda: clock)
        with TestClient(app, raise_server_exceptions=False) as client:
            ids = {
                name: str(
                    client.get(f"{BASE}/customers/{name}", headers=bearer(admin)).json()["data"][
                        "id"
                    ]
                )
                for name in keys
            }
            yield MetronomeEnv(
                database=database,
                app=app,
                client=client,
                admin=bearer(admin),
                acme_key=bearer(keys.get("acme", "")),
                globex_key=bearer(keys.get("globex", "")),
                acme=ids.get("acme", ""),
                globex=ids.get("globex", ""),
            )
    finally:
        database.dispose()


def close(database: Database, as_of: datetime) -> None:
    with database.transaction() as session:
        close_periods(session, as_of=as_of)


# --------------------------------------------------------------------------- a real server


@contextmanager
def running_server(db_url: str, log: Path) -> Iterator[str]:
    """``meterbill serve`` on a free port of 127.0.0.1; yields its base URL."""
    with serve(db_url, log=log, startup=30) as server:
        yield server.base_url
