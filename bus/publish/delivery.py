"""What the broker said about one published event."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an event landed: the broker acknowledged it at this topic, partition and offset."""

    event_id: str
    topic: str
    partition: int
    offset: int
