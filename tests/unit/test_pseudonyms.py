"""A NIK granted as a pseudonym: Satu Data counts residents who moved without holding a NIK."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from pydantic import SecretStr

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.privacy import use_keys
from bus.privacy.pseudonym import pseudonym
from bus.projection.projector import Projector
from bus.publish.record import build_record
from bus.subscribe.grants import granted_view, project
from schemas import PendudukPindah

NIK = "1471021205900003"
SATU_DATA = "diskominfotik.satudata"
EVENT_TYPE = PendudukPindah.event_type()
EVENT = EVENT_TYPE.type


def _pindah(nik: str = NIK) -> PendudukPindah:
    return PendudukPindah.model_validate({**PendudukPindah.example, "nik": nik})


def test_the_shipped_satu_data_agreement_receives_the_nik_as_a_token(catalog: Catalog) -> None:
    use_keys(BusSettings(pdp_mask_key=SecretStr("m"), pdp_pseudonym_key=SecretStr("p" * 32)))
    view = granted_view(catalog, SATU_DATA, PendudukPindah)
    seen = project(view, _pindah())
    token = seen.nik  # type: ignore[attr-defined]
    assert token.startswith("psn_") and NIK not in token and len(token) == 36
    assert NIK not in seen.model_dump_json()
    assert "nama_lengkap" not in seen.model_dump()
    # The same person has the same token in every event: Satu Data can count distinct movers.
    assert project(view, _pindah()).nik == token  # type: ignore[attr-defined]
    assert project(view, _pindah("1471021205900004")).nik != token  # type: ignore[attr-defined]
    # A retried or replayed dead letter holds the token and validates as the view again.
    assert view.model_validate_json(seen.model_dump_json()) == seen


def test_tokens_are_per_agreement_and_per_key(catalog: Catalog) -> None:
    use_keys(BusSettings(pdp_mask_key=SecretStr("m"), pdp_pseudonym_key=SecretStr("p" * 32)))
    satu_data = pseudonym(f"{SATU_DATA} -> {EVENT}", NIK)
    assert satu_data != pseudonym(f"bapenda.samsat -> {EVENT}", NIK)
    use_keys(BusSettings(pdp_mask_key=SecretStr("m"), pdp_pseudonym_key=SecretStr("q" * 32)))
    assert pseudonym(f"{SATU_DATA} -> {EVENT}", NIK) != satu_data


def test_agreements_without_pseudonyms_still_receive_the_nik_in_clear(catalog: Catalog) -> None:
    view = granted_view(catalog, "dinkes.sikda", PendudukPindah)
    assert project(view, _pindah()).nik == NIK  # type: ignore[attr-defined]


def test_the_grant_topic_carries_the_token_never_the_nik(catalog: Catalog) -> None:
    # What `bus project` writes to Satu Data's grant topic for one resident's move.
    use_keys(BusSettings(pdp_mask_key=SecretStr("m"), pdp_pseudonym_key=SecretStr("p" * 32)))
    record = build_record(EVENT_TYPE, catalog.system("disdukcapil.siak"), _pindah())
    consumed = ConsumerRecord(
        topic=EVENT_TYPE.topic, partition=0, offset=7, timestamp=0, timestamp_type=0,
        key=record.key, value=record.value, checksum=None,
        serialized_key_size=len(record.key), serialized_value_size=len(record.value),
        headers=record.headers,
    )  # fmt: skip
    projected = dict(Projector(BusSettings(), catalog)._project(consumed))
    [satu_data] = [value for grant, value in projected.items() if grant.system == SATU_DATA]
    assert NIK.encode() not in satu_data
    view = granted_view(catalog, SATU_DATA, PendudukPindah)
    assert view.model_validate_json(satu_data) == project(view, _pindah())
