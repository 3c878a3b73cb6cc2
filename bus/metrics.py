"""Prometheus metrics of the SDK: what a process published and consumed, and handler latency.

    bus_events_published_total{system,event_type,topic}     acknowledged by the broker
    bus_publish_failures_total{system,event_type}           refused or not acknowledged
    bus_events_consumed_total{group,topic,outcome}          outcome: handled | failed | invalid
    bus_handler_duration_seconds{group,topic}               histogram of handler run time

They live in prometheus_client's default registry, so an adapter that already exposes
`/metrics` shows them without more code; `bus monitor` serves them next to the lag metrics.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

#: Handler run times are milliseconds to a few seconds (a database write, an HTTP call).
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _metrics(registry: CollectorRegistry) -> tuple[Counter, Counter, Counter, Histogram]:
    return (
        Counter(
            "bus_events_published",
            "Events the broker acknowledged, by publishing system and event type.",
            ["system", "event_type", "topic"],
            registry=registry,
        ),
        Counter(
            "bus_publish_failures",
            "Events the broker refused or did not acknowledge.",
            ["system", "event_type"],
            registry=registry,
        ),
        Counter(
            "bus_events_consumed",
            "Events a subscriber finished with, by outcome (handled, failed, invalid).",
            ["group", "topic", "outcome"],
            registry=registry,
        ),
        Histogram(
            "bus_handler_duration_seconds",
            "Time a subscriber's handler took per event, retries in process included.",
            ["group", "topic"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
    )


PUBLISHED, PUBLISH_FAILURES, CONSUMED, HANDLER_SECONDS = _metrics(REGISTRY)


# Labelled children, looked up once per label set: `labels()` takes a lock and builds a tuple
# on every call, and these counters are bumped once per published and per consumed event.
_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Counter | Histogram, *labels: str) -> Any:
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def count_publish(delivery: asyncio.Future[Any], system: str, event_type: str, topic: str) -> None:
    """Count `delivery` as published or failed once the broker settles it."""
    # A partial, not a closure: fewer objects kept alive per event in flight.
    delivery.add_done_callback(functools.partial(_settled, system, event_type, topic))


def _settled(system: str, event_type: str, topic: str, done: asyncio.Future[Any]) -> None:
    if not done.cancelled() and done.exception() is None:
        _child(PUBLISHED, system, event_type, topic).inc()
    else:
        _child(PUBLISH_FAILURES, system, event_type).inc()


def count_consumed(group: str, topic: str, outcome: str, seconds: float | None = None) -> None:
    """Count one consumed event; `seconds` is the handler's run time when it ran."""
    _child(CONSUMED, group, topic, outcome).inc()
    if seconds is not None:
        _child(HANDLER_SECONDS, group, topic).observe(seconds)
