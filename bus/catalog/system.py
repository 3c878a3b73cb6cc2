"""A system is one OPD application that publishes or consumes events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class System:
    """An OPD application known to the bus, e.g. DPMPTSP's licensing system."""

    id: str
    opd: str
    name: str
    contact: str = ""

    @property
    def source(self) -> str:
        """CloudEvents `source` of the events this system publishes: `/riau/<opd>/<system>`."""
        opd, _, rest = self.id.partition(".")
        return f"/riau/{opd}/{rest or opd}"
