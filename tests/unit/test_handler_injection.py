"""Handlers get the arguments their signature asks for, whatever its shape."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from bus.catalog import Catalog
from bus.envelope import Envelope
from bus.subscribe import Handler
from schemas import IzinTerbit

EVENT = IzinTerbit.event_type()


def _arguments() -> tuple[IzinTerbit, Envelope, ConsumerRecord[bytes, bytes]]:
    data = IzinTerbit.model_validate(IzinTerbit.example)
    envelope = Envelope.new(source="/riau/dpmptsp/sicantik", type=EVENT.type)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        EVENT.topic, 0, 7, 0, 0, b"k", b"{}", None, 1, 2, []
    )
    return data, envelope, record


async def _received(func: Any) -> dict[str, Any]:
    data, envelope, record = _arguments()
    handler = Handler.wrap(EVENT, func)
    # Both ways in give the same call: the subscriber's `call`, and awaiting the handler.
    first = await handler.call(data, envelope, record)
    assert await handler(data, envelope, record) == first
    sources = {id(data): "data", id(envelope): "envelope", id(record): "record"}
    return {name: sources[id(value)] for name, value in first.items()}


async def test_data_alone() -> None:
    async def on_izin(izin: IzinTerbit) -> dict[str, Any]:
        return {"izin": izin}

    assert await _received(on_izin) == {"izin": "data"}


async def test_data_and_envelope() -> None:
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> dict[str, Any]:
        return {"izin": izin, "envelope": envelope}

    assert await _received(on_izin) == {"izin": "data", "envelope": "envelope"}


async def test_all_three_in_order() -> None:
    async def on_izin(
        izin: IzinTerbit, envelope: Envelope, record: ConsumerRecord[bytes, bytes]
    ) -> dict[str, Any]:
        return {"izin": izin, "envelope": envelope, "record": record}

    assert await _received(on_izin) == {"izin": "data", "envelope": "envelope", "record": "record"}


async def test_any_order() -> None:
    async def on_izin(
        record: ConsumerRecord[bytes, bytes], izin: IzinTerbit, envelope: Envelope
    ) -> dict[str, Any]:
        return {"izin": izin, "envelope": envelope, "record": record}

    assert await _received(on_izin) == {"izin": "data", "envelope": "envelope", "record": "record"}


async def test_envelope_alone() -> None:
    async def on_izin(envelope: Envelope) -> dict[str, Any]:
        return {"envelope": envelope}

    assert await _received(on_izin) == {"envelope": "envelope"}


async def test_keyword_only_parameters() -> None:
    async def on_izin(*, envelope: Envelope, izin: IzinTerbit) -> dict[str, Any]:
        return {"izin": izin, "envelope": envelope}

    assert await _received(on_izin) == {"izin": "data", "envelope": "envelope"}


async def test_no_parameters() -> None:
    async def on_izin() -> dict[str, Any]:
        return {}

    assert await _received(on_izin) == {}


async def test_the_view_is_projected_once_per_call(catalog: Catalog) -> None:
    from bus.subscribe.grants import granted_view

    view = granted_view(catalog, "bapenda.sipd", IzinTerbit)
    seen: list[object] = []

    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        seen.append(izin)

    data, envelope, record = _arguments()
    await Handler.wrap(EVENT, on_izin, view=view).call(data, envelope, record)

    (projected,) = seen
    assert type(projected) is view
    assert not hasattr(projected, "nama_pemohon")
    assert projected.nomor_izin == data.nomor_izin  # type: ignore[attr-defined]


def test_synchronous_handler_is_refused() -> None:
    def on_izin(izin: IzinTerbit) -> None:
        return None

    with pytest.raises(TypeError, match="must be an async function"):
        Handler.wrap(EVENT, on_izin)  # type: ignore[arg-type]


def test_parameter_without_a_known_annotation_is_refused() -> None:
    async def on_izin(izin: IzinTerbit, count: int) -> None:
        return None

    with pytest.raises(TypeError, match="cannot inject parameter 'count'"):
        Handler.wrap(EVENT, on_izin)
