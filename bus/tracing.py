"""W3C trace context from publisher to adapter, through OpenTelemetry when it is configured.

Every envelope carries a `traceparent` header. The publisher continues the caller's active
OpenTelemetry span when there is one (so an HTTP request that causes an event and the adapter
that receives it share one trace); the subscriber binds the trace id to its log lines and runs
the handler inside a CONSUMER span whose parent is the publisher's context. Without an
OpenTelemetry SDK configured the API is a no-op and only the ids travel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("opd-bus")
#: Global tracer providers that mean "no OpenTelemetry SDK configured".
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
#: The traceparent of the event being handled, when no OpenTelemetry SDK carries it.
_handled: ContextVar[str | None] = ContextVar("bus_handled_traceparent", default=None)


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex-digit trace id of a W3C `traceparent`, or None if it is not one."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    return parts[1]


def current_traceparent() -> str | None:
    """The active span as a `traceparent`, else the handled event's, else None."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent") or _handled.get()


@contextlib.contextmanager
def consume_span(
    traceparent: str | None, *, group: str, topic: str, event_id: str, event_type: str
) -> Iterator[None]:
    """Run the block in a CONSUMER span continuing the publisher's trace."""
    if isinstance(trace.get_tracer_provider(), _NO_SDK):
        # No OpenTelemetry SDK: a span would record nothing, yet costs more than the rest of
        # the consume path per record. Only keep the publisher's traceparent at hand, so that
        # events the handler publishes still continue its trace (`current_traceparent`); a
        # context variable does that for a fraction of an OpenTelemetry context attach.
        token = _handled.set(traceparent)
        try:
            yield
        finally:
            _handled.reset(token)
        return
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    with _tracer.start_as_current_span(
        f"{topic} process",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": group,
            "messaging.message.id": event_id,
            "cloudevents.event_type": event_type,
        },
    ):
        yield
