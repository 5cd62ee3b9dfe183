"""Issue 10: every ``meterbill serve`` option also from ``METERBILL_<NAME>`` (the option
given on the command line wins), one README table listing them all, ``meterbill --version``.

The ``serve`` command is run in-process with the server itself replaced, so the options it
would serve with are checked without starting one (``tests/server`` starts real ones).
"""

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import meterbill.cli.serve
from meterbill import __version__
from meterbill.cli.main import CliError, app, serve_options
from meterbill.cli.serve import ServeOptions
from meterbill.cli.settings import ServeSettings, SettingsError, env_var, option_name
from meterbill.cli.webhook_sender import parse_schedule
from meterbill.core.errors import InvalidRequest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ServeSettings.model_fields:
        monkeypatch.delenv(env_var(name), raising=False)


def run_serve(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, ServeOptions | None, str]:
    """``meterbill serve ARGS`` in-process; the options ``serve`` was called with."""
    seen: list[ServeOptions] = []

    def fake_serve(url: str | None, options: ServeOptions) -> None:
        seen.append(options)

    monkeypatch.setattr(meterbill.cli.serve, "serve", fake_serve)
    result = CliRunner().invoke(app, ["serve", *args])
    return result.exit_code, (seen[0] if seen else None), result.output


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    code, options, output = run_serve(monkeypatch)
    assert code == 0, output
    assert options == ServeOptions()


def test_environment_variables_are_read_and_options_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERBILL_PORT", "9100")
    monkeypatch.setenv("METERBILL_HOST", "0.0.0.0")
    monkeypatch.setenv("METERBILL_DB_CONNECTIONS", "4")
    monkeypatch.setenv("METERBILL_WAIT_TIMEOUT", "2.5")
    monkeypatch.setenv("METERBILL_MAX_CONNECTIONS", "300")
    monkeypatch.setenv("METERBILL_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("METERBILL_LOG_FORMAT", "json")
    monkeypatch.setenv("METERBILL_METRICS", "false")
    monkeypatch.setenv("METERBILL_CLOCK", "2026-03-05T00:00:00Z")
    code, options, output = run_serve(monkeypatch, "--port", "9200", "--metrics")
    assert code == 0, output
    assert options == ServeOptions(
        host="0.0.0.0",
        port=9200,  # the option wins over METERBILL_PORT
        db_connections=4,
        wait_timeout=2.5,
        max_connections=300,
        log_level="debug",
        log_format="json",
        metrics=True,  # --metrics wins over METERBILL_METRICS=false
        clock=datetime(2026, 3, 5, tzinfo=UTC),
    )
    code, options, output = run_serve(monkeypatch)
    assert code == 0, output
    assert options is not None
    assert (options.port, options.metrics) == (9100, False)


def test_bad_values_name_the_variable_or_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERBILL_DB_CONNECTIONS", "0")
    with pytest.raises(SettingsError, match=r"^METERBILL_DB_CONNECTIONS: .*greater than or equal"):
        ServeSettings.load()
    with pytest.raises(SettingsError, match=r"^--db-connections: "):
        ServeSettings.load(db_connections=0, port=1)
    monkeypatch.setenv("METERBILL_DB_CONNECTIONS", "3")
    monkeypatch.setenv("METERBILL_LOG_FORMAT", "xml")
    code, options, _ = run_serve(monkeypatch)
    assert code != 0
    assert options is None
    with pytest.raises(CliError, match="METERBILL_LOG_FORMAT"):
        serve_options()
    monkeypatch.setenv("METERBILL_LOG_FORMAT", "console")
    monkeypatch.setenv("METERBILL_PORT", "many")
    with pytest.raises(CliError, match="invalid setting: METERBILL_PORT: "):
        serve_options()
    monkeypatch.delenv("METERBILL_PORT")
    monkeypatch.setenv("METERBILL_CLOCK", "yesterday")
    with pytest.raises(InvalidRequest, match=r"^METERBILL_CLOCK: timestamp 'yesterday'"):
        serve_options()
    with pytest.raises(InvalidRequest, match=r"^--clock: timestamp 'today'"):
        serve_options(clock="today")


def _serve_params() -> dict[str, Any]:
    command: Any = typer.main.get_command(app)  # typer's own click classes
    serve = command.commands["serve"]
    return {str(p.name): p for p in serve.params if p.name != "help"}


def test_every_setting_is_an_option_with_its_default_and_variable() -> None:
    params = _serve_params()
    fields = ServeSettings.model_fields
    assert set(params) == set(fields)
    assert set(fields) <= {f.name for f in ServeOptions.__dataclass_fields__.values()}
    for name, info in fields.items():
        param = params[name]
        assert option_name(name) in param.opts, name
        shown = param.show_default
        default = info.default
        expected = str(default).lower() if isinstance(default, bool) else str(default)
        assert (shown if default is not None else None) == (
            expected if default is not None else None
        ), name
        assert f"Env: {env_var(name)}." in str(param.help), name
        # Strings here; ServeOptions holds the parsed time and the parsed delays.
        if name == "webhook_retry_schedule":
            assert ServeOptions().webhook_retry_schedule == parse_schedule(default), name
        elif name != "clock":
            assert getattr(ServeOptions(), name) == default, name


def test_the_readme_lists_every_setting_once() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(--[a-z-]+)[^`]*` \| `(METERBILL_[A-Z_]+)` \|", readme, re.MULTILINE)
    listed = {option: variable for option, variable in rows}
    expected = {option_name(name): env_var(name) for name in ServeSettings.model_fields}
    expected["--database"] = "METERBILL_DATABASE_URL"
    assert listed == expected
    operations = (ROOT / "docs" / "operations.md").read_text()
    for variable in expected.values():
        assert variable in operations, variable


def test_version() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("meterbill")), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"meterbill {__version__}\n", "")


def test_a_bad_retry_schedule_names_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CliError, match="--webhook-retry-schedule"):
        serve_options(webhook_retry_schedule="5s,soon")
    monkeypatch.setenv("METERBILL_WEBHOOK_RETRY_SCHEDULE", "5s,,1h")
    with pytest.raises(CliError, match="METERBILL_WEBHOOK_RETRY_SCHEDULE"):
        serve_options()
    monkeypatch.setenv("METERBILL_WEBHOOK_RETRY_SCHEDULE", "1s,2m")
    assert serve_options().webhook_retry_schedule == (timedelta(seconds=1), timedelta(minutes=2))
