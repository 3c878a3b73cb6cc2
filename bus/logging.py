"""structlog set-up: JSON in production, key-value on a terminal, and personal data never in clear.

The pipeline is a list of small processors, each doing one thing to the event dict. The
`redact_personal_data` processor masks any key that the catalog marks as personal data (NIK,
names, addresses) so that a careless `log.info(..., nik=...)` does not leak it; `add_event_ids`
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

import hashlib
import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from bus.tracing import handled_event, trace_id_of

#: Field names that are personal data wherever they appear; the catalog adds its own.
PERSONAL_KEYS: set[str] = {"nik", "nama", "nama_lengkap", "alamat", "nip", "tanggal_lahir"}


def mask(value: object) -> str:
    """Return a stable, non-reversible token for a personal value, so logs can still be joined."""
    digest = hashlib.sha256(str(value).encode()).hexdigest()[:12]
    return f"<redacted:{digest}>"


def register_personal_keys(keys: Iterable[str]) -> None:
    """Add field names that must be masked in every log line."""
    PERSONAL_KEYS.update(keys)


def redact_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Mask personal-data keys at the top level and one level into dict values."""
    for key, value in list(event_dict.items()):
        if key in PERSONAL_KEYS:
            event_dict[key] = mask(value)
        elif isinstance(value, MutableMapping):
            event_dict[key] = {k: mask(v) if k in PERSONAL_KEYS else v for k, v in value.items()}
    return event_dict


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


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Configure structlog once per process; `auto` picks console on a TTY, JSON elsewhere."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_event_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
        structlog.processors.StackInfoRenderer(),
    ]
    if use_json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


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
