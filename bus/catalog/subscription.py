"""A subscription is a data-sharing agreement: one consumer system, one event type, a purpose."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subscription:
    """An approved agreement letting `system` consume `event_type` for a stated purpose.

    `fields` lists the data fields granted; `None` grants every field that is not personal data.
    """

    system: str
    event_type: str
    purpose: str
    legal_basis: str = ""
    fields: tuple[str, ...] | None = None
