"""Delivery tracking: where an event is, and where it stands for every subscribing group."""

from bus.tracking.deliveries import (
    DeliveryReport,
    DeliveryState,
    GroupDelivery,
    deliveries_for,
    trace_event,
)
from bus.tracking.locate import (
    PublishedEvent,
    find_publication,
    locate,
    publication_of,
    record_at,
    search_topics,
)

__all__ = [
    "DeliveryReport",
    "DeliveryState",
    "GroupDelivery",
    "PublishedEvent",
    "deliveries_for",
    "find_publication",
    "locate",
    "publication_of",
    "record_at",
    "search_topics",
    "trace_event",
]
