"""The official Metronome Python client against a real ``meterbill serve``, in two
releases: the one pinned in the ``dev`` extra and the newest one.

The server runs in a subprocess (SQLite file or the PostgreSQL test database, port on
127.0.0.1, no background closer) and the client talks to it with strict response
validation, so every response must match the client's models exactly. The story is
``tests/compat/metronome_sdk_scenario.py``:

* with the pinned ``metronome-sdk`` it runs in this process;
* with the newest release (``NEWEST_SDK``) it runs in a subprocess of a virtualenv made
  once under ``.cache/metronome-sdk-<version>/`` in the repository (gitignored), because
  one environment cannot hold two versions of one distribution. Without a package index
  to install it from, that test is skipped with the reason.

``METERBILL_METRONOME_SDK`` overrides the version of the newest run (``latest``: whatever
the index's newest is at the time the virtualenv is made).
"""

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.server import meterbill

from meterbill.core.events import parse_timestamp
from meterbill.db.database import Database
from meterbill.services.keys import create_key
from tests.compat import metronome_sdk_scenario as scenario
from tests.compat.metronome_support import close, running_server

NOW = datetime(2026, 2, 10, tzinfo=UTC)
PINNED_SDK = "4.1.0"
NEWEST_SDK = "4.12.0"
"""The newest ``metronome-sdk`` on PyPI when this was last checked (``pip index versions
metronome-sdk``); bump it when a newer one appears."""
REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = Path(scenario.__file__)


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str, Database]]:
    """(base URL, admin secret, database URL, database) of a running server."""
    database = Database(db_url)
    try:
        with database.transaction() as session:
            _, admin = create_key(session, customer_id=None, now=NOW)
        with running_server(db_url, tmp_path / "serve.log") as url:
            yield url, admin, db_url, database
    finally:
        database.dispose()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_the_pinned_client_end_to_end(served: tuple[str, str, str, Database]) -> None:
    import metronome

    assert metronome.__version__ == PINNED_SDK
    url, admin, _, database = served
    scenario.run(url, admin, lambda as_of: close(database, parse_timestamp(as_of)))


def _newest_python() -> Path:
    """The Python of a virtualenv holding the newest ``metronome-sdk``, made once."""
    wanted = os.environ.get("METERBILL_METRONOME_SDK", NEWEST_SDK)
    requirement = "metronome-sdk" if wanted == "latest" else f"metronome-sdk=={wanted}"
    home = REPOSITORY / ".cache" / f"metronome-sdk-{wanted}"
    python = home / "bin" / "python"
    if (home / "ready").exists():
        return python
    # Made in place (``ready`` is written last): an interrupted attempt is started over.
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", requirement],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        pytest.skip(f"cannot install {requirement}: {done.stderr.strip()[-500:]}")
    (home / "ready").write_text(requirement + "\n")
    return python


@pytest.fixture(scope="session")
def newest_python() -> Path:
    return _newest_python()


def test_the_newest_client_end_to_end(
    served: tuple[str, str, str, Database], newest_python: Path
) -> None:
    url, admin, db_url, _ = served
    done = subprocess.run(
        [str(newest_python), str(SCRIPT), url, admin, str(meterbill()), db_url],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        # Only the client's environment: nothing of meterbill's is importable there.
        env={"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"},
        cwd=newest_python.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = os.environ.get("METERBILL_METRONOME_SDK", NEWEST_SDK)
    first = done.stdout.splitlines()[0]
    if version != "latest":
        assert first == f"metronome-sdk {version}"
    assert done.stdout.splitlines()[-1] == "ok"
    assert sys.executable != str(newest_python)
