"""The handler histogram kept by the bus, read back through prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bus.metrics import HandlerDurations


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_batches_of_run_times_land_in_cumulative_buckets() -> None:
    registry = CollectorRegistry()
    durations = HandlerDurations(buckets=(0.01, 0.1, 1.0))
    registry.register(durations)
    durations.observe("g", "t", [0.005, 0.01, 0.05])
    durations.observe("g", "t", [2.0])
    durations.observe("h", "t", [])

    found = samples(registry)
    g = (("group", "g"), ("topic", "t"))
    bucket = "bus_handler_duration_seconds_bucket"
    # A value equal to a bound counts in that bound's bucket (Prometheus `le`).
    assert found[(bucket, (*g[:1], ("le", "0.01"), *g[1:]))] == 2
    assert found[(bucket, (*g[:1], ("le", "0.1"), *g[1:]))] == 3
    assert found[(bucket, (*g[:1], ("le", "1.0"), *g[1:]))] == 3
    assert found[(bucket, (*g[:1], ("le", "+Inf"), *g[1:]))] == 4
    assert found[("bus_handler_duration_seconds_count", g)] == 4
    assert abs(found[("bus_handler_duration_seconds_sum", g)] - 2.065) < 1e-9
    assert found[("bus_handler_duration_seconds_count", (("group", "h"), ("topic", "t")))] == 0
