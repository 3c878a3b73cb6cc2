"""W3C trace context from publisher to adapter, through OpenTelemetry when it is configured.

Every envelope carries a `traceparent` header. The publisher continues the caller's active
OpenTelemetry span when there is one (so an HTTP request that causes an event and the adapter
that receives it share one trace); the subscriber binds the trace id to its log lines and runs
the handler inside a CONSUMER span whose parent is the publisher's context. Without an
OpenTelemetry SDK configured the API is a no-op and only the ids travel.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("opd-bus")
#: Global tracer providers that mean "no OpenTelemetry SDK configured".
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_VERSION_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _remote_parent(traceparent: str) -> Context:
    """The context of a publisher's `traceparent`, as the W3C propagator extracts it.

    Version 00, the only one the bus writes, is parsed directly (a third of the propagator's
    cost, per consumed record); anything else goes through the propagator.
    """
    match = _VERSION_00.fullmatch(traceparent)
    if match is None:
        return _propagator.extract({"traceparent": traceparent})
    trace_id, span_id, flags = match.groups()
    span_context = trace.SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(flags, 16)),
    )
    if not span_context.is_valid:
        return Context()
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex-digit trace id of a W3C `traceparent`, or None if it is not one."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    return parts[1]


def current_traceparent() -> str | None:
    """The active OpenTelemetry span as a `traceparent`, or None when there is none."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def consume_span(
    traceparent: str | None, *, group: str, topic: str, event_id: str, event_type: str
) -> Iterator[None]:
    """Run the block in a CONSUMER span continuing the publisher's trace."""
    if isinstance(trace.get_tracer_provider(), _NO_SDK):
        # No OpenTelemetry SDK: a span would record nothing, yet costs more than the rest of
        # the consume path per record. Only make the publisher's context current, so that
        # events the handler publishes still continue its trace.
        if not traceparent:
            yield
            return
        token = otel_context.attach(_remote_parent(traceparent))
        try:
            yield
        finally:
            otel_context.detach(token)
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
