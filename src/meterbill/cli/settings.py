"""The settings of ``meterbill serve``: each option also from ``METERBILL_<NAME>``.

:class:`ServeSettings` (pydantic-settings) reads the environment; the options given on the
command line are passed as keyword arguments and win over it. Every field is listed in the
README's table and in ``docs/operations.md`` (a test checks that the README lists them all).
``--database`` is the root option of every command (``METERBILL_DATABASE_URL``), not one of
these.
"""

from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from meterbill.cli.logs import LogFormat, LogLevel

__all__ = ["ENV_PREFIX", "ServeSettings", "SettingsError", "env_var", "option_name"]

ENV_PREFIX = "METERBILL_"


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the option or variable."""


def env_var(field: str) -> str:
    """The environment variable of a setting: ``METERBILL_DB_CONNECTIONS``."""
    return ENV_PREFIX + field.upper()


def option_name(field: str) -> str:
    """The command-line option of a setting: ``--db-connections``."""
    return "--" + field.replace("_", "-")


class ServeSettings(BaseSettings):
    """Where ``meterbill serve`` listens, the limits it keeps, its logs and metrics."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on.")
    close_every: float = Field(
        60.0, ge=0, description="Seconds between background closes (0: off)."
    )
    fold_every: float = Field(
        0.5,
        ge=0,
        description="Seconds between folds of accepted events into usage buckets (0: off; "
        "reads count pending events meanwhile, but get slower as they pile up).",
    )
    alert_interval: float = Field(
        15.0,
        ge=0,
        description="Seconds between spend-alert passes (0: off); an alert fires within about "
        "this long of the event that crossed it.",
    )
    clock: str | None = Field(
        None,
        description="Serve as if it were always this RFC 3339 time (demos, screenshots); "
        "default: the real time.",
    )
    db_connections: int = Field(
        10,
        ge=1,
        description="Requests working on the database at once; the pool keeps as many "
        "connections (and opens as many again for the closer, /readyz and /metrics).",
    )
    max_waiting: int = Field(
        2000, ge=0, description="Requests that may wait for a slot; more get 503."
    )
    wait_timeout: float = Field(
        20.0, ge=0.001, description="Seconds a request may wait for a slot, then 503."
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        description="Open connections at most; one more gets 503 and is closed "
        "(default: 4096, or less under a lower open-file limit).",
    )
    timeout_keep_alive: float = Field(
        5.0, ge=0.001, description="Seconds an idle keep-alive connection stays open."
    )
    timeout_header: float = Field(
        10.0, ge=0.001, description="Seconds a connection has to send a complete request head."
    )
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request head (request line and headers)."
    )
    backlog: int = Field(
        1024, ge=1, description="Connections the kernel queues before they are accepted."
    )
    log_level: LogLevel = Field(
        "info", description="Lowest level logged: debug, info, warning or error."
    )
    log_format: LogFormat = Field(
        "auto",
        description="json (one object per line), console (human-readable) or auto "
        "(json unless stderr is a terminal).",
    )
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    webhook_poll: float = Field(
        1.0, ge=0, description="Seconds between looks for webhooks to deliver (0: no sender)."
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="Seconds a webhook receiver has to answer."
    )
    webhook_retry_schedule: str = Field(
        "5s,5m,30m,2h,5h,10h,10h",
        description="Delays before each webhook retry; after the last, the delivery has failed.",
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @classmethod
    def load(cls, **given: Any) -> "ServeSettings":
        """The settings from the environment, overridden by ``given`` (the command-line
        options that were given; ``None`` values are ignored)."""
        chosen = {name: value for name, value in given.items() if value is not None}
        try:
            return cls(**chosen)
        except ValidationError as error:
            problems = []
            for item in error.errors():
                field = str(item["loc"][0]) if item["loc"] else ""
                where = option_name(field) if field in chosen else env_var(field)
                problems.append(f"{where}: {item['msg']}")
            raise SettingsError("; ".join(problems)) from None
