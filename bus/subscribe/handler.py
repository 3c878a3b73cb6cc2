"""A handler is an async function whose parameters say what it wants, FastStream-style.

    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None: ...

A parameter annotated with the event's data class receives the validated data, one annotated
with `Envelope` receives the CloudEvents attributes (with topic, partition and offset), one
annotated with `ConsumerRecord` the raw Kafka record. Nothing else is injected, and a
signature asking for something else is refused when the handler is registered.

When the handler is given a granted view (see `bus.subscribe.grants`), the data parameter
receives the data projected onto that view, whether it is annotated with the view or with the
full data class: the object then has only the granted attributes.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from bus.catalog import EventData, EventType
from bus.envelope import Envelope
from bus.subscribe.grants import project

HandlerFunc = Callable[..., Awaitable[Any]]
_Injector = Callable[[BaseModel, Envelope, ConsumerRecord[bytes, bytes]], Any]


@dataclass(frozen=True)
class Handler:
    """A registered handler with its event type and how to build its arguments."""

    event_type: EventType
    func: HandlerFunc
    injectors: tuple[tuple[str, _Injector], ...]
    view: type[BaseModel] | None = None

    @classmethod
    def wrap(
        cls, event_type: EventType, func: HandlerFunc, view: type[BaseModel] | None = None
    ) -> Handler:
        """Inspect `func`'s signature once, at registration; `view` limits the data it sees."""
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"handler {func.__qualname__} must be an async function")
        hints = get_type_hints(func)
        injectors: list[tuple[str, _Injector]] = []
        for name in inspect.signature(func).parameters:
            annotation = hints.get(name)
            if view is not None and annotation is view:
                injectors.append((name, lambda data, env, rec: data))
            elif isinstance(annotation, type) and issubclass(annotation, EventData):
                if not issubclass(event_type.data, annotation):
                    raise TypeError(
                        f"handler {func.__qualname__}: parameter {name!r} expects "
                        f"{annotation.__name__} but the handler is for {event_type.type}"
                    )
                injectors.append((name, lambda data, env, rec: data))
            elif annotation is Envelope:
                injectors.append((name, lambda data, env, rec: env))
            elif (
                annotation is ConsumerRecord
                or getattr(annotation, "__origin__", None) is ConsumerRecord
            ):
                injectors.append((name, lambda data, env, rec: rec))
            else:
                raise TypeError(
                    f"handler {func.__qualname__}: cannot inject parameter {name!r}; annotate it "
                    f"with {event_type.data.__name__}, Envelope or ConsumerRecord"
                )
        return cls(event_type, func, tuple(injectors), view)

    async def __call__(
        self, data: EventData, envelope: Envelope, record: ConsumerRecord[bytes, bytes]
    ) -> Any:
        """Call the handler with the arguments it asked for, data projected onto the view."""
        seen: BaseModel = data if self.view is None else project(self.view, data)
        kwargs = {name: inject(seen, envelope, record) for name, inject in self.injectors}
        return await self.func(**kwargs)
