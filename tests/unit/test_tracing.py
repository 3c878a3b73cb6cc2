"""Trace context without an OpenTelemetry SDK: the ids still travel from event to event."""

from __future__ import annotations

from bus.envelope import Envelope
from bus.tracing import consume_span, current_traceparent, handled_event, trace_id_of


def _event(event_id: str) -> Envelope:
    return Envelope.new(source="/riau/test", type="id.go.riau.test", id=event_id)


def test_an_event_published_while_handling_continues_the_handled_events_trace() -> None:
    incoming = _event("e")
    assert current_traceparent() is None
    with consume_span(incoming, group="g", topic="t"):
        assert current_traceparent() == incoming.traceparent
        assert handled_event.get() is incoming
    assert current_traceparent() is None
    assert handled_event.get() is None


def test_nested_handling_restores_the_outer_trace() -> None:
    outer, inner = _event("e1"), _event("e2")
    with consume_span(outer, group="g", topic="t"):
        with consume_span(inner, group="g", topic="t"):
            assert current_traceparent() == inner.traceparent
        assert trace_id_of(current_traceparent()) == trace_id_of(outer.traceparent)


def test_trace_id_is_the_second_field_of_a_traceparent() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id_of(traceparent) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_of("not-a-traceparent") is None
    assert trace_id_of(None) is None
