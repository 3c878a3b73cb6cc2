"""The adapter contract: what `bus adapter run NAME` expects from an adapter package.

An adapter is registered under the entry-point group `opd_bus.adapters`:

    [project.entry-points."opd_bus.adapters"]
    postgres-sink = "adapters.postgres_sink:postgres_sink"

and the object it names is an `AdapterFactory`: given the command line's `AdapterOptions`, an
async context manager that owns the adapter's resources (a database pool, an HTTP client) and
yields a `Subscriber` with its handlers registered. The bus runs that subscriber, stops it
gracefully on SIGTERM, and then leaves the context. `bus` never imports an adapter directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import cast

from bus.catalog import Catalog, EventType
from bus.config import BusSettings
from bus.errors import BusError
from bus.subscribe.subscriber import Subscriber

ENTRY_POINT_GROUP = "opd_bus.adapters"


class UnknownAdapterError(BusError):
    """No installed package registers an adapter of that name."""


@dataclass(frozen=True)
class AdapterOptions:
    """What an adapter is told to do: which event type, as which group and system, where to."""

    event_type: EventType
    group: str
    settings: BusSettings
    catalog: Catalog
    system: str | None = None
    dsn: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def subscribing_system(self) -> str:
        """The system whose agreement the adapter consumes under.

        `--system` if given; else the group when it names a subscribing system; else the only
        system with an agreement for the event type.
        """
        subscribers = [s.system for s in self.catalog.subscribers_of(self.event_type.type)]
        if self.system is not None:
            return self.system
        if self.group in subscribers:
            return self.group
        if len(subscribers) == 1:
            return subscribers[0]
        raise BusError(
            f"pass --system: {self.event_type.type} is consumed by {', '.join(subscribers)} "
            "and the group does not name one of them"
        )


AdapterFactory = Callable[[AdapterOptions], AbstractAsyncContextManager[Subscriber]]


def installed_adapters() -> dict[str, str]:
    """Names of the installed adapters and the object each entry point names."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_adapter(name: str) -> AdapterFactory:
    """The factory registered as `name`; raises `UnknownAdapterError` listing what exists."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return cast(AdapterFactory, ep.load())
    known = ", ".join(sorted(installed_adapters())) or "none"
    raise UnknownAdapterError(f"no adapter named {name!r} is installed (installed: {known})")
