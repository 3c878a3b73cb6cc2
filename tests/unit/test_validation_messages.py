"""Validation messages are written for the developer of the sending system, in any language."""

from __future__ import annotations

from typing import Any

import pytest

from bus.catalog import Catalog
from bus.errors import SchemaValidationError
from bus.validation import validate_data

IZIN = "id.go.riau.dpmptsp.izin.terbit"


def messages(catalog: Catalog, event_type: str, **changes: Any) -> dict[str, str]:
    et = catalog.event_type(event_type)
    data = {**et.example, **changes}
    for name, value in changes.items():
        if value is ...:
            del data[name]
    with pytest.raises(SchemaValidationError) as refused:
        validate_data(et, data)
    return {e.path: e.message for e in refused.value.errors}


def test_identifier_shapes_are_described_in_words(catalog: Catalog) -> None:
    found = messages(catalog, IZIN, nib="123", kbli="1", nomor_izin="", jenis_izin="sim")
    assert found == {
        "nib": "must be 13 digits",
        "kbli": "must be 5 digits",
        "nomor_izin": "must be at least 5 characters long",
        "jenis_izin": "must be one of 'izin_usaha', 'pbg', 'sertifikat_standar', "
        "'izin_lingkungan' or 'sip_tenaga_kesehatan'",
    }


def test_types_numbers_dates_and_unknown_fields(catalog: Catalog) -> None:
    found = messages(
        catalog,
        IZIN,
        nilai_investasi=-1,
        tanggal_terbit="2 November",
        issued_at=...,
        nama_usaha=7,
        extra="x",
    )
    assert found == {
        "nilai_investasi": "must be 0 or more",
        "tanggal_terbit": "must be a date as YYYY-MM-DD, e.g. 2026-11-02",
        "issued_at": "is required",
        "nama_usaha": "must be a string (text in double quotes)",
        "extra": "is not a field of this schema; remove it",
    }


def test_an_unusual_format_is_shown_by_the_catalogs_example(catalog: Catalog) -> None:
    mutasi = catalog.event_type("id.go.riau.bkd.asn.mutasi")
    found = messages(catalog, mutasi.type, golongan="3c")
    assert found == {
        "golongan": f"does not have the expected format; it must look like "
        f"'{mutasi.example['golongan']}'"
    }


def test_no_message_quotes_a_pattern_or_the_value_sent(catalog: Catalog) -> None:
    found = messages(catalog, IZIN, nib="12345678901234567890", kbli="abcde")
    for message in found.values():
        assert "\\d" not in message and "^" not in message and "pattern" not in message
        assert "12345678901234567890" not in message and "abcde" not in message
