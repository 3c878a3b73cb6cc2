"""What a consumer group's retry and dead-letter records hold: the event reduced to its grant."""

from __future__ import annotations

import orjson

from bus.catalog import Catalog

__all__ = ["as_granted"]


def as_granted(catalog: Catalog, system: str, event_type: str, value: bytes | None) -> bytes:
    """`value` (event JSON) as `system`'s failure records keep it: only the granted fields."""
    granted = catalog.granted_fields(system, event_type)
    return orjson.dumps({k: v for k, v in orjson.loads(value or b"{}").items() if k in granted})
