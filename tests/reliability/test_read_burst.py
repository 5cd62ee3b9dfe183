"""A burst of concurrent reads against a real ``meterbill serve``: every one answered 200.

400 clients ask for the same customer's invoices at once (one connection each). Every
answer must be a 200 with the same invoices; a 500 (a pool that runs dry, a lock that times
out) fails the test, and its message lists the distinct errors of the server log. Each
request may take up to 60 s, so the test always ends.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from bench.server import ServeProcess

from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import Status, ingest_batch
from tests.reliability.support import NOW, bearer, event, prepare, setup_document

READERS = 400
REQUEST_TIMEOUT = 60.0


def _ingest(url: str) -> None:
    database = Database(url)
    try:
        items = [event(f"e{i}", f"c{i % 2}", minute=i * 131, n=1 + i % 5) for i in range(600)]
        with database.transaction() as session:
            outcomes = ingest_batch(session, load_catalog(session), items, now=NOW)
        assert all(o.status is Status.ACCEPTED for o in outcomes)
    finally:
        database.dispose()


async def _burst(base_url: str, secret: str, path: str) -> list[httpx.Response | BaseException]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        base_url=base_url, headers=bearer(secret), timeout=REQUEST_TIMEOUT, limits=limits
    ) as client:
        return await asyncio.gather(
            *(client.get(path) for _ in range(READERS)), return_exceptions=True
        )


def test_a_burst_of_concurrent_reads_gets_no_error(db_url: str, tmp_path: Path) -> None:
    secret = prepare(db_url, setup_document(2))
    _ingest(db_url)
    path = "/v1/customers/c0/invoices"
    server = ServeProcess(db_url, log=tmp_path / "serve.log")
    try:
        server.start()
        expected = httpx.get(f"{server.base_url}{path}", headers=bearer(secret), timeout=30)
        assert expected.status_code == 200, expected.text
        # A loop of its own in a thread of its own: the test's thread may have one already.
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(lambda: asyncio.run(_burst(server.base_url, secret, path)))
            answers = running.result(timeout=REQUEST_TIMEOUT + 60)
    finally:
        server.stop(grace=10)  # requests still stuck in the server are not waited for
    failed = [
        repr(a) if isinstance(a, BaseException) else f"{a.status_code}: {a.text[:200]}"
        for a in answers
        if isinstance(a, BaseException) or a.status_code != 200
    ]
    causes = sorted({line for line in server.log_text().splitlines() if "Error: " in line})
    assert failed == [], (
        f"{len(failed)} of {READERS} reads failed; first: {failed[:3]}; server errors: {causes}"
    )
    assert all(isinstance(a, httpx.Response) and a.json() == expected.json() for a in answers)
    assert "Traceback" not in server.log_text()
