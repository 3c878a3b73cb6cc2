"""Trace context without an OpenTelemetry SDK: the ids still travel from event to event."""

from __future__ import annotations

from bus.envelope import new_traceparent
from bus.tracing import consume_span, current_traceparent, trace_id_of


def test_an_event_published_while_handling_continues_the_handled_events_trace() -> None:
    incoming = new_traceparent()
    assert current_traceparent() is None
    with consume_span(incoming, group="g", topic="t", event_id="e", event_type="x"):
        assert current_traceparent() == incoming
    assert current_traceparent() is None


def test_nested_handling_restores_the_outer_trace() -> None:
    outer, inner = new_traceparent(), new_traceparent()
    with consume_span(outer, group="g", topic="t", event_id="e1", event_type="x"):
        with consume_span(inner, group="g", topic="t", event_id="e2", event_type="x"):
            assert current_traceparent() == inner
        assert trace_id_of(current_traceparent()) == trace_id_of(outer)
