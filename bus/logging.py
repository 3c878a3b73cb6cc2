"""structlog set-up: JSON in production, key-value on a terminal, and personal data never in clear.

One process speaks one format (`configure_logging` returns it), with one labelled clock: console
lines show local time with its zone (`09:13:01 WIB`), JSON lines UTC ISO 8601 (`…Z`).

The pipeline is a list of small processors, each doing one thing to the event dict. The
`redact_personal_data` processor masks personal data at any depth of the line (`bus.privacy`:
keys the catalog marks personal, NIK- and phone-shaped text, exception messages) so that a
careless `log.info(..., nik=...)` or `f"NIK {nik}"` does not leak it; `add_event_ids`
adds the ids of the event a handler is handling to every line it logs.

An application with a structlog configuration of its own adds both to its chain:

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        add_event_ids,
        redact_personal_data,
        ...,
    ])
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import Any, Literal, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from bus.config import BusSettings
from bus.privacy import (
    PERSONAL_KEYS,
    is_personal_key,
    mask,
    redact,
    register_personal_keys,
    use_keys,
)
from bus.tracing import handled_event, trace_id_of

__all__ = [
    "PERSONAL_KEYS",
    "add_event_ids",
    "configure_logging",
    "ensure_redaction",
    "event_context",
    "get_logger",
    "mask",
    "protect_personal_data",
    "redact_personal_data",
    "register_personal_keys",
]


def redact_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Mask personal data in every value of the line, exceptions included (`bus.privacy`)."""
    if event_dict.get("exc_info"):
        # Rendered here, not by the renderer after this step: a traceback quotes the
        # exception's message, which may carry a NIK.
        event_dict = structlog.processors.format_exc_info(_, __, event_dict)
    for key, value in event_dict.items():
        if key not in _WRITTEN_BY_THE_BUS:
            event_dict[key] = mask(value) if is_personal_key(key) else redact(value)
    return event_dict


#: Keys whose values the pipeline itself writes (a level name, a clock reading): nothing to mask.
_WRITTEN_BY_THE_BUS = frozenset({"level", "timestamp"})


def event_context() -> dict[str, str | None]:
    """The ids a line logged now gets: the handled event's event_id, correlation_id, trace_id."""
    envelope = handled_event.get()
    if envelope is None:
        return {}
    return {
        "event_id": envelope.id,
        "correlation_id": envelope.correlation_id,
        "trace_id": trace_id_of(envelope.traceparent),
    }


def add_event_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Add the handled event's event_id, correlation_id and trace_id unless the line has them."""
    # The subscriber only sets `handled_event` per record; the ids are looked up here, when a
    # line is actually written, instead of being bound for every record handled.
    envelope = handled_event.get()
    if envelope is not None:
        event_dict.setdefault("event_id", envelope.id)
        event_dict.setdefault("correlation_id", envelope.correlation_id)
        event_dict.setdefault("trace_id", trace_id_of(envelope.traceparent))
    return event_dict


#: The two formats a process can speak: `console` for people, `json` for log collectors.
LogFormat = Literal["console", "json"]


def resolve_format(fmt: str, *, auto: LogFormat | None = None) -> LogFormat:
    """`console` or `json` as asked; for `auto`, `auto` if given, else console only on a TTY."""
    if fmt in ("console", "json"):
        return cast(LogFormat, fmt)
    if auto is not None:
        return auto
    return "console" if sys.stderr.isatty() else "json"


def local_time() -> str:
    """The time as console lines show it: the host's local time with its zone, `09:13:01 WIB`."""
    return datetime.now().astimezone().strftime("%H:%M:%S %Z")


def add_local_time(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Stamp a console line with `local_time()`, the clock every `bus dev` line uses."""
    event_dict["timestamp"] = local_time()
    return event_dict


def configure_logging(
    fmt: str = "auto", level: str = "INFO", *, auto: LogFormat | None = None
) -> LogFormat:
    """Configure structlog for the process and return its one format.

    `auto` picks console on a TTY and JSON elsewhere, unless the command passes `auto` (for
    `bus dev`, read by people even when piped to a file). Console lines carry the local time
    with its zone label; JSON lines an ISO 8601 UTC timestamp (`…Z`).
    """
    use_json = resolve_format(fmt, auto=auto) == "json"
    stamp: Processor = (
        structlog.processors.TimeStamper(fmt="iso", utc=True) if use_json else add_local_time
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_event_ids,
        structlog.processors.add_log_level,
        stamp,
        redact_personal_data,
    ]
    rendering: list[Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if use_json
        else [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    )
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _render_standard_logging(shared, rendering)
    return "json" if use_json else "console"


class _StderrHandler(logging.Handler):
    """A logging handler writing to `sys.stderr` as it is when a record is written."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record and flush, as structlog's own lines are."""
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


_HANDLER_NAME = "bus.logging"


def _warning_on_one_line(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A Python warning as `file:line: Category: message`, without the source line after it."""
    if event_dict.get("logger") == "py.warnings":
        event_dict["event"] = str(event_dict.get("event", "")).strip().splitlines()[0]
    return event_dict


def _render_standard_logging(shared: list[Processor], rendering: list[Processor]) -> None:
    """Render the standard library's log records and Python warnings like the bus's own lines.

    Libraries (uvicorn, aiokafka, asyncpg) log through `logging` and dependencies warn through
    `warnings`; without this their lines would be a third format between the bus's. The root
    logger keeps its level (WARNING unless an application set another).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, _warning_on_one_line, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root.addHandler(handler)
    logging.captureWarnings(True)


def ensure_redaction(fmt: str = "auto", level: str = "INFO") -> None:
    """Make sure every line is redacted, however the application set structlog up (or not).

    The SDK calls this when a publisher or subscriber is made: an application that never
    configured structlog gets the bus's configuration, one whose own chain lacks
    `redact_personal_data` gets it inserted before its renderer.
    """
    if not structlog.is_configured():
        configure_logging(fmt, level)
        return
    processors = list(structlog.get_config()["processors"])
    if redact_personal_data not in processors:
        structlog.configure(processors=[*processors[:-1], redact_personal_data, *processors[-1:]])


def protect_personal_data(settings: BusSettings) -> None:
    """What every entry point does first: install the keys, make sure every line is redacted.

    Raises `ConfigurationError` in production without the keys (`bus.privacy.keys`).
    """
    use_keys(settings)
    ensure_redaction(settings.log_format, settings.log_level)


def _stderr_logger(*args: Any) -> structlog.PrintLogger:
    # sys.stderr looked up per logger, not captured once: test runners and CLI runners swap
    # it, and a stream captured at configure time may be closed by the time a line is written.
    return structlog.PrintLogger(sys.stderr)


def get_logger(name: str, **bound: Any) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger bound to a component name."""
    # Initial values, not `.bind()`: binding at import would freeze the processor chain before
    # `configure_logging` runs, and module-level loggers would then skip the redaction step.
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(component=name, **bound)
    return logger
