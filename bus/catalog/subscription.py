"""A subscription is a data-sharing agreement: one consumer system, one event type, a purpose."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subscription:
    """An approved agreement letting `system` consume `event_type` for a stated purpose.

    `fields` lists the data fields granted; `None` grants every field that is not personal data.
    `pseudonymous` names granted fields the system receives as a per-agreement token
    (`bus.privacy.pseudonym`) instead of in clear, e.g. `("nik",)` for statistics that count
    people without needing to know who they are.
    """

    system: str
    event_type: str
    purpose: str
    legal_basis: str = ""
    fields: tuple[str, ...] | None = None
    pseudonymous: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """`<system> -> <event type>`: how the agreement is named in the lock file and tokens."""
        return f"{self.system} -> {self.event_type}"
