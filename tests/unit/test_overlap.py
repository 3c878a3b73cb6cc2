"""Overlap ("tumpang tindih"): copies of another owner's data are flagged, look-alikes are not."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

import pytest
from pydantic import Field

from bus.catalog import Catalog, EventData, Subscription, System
from bus.governance.check import check_catalog
from bus.governance.lockfile import LockFile
from bus.governance.overlap import (
    DEFAULT_THRESHOLD,
    find_duplicate_subscriptions,
    find_overlaps,
    normalise_name,
    purpose_similarity,
    similarity,
)
from schemas import IzinTerbit, NibTerbit
from schemas.dpmptsp import JenisIzin
from schemas.types import KBLI, NIB, KodeWilayah


class IzinUsahaTercatat(
    EventData,
    type="id.go.riau.bapenda.izin.tercatat",
    version=1,
    owner="bapenda.sipd",
    key="no_izin",
):
    """A near-copy of DPMPTSP's IzinTerbit, renamed with synonyms, under Bapenda."""

    no_izin: str = Field(min_length=5, max_length=64)
    nib: NIB
    jenis_izin: JenisIzin
    kbli: KBLI
    nama_usaha: str
    name_pemohon: str
    nilai_investasi: int
    tgl_terbit: date
    kode_daerah: KodeWilayah
    created_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "no_izin": "503/DPMPTSP/IU/2026/00123",
        "nib": "9120301234567",
        "jenis_izin": "izin_usaha",
        "kbli": "47111",
        "nama_usaha": "CV Sagu Meranti Jaya",
        "name_pemohon": "Siti Aminah",
        "nilai_investasi": 750000000,
        "tgl_terbit": "2026-11-02",
        "kode_daerah": "14.71",
        "created_at": "2026-11-02T09:15:00+07:00",
    }


class KunjunganTercatat(
    EventData,
    type="id.go.riau.dinkes.kunjungan.tercatat",
    version=1,
    owner="dinkes.sikda",
    key="kode_puskesmas",
):
    """Unrelated: a puskesmas visit count, sharing only kode_wilayah and a timestamp."""

    kode_puskesmas: str
    jumlah_kunjungan: int = Field(ge=0)
    diagnosa_utama: str
    kode_wilayah: KodeWilayah
    issued_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "kode_puskesmas": "P1471010101",
        "jumlah_kunjungan": 42,
        "diagnosa_utama": "J06.9",
        "kode_wilayah": "14.71",
        "issued_at": "2026-11-02T09:15:00+07:00",
    }


class IzinBerbeda(
    EventData,
    type="id.go.riau.dlhk.izin.tercatat",
    version=1,
    owner="dlhk.simlhk",
    key="nomor_izin",
):
    """Same field names as IzinTerbit but other types: not the same data."""

    nomor_izin: int
    nib: int
    kbli: int
    nama_usaha: int
    nilai_investasi: str
    tanggal_terbit: datetime

    example: ClassVar[dict[str, Any]] = {
        "nomor_izin": 1,
        "nib": 2,
        "kbli": 3,
        "nama_usaha": 4,
        "nilai_investasi": "5",
        "tanggal_terbit": "2026-11-02T09:15:00+07:00",
    }


SYSTEMS = [
    System(id="dpmptsp.sicantik", opd="DPMPTSP", name="SiCantik"),
    System(id="bapenda.sipd", opd="Bapenda", name="SIPD"),
    System(id="dinkes.sikda", opd="Dinkes", name="SIKDA"),
    System(id="dlhk.simlhk", opd="DLHK", name="SIMLHK"),
    System(id="diskominfotik.satudata", opd="Diskominfotik", name="Satu Data"),
]


def catalog_of(*types: type[EventData], subscriptions: list[Subscription] | None = None) -> Catalog:
    return Catalog(systems=SYSTEMS, event_types=types, subscriptions=subscriptions or [])


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("nama", "nama"),
        ("name", "nama"),
        ("nama_lengkap", "nama"),
        ("full_name", "nama"),
        ("nik", "nik"),
        ("no_ktp", "nik"),
        ("No_KTP", "nik"),
        ("kode_wilayah", "kode_wilayah"),
        ("kode_daerah", "kode_wilayah"),
        ("tanggal_lahir", "tanggal_lahir"),
        ("tgl_lahir", "tanggal_lahir"),
        ("alamat", "alamat"),
        ("address", "alamat"),
        ("nomor_izin", "nomor_izin"),
        ("no_izin", "nomor_izin"),
        ("name_pemohon", "nama_pemohon"),
    ],
)
def test_synonyms_fold_indonesian_and_english_names(name: str, canonical: str) -> None:
    assert normalise_name(name) == canonical


def test_a_near_copy_under_another_owner_is_flagged() -> None:
    measured = similarity(IzinUsahaTercatat.event_type(), IzinTerbit.event_type())
    # Matching weights: nomor_izin 2, nib 2, kbli 2, jenis_izin, nama_usaha, nama_pemohon,
    # nilai_investasi, tanggal_terbit 1 each = 11 of 12 (berlaku_sampai is not copied).
    assert measured.score == pytest.approx(11 / 12, abs=1e-4)
    assert measured.score >= DEFAULT_THRESHOLD
    assert ("tgl_terbit", "tanggal_terbit") in measured.shared
    assert ("no_izin", "nomor_izin") in measured.shared

    [overlap] = find_overlaps(
        [IzinTerbit.event_type(), IzinUsahaTercatat.event_type()], threshold=DEFAULT_THRESHOLD
    )
    assert overlap.event_type.type == "id.go.riau.bapenda.izin.tercatat"
    assert overlap.similar_to.type == "id.go.riau.dpmptsp.izin.terbit"
    assert overlap.score >= DEFAULT_THRESHOLD
    assert "dpmptsp.sicantik" in overlap.describe()
    assert "0.92" in overlap.describe()


def test_an_unrelated_type_sharing_kode_wilayah_and_a_timestamp_is_not_flagged() -> None:
    measured = similarity(KunjunganTercatat.event_type(), IzinTerbit.event_type())
    assert measured.score == 0.0
    assert measured.shared == ()
    overlaps = find_overlaps(
        [IzinTerbit.event_type(), KunjunganTercatat.event_type()], threshold=DEFAULT_THRESHOLD
    )
    assert overlaps == []


def test_same_names_with_other_types_are_not_the_same_data() -> None:
    measured = similarity(IzinBerbeda.event_type(), IzinTerbit.event_type())
    # Six names collide, each with another type class (e.g. date vs datetime, int vs string).
    assert measured.shared == ()
    assert measured.score == 0.0


def test_one_owner_may_publish_types_that_share_fields() -> None:
    assert similarity(NibTerbit.event_type(), IzinTerbit.event_type()).score > 0
    assert find_overlaps([IzinTerbit.event_type(), NibTerbit.event_type()], threshold=0.0) == []


def test_the_threshold_is_configurable() -> None:
    types = [IzinTerbit.event_type(), IzinUsahaTercatat.event_type()]
    assert find_overlaps(types, threshold=0.95) == []
    assert len(find_overlaps(types, threshold=0.9)) == 1


def test_the_shipped_catalog_has_no_overlap() -> None:
    from schemas import catalog

    assert find_overlaps(catalog.event_types, threshold=DEFAULT_THRESHOLD) == []


def test_check_fails_on_a_proposed_copy_and_names_the_similar_type() -> None:
    approved = LockFile().approve(catalog_of(IzinTerbit))
    report = check_catalog(catalog_of(IzinTerbit, IzinUsahaTercatat), approved)
    [overlap] = [f for f in report.errors if f.rule == "overlap"]
    assert overlap.event_type == "id.go.riau.bapenda.izin.tercatat"
    assert "id.go.riau.dpmptsp.izin.terbit" in overlap.message
    assert "similarity 0.92" in overlap.message
    assert not report.ok


def test_an_approved_overlap_is_only_a_warning() -> None:
    both = catalog_of(IzinTerbit, IzinUsahaTercatat)
    report = check_catalog(both, LockFile().approve(both))
    assert report.ok
    assert [f.rule for f in report.warnings] == ["overlap"]


def test_check_threshold_is_passed_through() -> None:
    approved = LockFile().approve(catalog_of(IzinTerbit))
    report = check_catalog(
        catalog_of(IzinTerbit, IzinUsahaTercatat), approved, overlap_threshold=0.95
    )
    assert [f.rule for f in report.errors] == []


# Subscriptions -----------------------------------------------------------------------------


def izin_subscription(system: str, event_type: str, purpose: str) -> Subscription:
    return Subscription(system=system, event_type=event_type, purpose=purpose)


def test_a_second_agreement_for_the_same_system_and_type_is_a_duplicate() -> None:
    # Catalog() refuses this outright; the overlap check reports it when given raw agreements.
    subs = [
        izin_subscription("bapenda.sipd", IzinTerbit.event_type().type, "Register taxpayers."),
        izin_subscription("bapenda.sipd", IzinTerbit.event_type().type, "Tax statistics."),
    ]
    [dup] = find_duplicate_subscriptions(subs, [IzinTerbit.event_type()])
    assert dup.subscription is subs[1]
    assert dup.existing is subs[0]
    assert "already has an agreement" in dup.reason


def test_subscribing_to_an_overlapping_type_for_the_same_purpose_is_a_duplicate() -> None:
    purpose = "Register new businesses as potential regional taxpayers."
    subs = [
        izin_subscription("dlhk.simlhk", IzinTerbit.event_type().type, purpose),
        izin_subscription(
            "dlhk.simlhk",
            IzinUsahaTercatat.event_type().type,
            "Register newly licensed businesses as potential regional taxpayers.",
        ),
    ]
    types = [IzinTerbit.event_type(), IzinUsahaTercatat.event_type()]
    [dup] = find_duplicate_subscriptions(subs, types)
    assert dup.subscription is subs[1]
    assert "same purpose" in dup.reason

    other_purpose = [
        subs[0],
        izin_subscription(
            "dlhk.simlhk",
            IzinUsahaTercatat.event_type().type,
            "Schedule environmental supervision visits.",
        ),
    ]
    assert find_duplicate_subscriptions(other_purpose, types) == []


def test_purpose_similarity_ignores_case_and_filler_words() -> None:
    assert purpose_similarity("Publish statistics on Satu Data", "publish the STATISTICS") == 0.5
    assert purpose_similarity("", "anything") == 0.0


def test_check_reports_a_proposed_duplicate_subscription_as_an_error() -> None:
    purpose = "Register new businesses as potential regional taxpayers."
    first = izin_subscription("dlhk.simlhk", IzinTerbit.event_type().type, purpose)
    second = izin_subscription("dlhk.simlhk", IzinUsahaTercatat.event_type().type, purpose)
    before = catalog_of(IzinTerbit, IzinUsahaTercatat, subscriptions=[first])
    approved = LockFile().approve(before)
    report = check_catalog(
        catalog_of(IzinTerbit, IzinUsahaTercatat, subscriptions=[first, second]), approved
    )
    [dup] = [f for f in report.errors if f.rule == "duplicate-subscription"]
    assert dup.event_type == "id.go.riau.bapenda.izin.tercatat"
    assert "dlhk.simlhk -> id.go.riau.dpmptsp.izin.terbit" in dup.message
