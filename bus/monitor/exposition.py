"""Lag metrics in Prometheus text format, from the monitor's latest scan.

    bus_consumer_lag_messages{group,topic,partition}   events not yet consumed
    bus_consumer_lag_seconds{group,topic,partition}    age of the oldest unconsumed event
    bus_consumer_group_status{group}                   0 OK, 1 UNKNOWN, 2 WARNING, 3 REWIND,
                                                       4 STALL, 5 STOP, 6 ERROR
    bus_topic_end_offset{topic,partition}              log end offset
    bus_dlq_messages{group,topic}                      events in the group's dead-letter topic

A custom collector reads the latest state on each scrape, so a group or partition that is gone
disappears from the output instead of freezing at its last value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bus.monitor.watch import MonitorState


class LagCollector(Collector):
    """Turns the monitor's latest `MonitorState` into gauges at scrape time."""

    def __init__(self, state: Callable[[], MonitorState | None]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        """Gauges of the latest scan (nothing before the first scan finished)."""
        state = self._state()
        lag = GaugeMetricFamily(
            "bus_consumer_lag_messages",
            "Events a consumer group has not consumed yet, per partition.",
            labels=["group", "topic", "partition"],
        )
        seconds = GaugeMetricFamily(
            "bus_consumer_lag_seconds",
            "Age in seconds of the oldest event a consumer group has not consumed, per partition.",
            labels=["group", "topic", "partition"],
        )
        status = GaugeMetricFamily(
            "bus_consumer_group_status",
            "Burrow-style status: 0 OK, 1 UNKNOWN, 2 WARNING, 3 REWIND, 4 STALL, 5 STOP, 6 ERROR.",
            labels=["group"],
        )
        end = GaugeMetricFamily(
            "bus_topic_end_offset",
            "Log end offset (high watermark) of a partition.",
            labels=["topic", "partition"],
        )
        dlq = GaugeMetricFamily(
            "bus_dlq_messages",
            "Events in a consumer group's dead-letter topic.",
            labels=["group", "topic"],
        )
        if state is not None:
            for group in state.report.groups:
                status.add_metric([group.group], group.status.severity)
                for p in group.partitions:
                    labels = [group.group, p.topic, str(p.partition)]
                    lag.add_metric(labels, p.lag)
                    seconds.add_metric(labels, p.lag_seconds)
            for (topic, partition), offset in sorted(state.report.end_offsets.items()):
                end.add_metric([topic, str(partition)], offset)
            for count in state.dead_letters:
                dlq.add_metric([count.group, count.topic], count.messages)
        yield from (lag, seconds, status, end, dlq)


def exposition(state: Callable[[], MonitorState | None]) -> bytes:
    """The `/metrics` body: lag gauges, then the SDK's counters of this process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LagCollector(state))
    return generate_latest(registry) + generate_latest(REGISTRY)
