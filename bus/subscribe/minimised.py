"""Failed events keep only what the group was granted: retry and dead-letter records minimised.

A consumer group's retry and dead-letter topics are the group's own copies of events it could
not handle. They hold the event projected onto the group's granted view (`bus.subscribe.grants`),
never fields the agreement does not grant, and carry the header `bus_granted_to: <system>` so
that a retried or replayed record is validated against that view instead of the full model
(as a record of a grant topic is, `bus.subscribe.subscriber.validate_granted`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from bus.catalog import EventType
from bus.privacy import is_personal_key
from bus.subscribe.grants import project

__all__ = ["GRANTED_TO", "granted_value", "is_minimised", "personal_values_in"]

#: Header of a retry or dead-letter record whose value holds only the named system's grant.
GRANTED_TO = "bus_granted_to"


def granted_value(
    view: type[BaseModel], value: bytes | None, data: BaseModel | None
) -> bytes | None:
    """The record value reduced to `view`'s fields (validated `data` if there is, else raw)."""
    if data is not None:
        projected = data if isinstance(data, view) else project(view, data)  # type: ignore[arg-type]
        return projected.model_dump_json().encode()
    if value is None:
        return None
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None  # not JSON: nothing in it can be shown to be granted, so keep nothing
    if not isinstance(raw, dict):
        return None
    pseudonymous: frozenset[str] = getattr(view, "__pseudonymous__", frozenset())
    return orjson.dumps(
        {k: v for k, v in raw.items() if k in view.model_fields and k not in pseudonymous}
    )


def is_minimised(headers: Sequence[tuple[str, bytes | None]]) -> bool:
    """True for a record whose value was already reduced to a group's grant."""
    return any(name == GRANTED_TO for name, _ in headers)


def personal_values_in(
    event_type: EventType, data: BaseModel | None, value: bytes | None
) -> list[Any]:
    """The personal values of one event, to be masked wherever they appear in its failure."""
    if data is not None:
        return [getattr(data, name, None) for name in event_type.personal_fields]
    try:
        raw = orjson.loads(value or b"null")
    except orjson.JSONDecodeError:
        return []
    if not isinstance(raw, dict):
        return []
    return [
        v
        for k, v in raw.items()
        if (k in event_type.personal_fields or is_personal_key(k)) and isinstance(v, str | int)
    ]
