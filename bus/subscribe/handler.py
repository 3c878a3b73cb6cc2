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
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, get_type_hints

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from bus.catalog import EventData, EventType
from bus.envelope import Envelope
from bus.subscribe.grants import project

HandlerFunc = Callable[..., Awaitable[Any]]
_Injector = Callable[[BaseModel, Envelope, ConsumerRecord[bytes, bytes]], Any]
#: A handler applied to (data, envelope, record): the awaitable of one call of its function.
HandlerCall = Callable[[BaseModel, Envelope, ConsumerRecord[bytes, bytes]], Awaitable[Any]]


def _data(data: BaseModel, envelope: Envelope, record: ConsumerRecord[bytes, bytes]) -> Any:
    return data


def _envelope(data: BaseModel, envelope: Envelope, record: ConsumerRecord[bytes, bytes]) -> Any:
    return envelope


def _record(data: BaseModel, envelope: Envelope, record: ConsumerRecord[bytes, bytes]) -> Any:
    return record


# Which of (data, envelope, record) each standard injector passes on.
_POSITION: dict[_Injector, int] = {_data: 0, _envelope: 1, _record: 2}


@dataclass(frozen=True)
class Handler:
    """A registered handler with its event type and how to build its arguments."""

    event_type: EventType
    func: HandlerFunc
    injectors: tuple[tuple[str, _Injector], ...]
    view: type[BaseModel] | None = None
    #: `func` applied to (data, envelope, record), built once: the subscriber awaits what it
    #: returns, the handler's own coroutine, without a frame of the bus in between.
    call: HandlerCall = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "call", self._build_call())

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
                injectors.append((name, _data))
            elif isinstance(annotation, type) and issubclass(annotation, EventData):
                if not issubclass(event_type.data, annotation):
                    raise TypeError(
                        f"handler {func.__qualname__}: parameter {name!r} expects "
                        f"{annotation.__name__} but the handler is for {event_type.type}"
                    )
                injectors.append((name, _data))
            elif annotation is Envelope:
                injectors.append((name, _envelope))
            elif (
                annotation is ConsumerRecord
                or getattr(annotation, "__origin__", None) is ConsumerRecord
            ):
                injectors.append((name, _record))
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
        return await self.call(data, envelope, record)

    def _build_call(self) -> HandlerCall:
        func, view = self.func, self.view
        call = _positional_call(func, self.injectors)
        if call is None:
            injectors = self.injectors

            def call(data: Any, envelope: Envelope, record: Any) -> Awaitable[Any]:
                return func(**{name: inject(data, envelope, record) for name, inject in injectors})

        if view is None or issubclass(self.event_type.data, view):
            return call  # the data already is an instance of the view: nothing to project
        plain = call

        def projecting(data: Any, envelope: Envelope, record: Any) -> Awaitable[Any]:
            return plain(project(view, data), envelope, record)

        return projecting


def _positional_call(
    func: HandlerFunc, injectors: tuple[tuple[str, _Injector], ...]
) -> HandlerCall | None:
    """`func` called with positional arguments, when its signature and injectors allow it."""
    parameters = list(inspect.signature(func).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(parameters) != len(injectors) or any(
        p.kind not in positional or p.name != name
        for p, (name, _) in zip(parameters, injectors, strict=True)
    ):
        return None
    try:
        picks = tuple(_POSITION[inject] for _, inject in injectors)
    except KeyError:
        return None
    # The usual signatures get a call without building an argument tuple; ~0.2 µs per record.
    if picks == (0,):
        return lambda data, envelope, record: func(data)
    if picks == (0, 1):
        return lambda data, envelope, record: func(data, envelope)
    if picks == (0, 1, 2):
        return func
    if not picks:
        return lambda data, envelope, record: func()
    if len(picks) == 1:
        only = itemgetter(*picks)
        return lambda data, envelope, record: func(only((data, envelope, record)))
    several = itemgetter(*picks)
    return lambda data, envelope, record: func(*several((data, envelope, record)))
