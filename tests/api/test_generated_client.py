"""A client generated from ``/openapi.json`` works against a real ``meterbill serve``.

openapi-python-client (a dev dependency) generates a package from the document the server
publishes into the test's temporary folder; the test imports it and lists a customer's
invoices with it. Its parsed models must hold the invoices' numbers and totals, computed
here by hand: one customer, 0.01 a unit, 1000 units in January, 250 in February and 3 in
March, closed on 10 April (so January to March are issued, numbered 1 to 3, and April is a
draft without usage).
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from bench.server import ServeProcess

from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import ingest_batch
from meterbill.services.invoicing import close_periods
from tests.reliability.support import NOW, event, prepare, setup_document

PACKAGE = "meterbill_generated_client"
MINUTES_TO_FEBRUARY = 31 * 24 * 60
MINUTES_TO_MARCH = (31 + 28) * 24 * 60


def _generate(document: dict[str, Any], folder: Path) -> Path:
    """The generated package's parent folder (the package itself is ``PACKAGE``)."""
    spec = folder / "openapi.json"
    spec.write_text(json.dumps(document))
    root = folder / "client"
    root.mkdir()
    scripts = Path(sys.executable).parent
    done = subprocess.run(
        [
            str(scripts / "openapi-python-client"),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        # its post-generation hooks run ruff, which is in this virtualenv
        env={**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_a_generated_client_lists_a_customers_invoices(db_url: str, tmp_path: Path) -> None:
    admin = prepare(db_url, setup_document(1))
    database = Database(db_url)
    try:
        with database.transaction() as session:
            items = [
                event("jan", "c0", 10, 1000),
                event("feb", "c0", MINUTES_TO_FEBRUARY + 10, 250),
                event("mar", "c0", MINUTES_TO_MARCH + 10, 3),
            ]
            ingest_batch(session, load_catalog(session), items, now=NOW)
        with database.transaction() as session:
            close_periods(session, as_of=NOW)
    finally:
        database.dispose()

    server = ServeProcess(
        db_url,
        log=tmp_path / "serve.log",
        startup=30,
        options=("--clock", NOW.strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    server.start()
    try:
        document = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
        sys.path.insert(0, str(_generate(document, tmp_path)))
        try:
            client_module = importlib.import_module(PACKAGE)
            listing = importlib.import_module(
                f"{PACKAGE}.api.default.list_invoices_v1_customers_customer_id_invoices_get"
            )
            models = importlib.import_module(f"{PACKAGE}.models")
            client = client_module.AuthenticatedClient(base_url=server.base_url, token=admin)
            with client:
                page = listing.sync(customer_id="c0", client=client)
                missing = listing.sync_detailed(customer_id="nobody", client=client)
        finally:
            sys.path.pop(0)
            for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
                del sys.modules[name]
    finally:
        server.stop(grace=10)

    assert isinstance(page, models.InvoicePage)
    invoices = page.data
    assert all(isinstance(invoice, models.Invoice) for invoice in invoices)
    assert [(i.period_start.strftime("%Y-%m"), i.number, i.status, i.total) for i in invoices] == [
        ("2026-01", 1, "issued", "10.00"),
        ("2026-02", 2, "issued", "2.50"),
        ("2026-03", 3, "issued", "0.03"),
        ("2026-04", None, "draft", "0.00"),
    ]
    january = invoices[0]
    assert [(line.product, line.quantity, line.amount) for line in january.lines] == [
        ("calls", "1000", "10.00")
    ]
    assert january.amount_due == "10.00"
    # An error answer is parsed into the documented error model too.
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.ErrorBody)
    assert missing.parsed.error.code == "not_found"
