"""Logging of ``meterbill serve``, configured once at start-up.

meterbill's modules log through the standard ``logging`` module (fields as ``extra=``);
structlog's ``ProcessorFormatter`` renders every record — meterbill's, uvicorn's, asyncio's —
the same way: one JSON object per line (``--log-format json``, the default when stderr is not
a terminal) or human-readable lines (``console``, the default on a terminal). Every record
carries ``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and ``event`` (the message), the
fields given as ``extra``, and ``request_id`` while a request is served (bound by
``meterbill.api.telemetry.RequestTelemetry``).
"""

import json
import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "LogFormat", "LogLevel", "configure_logging"]

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "console"]
LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error")
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")

_HANDLER_NAME = "meterbill"


def _drop_color_message(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's coloured copy of its message
    return event


def _dumps(value: Any, **_: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def configure_logging(
    level: LogLevel = "info", log_format: LogFormat = "auto", *, stream: TextIO | None = None
) -> None:
    """Send every log record to ``stream`` (default: stderr) as JSON lines or human-readable
    lines (``auto``: JSON unless ``stream`` is a terminal), from ``level`` up. Calling it
    again replaces the previous configuration."""
    out = stream if stream is not None else sys.stderr
    terminal = out.isatty()
    as_json = log_format == "json" or (log_format == "auto" and not terminal)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(serializer=_dumps)]
        if as_json
        else [structlog.dev.ConsoleRenderer(colors=terminal)]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers write through the root handler like everything else.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
