"""The results document (`bench/results.json`) and the table printed at the end of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: Keys every results document has; a benchmark that could not run has `null` and a note.
REQUIRED_KEYS = (
    "publish_ratio",
    "consume_ratio",
    "e2e_p50_ms",
    "e2e_p99_ms",
    "lag_scan_s",
    "lag_scan_curve",
    "ingress_eps",
    "outbox_eps",
    "webhook_eps",
    "webhook_pipelined_eps",
    "webhook_p99_ms",
    "pull_eps",
    "pdp_report_s",
    "raw_publish_eps",
    "raw_consume_eps",
    "librdkafka_publish_eps",
    "librdkafka_consume_eps",
    "sdk_publish_eps",
    "sdk_consume_eps",
    "machine",
    "broker",
    "event_bytes",
    "timestamp",
)

#: Targets from the benchmark issues (#11 on Apache Kafka): (key, comparison, bound).
TARGETS: dict[str, tuple[str, float]] = {
    "publish_ratio": (">=", 1.0),
    "consume_ratio": (">=", 0.8),
    "e2e_p99_ms": ("<", 10.0),
    "lag_scan_s": ("<", 1.0),
    "webhook_eps": (">=", 2000.0),
}

_ROWS = (
    ("publish_ratio", "SDK publish ÷ raw aiokafka producer", "{:.2f}"),
    ("sdk_publish_eps", "SDK publish, events/s", "{:,.0f}"),
    ("raw_publish_eps", "raw aiokafka producer, events/s", "{:,.0f}"),
    ("librdkafka_publish_eps", "librdkafka producer (confluent-kafka), events/s", "{:,.0f}"),
    ("consume_ratio", "SDK subscriber ÷ raw aiokafka getmany loop", "{:.2f}"),
    ("sdk_consume_eps", "SDK subscriber, events/s", "{:,.0f}"),
    ("raw_consume_eps", "raw aiokafka getmany loop, events/s", "{:,.0f}"),
    ("librdkafka_consume_eps", "librdkafka consume loop (confluent-kafka), events/s", "{:,.0f}"),
    ("e2e_p50_ms", "publish → handler p50, ms", "{:.1f}"),
    ("e2e_p99_ms", "publish → handler p99, ms", "{:.1f}"),
    ("lag_scan_s", "lag scan, 50 groups × 20 topics × 12 partitions, s", "{:.3f}"),
    ("ingress_eps", "HTTP ingress, events/s", "{:,.0f}"),
    ("outbox_eps", "outbox relay, events/s", "{:,.0f}"),
    ("webhook_eps", "webhook push to one endpoint, events/s", "{:,.0f}"),
    ("webhook_pipelined_eps", "… pipelined, 4 connections × 8 in flight, events/s", "{:,.0f}"),
    ("webhook_p99_ms", "publish → webhook receiver p99, ms", "{:.1f}"),
    ("pull_eps", "HTTP pull, batches of 100, events/s", "{:,.0f}"),
    ("pdp_report_s", "bus pdp report, 300 of 1,000,000 events, s", "{:.3f}"),
)


def missing_keys(results: dict[str, Any]) -> list[str]:
    """Required keys absent from `results`."""
    return [key for key in REQUIRED_KEYS if key not in results]


def write(results: dict[str, Any], path: Path) -> None:
    """Write the document as stable, diff-friendly JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def meets(key: str, value: float | None) -> str:
    """'yes', 'no' or '' (no target) for one figure."""
    if key not in TARGETS or value is None:
        return ""
    op, bound = TARGETS[key]
    ok = value >= bound if op == ">=" else value < bound
    return "yes" if ok else "no"


def print_table(results: dict[str, Any], console: Console | None = None) -> None:
    """Print the headline figures with their targets."""
    console = console or Console()
    broker = results.get("broker", {})
    table = Table(title=f"OPD Bus benchmarks on {broker.get('description', '?')}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met", justify="center")
    notes = results.get("notes", {})
    for key, label, fmt in _ROWS:
        value = results.get(key)
        shown = fmt.format(value) if isinstance(value, int | float) else "—"
        target = " ".join(str(part) for part in TARGETS[key]) if key in TARGETS else ""
        met = meets(key, value)
        style = {"yes": "green", "no": "red"}.get(met, "")
        table.add_row(label, shown, target, f"[{style}]{met}[/]" if style else met)
    curve = results.get("lag_scan_curve") or []
    for point in curve:
        table.add_row(
            f"lag scan, {point['groups']} groups × {point['partitions']} partitions, s",
            f"{point['scan_s']:.3f}",
            "",
            "",
        )
    console.print(table)
    for key, note in notes.items():
        console.print(f"[dim]{key}: {note}[/]")
