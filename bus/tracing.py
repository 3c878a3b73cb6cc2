"""W3C trace context from publisher to adapter, through OpenTelemetry when it is configured.

Every envelope carries a `traceparent` header. The publisher continues the caller's active
OpenTelemetry span when there is one (so an HTTP request that causes an event and the adapter
that receives it share one trace); the subscriber runs each handler with the event it handles
in `handled_event`, which gives events published from the handler the handled event's trace and
log lines its ids (`bus.logging.add_event_ids`), and, when an OpenTelemetry SDK is configured,
inside a CONSUMER span whose parent is the publisher's context. Without an SDK the
OpenTelemetry API is a no-op and only the ids travel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bus.envelope import Envelope

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("opd-bus")
#: Global tracer providers that mean "no OpenTelemetry SDK configured".
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)

#: The event a subscriber's handler is handling in this context, None outside handlers. One
#: variable set per record carries both its trace (for publishes made while handling) and its
#: ids (for log lines, read only when a line is written).
handled_event: ContextVar[Envelope | None] = ContextVar("bus_handled_event", default=None)


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
    if traceparent := carrier.get("traceparent"):
        return traceparent
    envelope = handled_event.get()
    return None if envelope is None else envelope.traceparent


def sdk_configured() -> bool:
    """Whether an OpenTelemetry SDK is configured, i.e. whether spans would record anything."""
    # `get_tracer_provider` reads the environment on each call: callers ask once per batch.
    return not isinstance(trace.get_tracer_provider(), _NO_SDK)


@contextlib.contextmanager
def handling(envelope: Envelope) -> Iterator[None]:
    """Run the block as the handling of `envelope`: its trace and ids are the context's."""
    token = handled_event.set(envelope)
    try:
        yield
    finally:
        handled_event.reset(token)


@contextlib.contextmanager
def consume_span(envelope: Envelope, *, group: str, topic: str) -> Iterator[None]:
    """Handle `envelope` in the block, in a CONSUMER span continuing the publisher's trace.

    Without an OpenTelemetry SDK this is `handling(envelope)`: a span would record nothing,
    yet costs more than the rest of the consume path per record.
    """
    with handling(envelope):
        if not sdk_configured():
            yield
            return
        traceparent = envelope.traceparent
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
                "messaging.message.id": envelope.id,
                "cloudevents.event_type": envelope.type,
            },
        ):
            yield
