"""Schemathesis over every OpenAPI document the server publishes: no input gets a 5xx, and
every answer is one the document declares.

Both documents — the native one (``/openapi.json``: ``/v1``, the WarpStream and Typesense
APIs, ``/healthz``) and the Metronome-compatible application's own
(``/metronome/openapi.json``) — are loaded from the application in process, over a database
holding a small setup and some usage. Every operation gets a fixed number of generated
requests, valid and invalid ones (derandomized, so a run is repeatable and bounded), sent
with an admin key so they get past authentication. Bad input must be a 4xx that says what
is wrong, never a 500; the test lists every operation that answered 5xx, with the request
(as curl) and the server's traceback.

Every response is also checked against the document (schemathesis's response checks: a
declared status, content type and headers, a body that fits the declared schema), so the
document tells the truth about what each route answers (issue 10).
"""

import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from meterbill.api.app import create_app
from meterbill.db.database import Database
from meterbill.services.catalog import load_catalog
from meterbill.services.ingest import ingest_batch
from meterbill.services.keys import create_key
from tests.reliability.support import NOW, bearer, event, prepare, setup_document

EXAMPLES = 25  # generated requests per operation (15 misses the NUL alias 500 on PostgreSQL)
WARPSTREAM_HEADER = "warpstream-api-key"
TYPESENSE_HEADER = "X-TYPESENSE-CLOUD-MANAGEMENT-API-KEY"
DOCUMENTS = {"native": "/openapi.json", "metronome": "/metronome/openapi.json"}
CONFORMANCE: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""The response checks: each answer is declared, with its content type, headers and body."""


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[Database, dict[str, str]]]:
    """The database (a setup, two customers with usage) and the headers of every request:
    an admin key for the native and Metronome APIs, a customer key (``c0``) for the
    WarpStream and Typesense ones, which take only account keys, each in its own header."""
    admin = prepare(db_url, setup_document(2))
    database = Database(db_url)
    try:
        with database.transaction() as session:
            items = [event(f"e{i}", f"c{i % 2}", minute=i * 97, n=i % 4) for i in range(50)]
            ingest_batch(session, load_catalog(session), items, now=NOW)
            _, customer = create_key(session, customer_id="c0", now=NOW)
        headers = {**bearer(admin), WARPSTREAM_HEADER: customer, TYPESENSE_HEADER: customer}
        yield database, headers
    finally:
        database.dispose()


class _Tracebacks(logging.Handler):
    """Keeps the last logged exception (the error handlers log a 500's cause)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.last = "".join(traceback.format_exception(*record.exc_info))[-3000:]


@dataclass
class _Findings:
    reports: list[str] = field(default_factory=list)


def _strategy(operation: APIOperation[Any, Any, Any, Any]) -> st.SearchStrategy[Case[Any]]:
    """Valid requests and invalid ones (wrong types, missing fields, bad formats)."""
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    headers: dict[str, str],
    tracebacks: _Tracebacks,
    findings: _Findings,
) -> None:
    seen: set[int] = set()
    untrue: set[str] = set()

    @given(case=_strategy(operation))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Any]) -> None:
        tracebacks.last = ""
        try:
            response = case.call(headers=headers)
            status, cause = response.status_code, tracebacks.last
        except Exception:  # the application raised through the transport: a 500 too
            status, cause = 500, traceback.format_exc()[-3000:]
        else:
            try:
                case.validate_response(response, checks=CONFORMANCE, headers=headers)
            except (Failure, FailureGroup) as failure:
                kind = f"{status}: {type(failure).__name__}: {str(failure)[:200]}"
                if kind not in untrue and status < 500:
                    untrue.add(kind)
                    findings.reports.append(
                        f"{operation.label} -> {status} not as documented\n"
                        f"{case.as_curl_command(headers=headers)}\n{str(failure)[:3000]}"
                    )
        if status >= 500 and status not in seen:
            seen.add(status)
            findings.reports.append(
                f"{operation.label} -> {status}\n{case.as_curl_command(headers=headers)}\n{cause}"
            )

    run()


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    document: str, served: tuple[Database, dict[str, str]]
) -> None:
    database, headers = served
    app = create_app(database, clock=lambda: NOW)
    schema: OpenApiSchema = schemathesis.openapi.from_asgi(DOCUMENTS[document], app)
    tracebacks = _Tracebacks()
    findings = _Findings()
    root = logging.getLogger()
    root.addHandler(tracebacks)
    operations = 0
    try:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            operations += 1
            _fuzz(operation, headers, tracebacks, findings)
    finally:
        root.removeHandler(tracebacks)
    assert operations > 0
    assert findings.reports == [], "\n\n".join(findings.reports)
