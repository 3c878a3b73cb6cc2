"""Prometheus metrics of the SDK: what a process published and consumed, and handler latency.

    bus_events_published_total{system,event_type,topic}     acknowledged by the broker
    bus_publish_failures_total{system,event_type}           refused or not acknowledged
    bus_events_consumed_total{group,topic,outcome}          outcome: handled | failed | invalid
    bus_handler_duration_seconds{group,topic}               histogram of handler run time

They live in prometheus_client's default registry, so an adapter that already exposes
`/metrics` shows them without more code; `bus monitor` serves them next to the lag metrics.

The publish and consume paths count per batch, not per event: a labelled `inc()` takes a lock
and costs about as much as validating a small event, and the handler histogram's buckets are
kept by `HandlerDurations`, which files a whole batch of run times under one lock.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

#: Handler run times are milliseconds to a few seconds (a database write, an HTTP call).
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HandlerDurations(Collector):
    """The `bus_handler_duration_seconds` histogram, filled a batch of run times at a time."""

    name = "bus_handler_duration_seconds"
    documentation = "Time a subscriber's handler took per event, retries in process included."

    def __init__(self, buckets: Sequence[float] = _LATENCY_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        # (group, topic) → [count per bucket (the last is +Inf, not cumulative), sum]
        self._series: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def observe(self, group: str, topic: str, seconds: Iterable[float]) -> None:
        """Add each of `seconds` (one handler run each) to the histogram of (group, topic)."""
        bounds = self.buckets
        with self._lock:
            series = self._series.get((group, topic))
            if series is None:
                series = self._series[(group, topic)] = ([0] * (len(bounds) + 1), [0.0])
            counts, total = series
            for value in seconds:
                # bisect_left: a value equal to a bound belongs in that bound's bucket (le).
                counts[bisect_left(bounds, value)] += 1
                total[0] += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The histogram in Prometheus form: cumulative buckets, sum and count per series."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=["group", "topic"])
        with self._lock:
            snapshot = [(key, list(c), t[0]) for key, (c, t) in self._series.items()]
        for (group, topic), counts, total in snapshot:
            cumulative, running = [], 0
            for bound, count in zip((*map(str, self.buckets), "+Inf"), counts, strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric([group, topic], cumulative, total)
        yield family


def _metrics(registry: CollectorRegistry) -> tuple[Counter, Counter, Counter, HandlerDurations]:
    durations = HandlerDurations()
    registry.register(durations)
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
        durations,
    )


PUBLISHED, PUBLISH_FAILURES, CONSUMED, HANDLER_SECONDS = _metrics(REGISTRY)


# Labelled children, looked up once per label set: `labels()` takes a lock and builds a tuple
# on every call.
_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Counter, *labels: str) -> Any:
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def count_published(system: str, event_type: str, topic: str, events: int = 1) -> None:
    """Count `events` events of one type the broker acknowledged."""
    _child(PUBLISHED, system, event_type, topic).inc(events)


def count_publish_failures(system: str, event_type: str, events: int = 1) -> None:
    """Count `events` events of one type the broker refused or did not acknowledge."""
    _child(PUBLISH_FAILURES, system, event_type).inc(events)


def count_consumed(group: str, topic: str, outcome: str, events: int = 1) -> None:
    """Count `events` consumed events of one outcome (handled, failed or invalid)."""
    _child(CONSUMED, group, topic, outcome).inc(events)


def observe_handler_seconds(group: str, topic: str, seconds: Iterable[float]) -> None:
    """Record handler run times, one per handled event, usually a batch at a time."""
    HANDLER_SECONDS.observe(group, topic, seconds)
