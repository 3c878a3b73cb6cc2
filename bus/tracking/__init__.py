"""Delivery tracking: where an event stands for every subscribing group, and dead letters."""

from bus.tracking.dead_letters import DeadLetter, is_dead_letter_topic, read_dead_letters
from bus.tracking.deliveries import (
    DeliveryReport,
    DeliveryState,
    GroupDelivery,
    PublishedEvent,
    deliveries_for,
    find_publication,
    publication_of,
    trace_event,
)

__all__ = [
    "DeadLetter",
    "DeliveryReport",
    "DeliveryState",
    "GroupDelivery",
    "PublishedEvent",
    "deliveries_for",
    "find_publication",
    "is_dead_letter_topic",
    "publication_of",
    "read_dead_letters",
    "trace_event",
]
