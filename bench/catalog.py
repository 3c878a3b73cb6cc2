"""The benchmark's own small catalog: one ~120-byte event type per benchmark topic.

Each benchmark gets its own topic so that a fresh consumer group reads only what that
benchmark wrote. The fields use the shipped catalog's types (a pattern, an enum, a bounded
integer, a timestamp), so validation costs what it costs for a real event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field

from bus.catalog import Catalog, EventData, Subscription, System
from schemas.types import KodeWilayah, Rupiah

PUBLISHER = "bapenda.bench"
SUBSCRIBER = "diskominfotik.bench"
_TOPIC = {"partitions": 6, "replication_factor": 1, "min_insync_replicas": 1}
_EXAMPLE: dict[str, Any] = {
    "kode_bayar": "1471202611020001",
    "kode_wilayah": "14.71",
    "jumlah": 5000,
    "kanal": "qris",
    "paid_at": "2026-11-02T10:21:00.123456+07:00",
}


class _Retribusi(EventData):
    """A parking levy (retribusi parkir) payment: the benchmark's ~120-byte event."""

    kode_bayar: str = Field(pattern=r"^\d{16}$")
    kode_wilayah: KodeWilayah
    jumlah: Rupiah
    kanal: str = Field(pattern=r"^(qris|tunai|va)$")
    paid_at: datetime

    example: ClassVar[dict[str, Any]] = _EXAMPLE


class PublishEvent(
    _Retribusi,
    type="id.go.riau.bapenda.bench.publish",
    version=1,
    owner=PUBLISHER,
    key="kode_bayar",
    topic=_TOPIC,
):
    """Benchmark event for the publish-ratio topic."""


class ConsumeEvent(
    _Retribusi,
    type="id.go.riau.bapenda.bench.consume",
    version=1,
    owner=PUBLISHER,
    key="kode_bayar",
    topic=_TOPIC,
):
    """Benchmark event for the consume-ratio topic (pre-filled once)."""


class LatencyEvent(
    _Retribusi,
    type="id.go.riau.bapenda.bench.latency",
    version=1,
    owner=PUBLISHER,
    key="kode_bayar",
    topic=_TOPIC,
):
    """Benchmark event for the end-to-end latency topic."""


class WebhookEvent(
    _Retribusi,
    type="id.go.riau.bapenda.bench.webhook",
    version=1,
    owner=PUBLISHER,
    key="kode_bayar",
    topic=_TOPIC,
):
    """Benchmark event for the webhook push topic."""


class PullEvent(
    _Retribusi,
    type="id.go.riau.bapenda.bench.pull",
    version=1,
    owner=PUBLISHER,
    key="kode_bayar",
    topic=_TOPIC,
):
    """Benchmark event for the HTTP pull topic."""


EVENT_TYPES: tuple[type[EventData], ...] = (
    PublishEvent,
    ConsumeEvent,
    LatencyEvent,
    WebhookEvent,
    PullEvent,
)

catalog = Catalog(
    systems=[
        System(PUBLISHER, opd="bapenda", name="Benchmark load generator"),
        System(SUBSCRIBER, opd="diskominfotik", name="Benchmark consumer"),
    ],
    event_types=EVENT_TYPES,
    subscriptions=[
        Subscription(SUBSCRIBER, et.event_type().type, purpose="Benchmark the consume path")
        for et in EVENT_TYPES
    ],
)

_START = datetime(2026, 11, 2, 10, 21, tzinfo=UTC)
_WILAYAH = [k.value for k in KodeWilayah]
_KANAL = ("qris", "tunai", "va")


def payloads(count: int) -> list[dict[str, Any]]:
    """`count` distinct, valid payloads (distinct keys, so they spread over partitions)."""
    return [
        {
            "kode_bayar": f"{1471202611000000 + i:016d}",
            "kode_wilayah": _WILAYAH[i % len(_WILAYAH)],
            "jumlah": 2000 + (i % 50) * 1000,
            "kanal": _KANAL[i % 3],
            "paid_at": (_START + timedelta(microseconds=i * 1_000_037)).isoformat(),
        }
        for i in range(count)
    ]
