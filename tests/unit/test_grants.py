"""Granted views: a handler sees exactly the fields its data-sharing agreement grants."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from bus.catalog import Catalog
from bus.envelope import Envelope
from bus.errors import NoAgreementError
from bus.subscribe import Handler, Subscriber
from bus.subscribe.grants import granted_view, project
from schemas import HotspotTerdeteksi, IzinTerbit, PendudukPindah


def test_default_grant_drops_personal_fields(catalog: Catalog) -> None:
    view = granted_view(catalog, "bapenda.sipd", IzinTerbit)

    assert view.__name__ == "IzinTerbitView"
    assert set(view.model_fields) == set(IzinTerbit.model_fields) - {"nama_pemohon"}
    # Same field definitions as the contract, in the same order.
    assert list(view.model_fields) == [f for f in IzinTerbit.model_fields if f != "nama_pemohon"]
    assert (
        view.model_fields["nomor_izin"].metadata == IzinTerbit.model_fields["nomor_izin"].metadata
    )


def test_explicit_grant_is_exactly_the_listed_fields(catalog: Catalog) -> None:
    view = granted_view(catalog, "dinkes.sikda", PendudukPindah)

    assert list(view.model_fields) == [
        "nik",
        "kode_wilayah_asal",
        "kode_wilayah_tujuan",
        "tanggal_pindah",
    ]


def test_projection_has_no_ungranted_attribute(catalog: Catalog) -> None:
    view = granted_view(catalog, "dinkes.sikda", PendudukPindah)
    full = PendudukPindah.model_validate(PendudukPindah.example)

    seen = project(view, full)

    assert seen.model_dump(mode="json") == {
        "nik": "1471021205900003",
        "kode_wilayah_asal": "14.71.02",
        "kode_wilayah_tujuan": "14.08",
        "tanggal_pindah": "2026-11-01",
    }
    # The same object validation would build from the granted data.
    assert seen == view.model_validate(seen.model_dump())
    assert seen.model_fields_set == set(view.model_fields)
    with pytest.raises(AttributeError):
        _ = seen.nama_lengkap  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = seen.alamat_tujuan  # type: ignore[attr-defined]


def test_view_is_closed_and_frozen(catalog: Catalog) -> None:
    view = granted_view(catalog, "bapenda.sipd", IzinTerbit)
    seen = project(view, IzinTerbit.model_validate(IzinTerbit.example))

    with pytest.raises(ValidationError):
        view.model_validate({**seen.model_dump(), "nama_pemohon": "Siti Aminah"})
    with pytest.raises(ValidationError):
        seen.nomor_izin = "changed"  # type: ignore[misc]


def test_view_is_generated_once_per_grant(catalog: Catalog) -> None:
    first = granted_view(catalog, "bapenda.sipd", IzinTerbit)

    assert granted_view(catalog, "bapenda.sipd", "id.go.riau.dpmptsp.izin.terbit") is first
    # Another system's grant is another model, even where the fields coincide.
    assert granted_view(catalog, "diskominfotik.satudata", IzinTerbit) is not first


def test_full_grant_is_the_data_class_itself(catalog: Catalog) -> None:
    # HotspotTerdeteksi carries no personal data: the default grant is every field.
    assert granted_view(catalog, "dlhk.simlhk", HotspotTerdeteksi) is HotspotTerdeteksi


def test_no_view_without_an_agreement(catalog: Catalog) -> None:
    with pytest.raises(NoAgreementError, match=r"dinkes\.sikda"):
        granted_view(catalog, "dinkes.sikda", IzinTerbit)


def test_subscriber_exposes_its_view(catalog: Catalog) -> None:
    subscriber = Subscriber("bapenda.sipd", catalog=catalog)

    assert subscriber.view_of(IzinTerbit) is granted_view(catalog, "bapenda.sipd", IzinTerbit)


async def test_handler_annotated_with_full_class_receives_the_view(catalog: Catalog) -> None:
    subscriber = Subscriber("bapenda.sipd", catalog=catalog)
    seen: list[object] = []

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit) -> None:
        seen.append(izin)

    handler: Handler = subscriber._handlers[IzinTerbit.event_type().topic]
    full = IzinTerbit.model_validate(IzinTerbit.example)
    envelope = Envelope.new(source="/riau/dpmptsp/sicantik", type=IzinTerbit.event_type().type)
    await handler(full, envelope, _record())

    (data,) = seen
    assert type(data).__name__ == "IzinTerbitView"
    assert "nama_pemohon" not in data.model_dump()  # type: ignore[attr-defined]
    assert data.nomor_izin == full.nomor_izin  # type: ignore[attr-defined]


def test_handler_annotated_with_the_view_is_accepted(catalog: Catalog) -> None:
    subscriber = Subscriber("dinkes.sikda", catalog=catalog)
    view = subscriber.view_of(PendudukPindah)

    async def on_pindah(pindah: object) -> None:
        return None

    # A local class cannot be named in a postponed annotation; set it as a caller would.
    on_pindah.__annotations__["pindah"] = view

    subscriber.handler(PendudukPindah)(on_pindah)
    assert subscriber.topics == [PendudukPindah.event_type().topic]


def test_handler_annotated_with_another_systems_view_is_refused(catalog: Catalog) -> None:
    other = granted_view(catalog, "bapenda.samsat", PendudukPindah)
    subscriber = Subscriber("dinkes.sikda", catalog=catalog)

    async def on_pindah(pindah: object) -> None:
        return None

    on_pindah.__annotations__["pindah"] = other

    with pytest.raises(TypeError, match="cannot inject parameter 'pindah'"):
        subscriber.handler(PendudukPindah)(on_pindah)


def _record() -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="dpmptsp.izin.terbit.v1",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=(),
    )
