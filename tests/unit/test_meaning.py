"""Semantic types: declared beside a field's type, invisible to validation and the JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

import schemas
from bus.catalog import EventData, Meaning
from bus.catalog.meaning import meaning_named
from bus.governance.lockfile import read_lock, schema_hash
from bus.governance.profile import meaning_of
from schemas.types import NIK, NamaOrang

SHIPPED_LOCK = Path(schemas.__file__).with_name("catalog.lock.json")


def test_every_shipped_schema_is_the_approved_revision() -> None:
    """Giving fields their semantic types changed no schema: the lock file did not change."""
    lock = read_lock(SHIPPED_LOCK)
    assert lock is not None
    for et in schemas.catalog.event_types:
        locked = lock.locked(et)
        assert locked is not None
        assert schema_hash(et.json_schema()) == locked.latest.sha256, et.type


class Plain(EventData):
    nik: str = Field(pattern=r"^\d{16}$")
    nama: str = Field(min_length=1)


class Typed(EventData):
    nik: NIK
    nama: NamaOrang = Field(min_length=1)
    daftar: list[NIK] = Field(default_factory=list)
    wakil: NIK | None = None

    example: ClassVar[dict[str, Any]] = {}


def test_a_meaning_leaves_the_json_schema_alone() -> None:
    plain = Plain.model_json_schema()["properties"]
    typed = Typed.model_json_schema()["properties"]
    assert typed["nama"] == plain["nama"]
    assert typed["nik"]["pattern"] == plain["nik"]["pattern"]
    assert "Meaning" not in str(Typed.model_json_schema())


def test_a_meaning_is_found_through_optional_and_list() -> None:
    fields = Typed.model_fields
    assert meaning_of(fields["nik"]) == meaning_named("nik")
    assert meaning_of(fields["nama"]) == meaning_named("NamaOrang")
    assert meaning_of(fields["daftar"]) == meaning_named("NIK")
    assert meaning_of(fields["wakil"]) == meaning_named("NIK")
    assert meaning_of(Plain.model_fields["nik"]) is None
    kode = schemas.IzinTerbit.model_fields["kode_wilayah"]  # a StrEnum's `__meaning__`
    assert meaning_of(kode) == meaning_named("KodeWilayah")


def test_a_meaning_name_cannot_mean_two_things() -> None:
    same = Meaning("NIK", "a resident's national identity number", identifies="resident",
                   words=("nik", "no ktp", "nomor induk kependudukan", "national id",
                          "resident id"))  # fmt: skip
    assert same == meaning_named("NIK")
    with pytest.raises(ValueError, match="declared twice"):
        Meaning("NIK", "a tax number")


def test_a_typed_field_still_validates_its_shape() -> None:
    with pytest.raises(ValueError, match="nik"):
        Typed.model_validate({"nik": "123", "nama": "A"})
