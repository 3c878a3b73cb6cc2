"""Overlap ("tumpang tindih"): copies of another owner's data are flagged, look-alikes are not."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, ClassVar

import pytest
from pydantic import Field

from bus.catalog import Catalog, EventData, Subscription, System, personal
from bus.errors import LockFileError
from bus.governance.check import check_catalog
from bus.governance.lexicon import concepts
from bus.governance.lockfile import LockFile, Waiver
from bus.governance.overlap import (
    DEFAULT_THRESHOLD,
    field_similarity,
    find_duplicate_subscriptions,
    find_overlaps,
    profiles,
    purpose_similarity,
    similarity,
)
from bus.governance.profile import EventProfile
from schemas import IzinTerbit, NibTerbit, PendudukPindah, PkbDibayar
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
    name_pemohon: str = personal()  # a copied name is still personal data
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
    ("name", "expected"),
    [
        ("nama", {"nama"}),
        ("name", {"nama"}),
        ("nama_lengkap", {"nama"}),
        ("full_name", {"nama"}),
        ("nm_perusahaan", {"nama", "usaha"}),
        ("nik", {"nik"}),
        ("no_ktp", {"nik"}),
        ("No_KTP", {"nik"}),
        ("nomor_induk_kependudukan", {"nik"}),
        ("nomor_induk_berusaha", {"nib"}),
        ("kode_daerah", {"kode", "wilayah"}),
        ("kab_kota_tujuan", {"wilayah", "tujuan"}),
        ("alamat_baru", {"alamat", "tujuan"}),
        ("tgl_lahir", {"tanggal", "lahir"}),
        ("address", {"alamat"}),
        ("no_izin", {"nomor", "izin"}),
        ("perizinan", {"izin"}),
        ("terbit", {"terbit"}),  # `ter-` is not stripped from a word the lexicon knows
        ("dibayar", {"bayar"}),
        ("pendaftaran", {"daftar"}),
        ("registered_at", {"daftar"}),
        ("Residents moved to other regencies", {"penduduk", "pindah", "wilayah"}),
    ],
)
def test_names_and_sentences_fold_to_indonesian_concepts(name: str, expected: set[str]) -> None:
    assert concepts(name) == expected


def profile_pair(a: type[EventData], b: type[EventData]) -> tuple[EventProfile, EventProfile]:
    pa, pb = profiles([a.event_type(), b.event_type()])
    return pa, pb


def test_semantic_types_are_declared_or_inferred_from_pattern_example_and_name() -> None:
    copy, original = profile_pair(IzinUsahaTercatat, IzinTerbit)
    assert original.field("nomor_izin").meaning_label == "NomorIzin"
    assert copy.field("nib").meaning_label == "NIB"  # declared with schemas.types.NIB
    assert copy.field("name_pemohon").meaning_label == "NamaOrang (inferred from its name)"
    assert copy.field("no_izin").meanings == frozenset({"NomorIzin"})
    [pindah] = profiles([PendudukPindah.event_type()])
    assert pindah.entity == "resident"
    assert pindah.field("nik").weight == 2.0
    assert pindah.field("recorded_at").weight == 0.5


def test_a_near_copy_under_another_owner_is_flagged_field_by_field() -> None:
    copy, original = profile_pair(IzinUsahaTercatat, IzinTerbit)
    measured = similarity(copy, original)
    assert measured.score >= DEFAULT_THRESHOLD
    assert dict(measured.shared) == {
        "no_izin": "nomor_izin",
        "nib": "nib",
        "jenis_izin": "jenis_izin",
        "kbli": "kbli",
        "nama_usaha": "nama_usaha",
        "name_pemohon": "nama_pemohon",
        "nilai_investasi": "nilai_investasi",
        "tgl_terbit": "tanggal_terbit",
        "kode_daerah": "kode_wilayah",
    }  # created_at and issued_at: two timestamps, whose names say nothing in common
    assert measured.identity == 1.0  # both keyed by the license number

    [overlap] = find_overlaps(
        [IzinTerbit.event_type(), IzinUsahaTercatat.event_type()], threshold=DEFAULT_THRESHOLD
    )
    assert overlap.event_type.type == "id.go.riau.bapenda.izin.tercatat"
    assert overlap.similar_to.type == "id.go.riau.dpmptsp.izin.terbit"
    text = overlap.describe()
    assert "owned by dpmptsp.sicantik" in text
    assert "tgl_terbit ~ tanggal_terbit" in text
    assert "nib (1.00: both NIB" in text
    assert "not in id.go.riau.dpmptsp.izin.terbit: created_at" in text
    assert "request an agreement for: nomor_izin, nib" in text


def test_an_unrelated_type_sharing_kode_wilayah_and_a_timestamp_is_not_flagged() -> None:
    visit, izin = profile_pair(KunjunganTercatat, IzinTerbit)
    measured = similarity(visit, izin)
    assert {m.field for m in measured.matches} <= {"kode_wilayah", "issued_at"}
    assert measured.score < 0.1
    overlaps = find_overlaps(
        [IzinTerbit.event_type(), KunjunganTercatat.event_type()], threshold=DEFAULT_THRESHOLD
    )
    assert overlaps == []


def test_same_names_with_other_types_are_not_the_same_data() -> None:
    other, izin = profile_pair(IzinBerbeda, IzinTerbit)
    measured = similarity(other, izin)
    # Six names collide, each with another JSON type (integer vs string, datetime vs ...).
    assert [m for m in measured.matches if m.field != "tanggal_terbit"] == []
    assert measured.score < 0.2
    reasons = field_similarity(other.field("nib"), izin.field("nib"))
    assert reasons == (0.0, ("types differ (number vs string)",))


def test_different_semantic_types_never_match_however_alike_the_values() -> None:
    [pkb] = profiles([PkbDibayar.event_type()])
    [pindah] = profiles([PendudukPindah.event_type()])
    kode_bayar, nik = pkb.field("kode_bayar"), pindah.field("nik")
    assert kode_bayar.shape == nik.shape == "d16"
    assert field_similarity(kode_bayar, nik) == (
        0.0,
        ("different semantic types (KodeBayar vs NIK)",),
    )


def test_one_owner_may_publish_types_that_share_fields() -> None:
    assert similarity(*profile_pair(NibTerbit, IzinTerbit)).score > 0
    assert find_overlaps([IzinTerbit.event_type(), NibTerbit.event_type()], threshold=0.0) == []


def test_the_threshold_is_configurable() -> None:
    types = [IzinTerbit.event_type(), IzinUsahaTercatat.event_type()]
    assert find_overlaps(types, threshold=0.85) == []
    assert len(find_overlaps(types, threshold=0.8)) == 1


def test_the_shipped_catalog_has_no_overlap() -> None:
    from schemas import catalog

    assert find_overlaps(catalog.event_types, threshold=DEFAULT_THRESHOLD) == []


def test_check_fails_on_a_proposed_copy_and_names_the_similar_type() -> None:
    approved = LockFile().approve(catalog_of(IzinTerbit))
    report = check_catalog(catalog_of(IzinTerbit, IzinUsahaTercatat), approved)
    [overlap] = [f for f in report.errors if f.rule == "overlap"]
    assert overlap.event_type == "id.go.riau.bapenda.izin.tercatat"
    assert "id.go.riau.dpmptsp.izin.terbit" in overlap.message
    assert "overlap 0.82" in overlap.message
    assert not report.ok


def test_an_approved_overlap_is_only_a_warning() -> None:
    both = catalog_of(IzinTerbit, IzinUsahaTercatat)
    report = check_catalog(both, LockFile().approve(both))
    assert report.ok
    assert [f.rule for f in report.warnings] == ["overlap"]


def test_check_threshold_is_passed_through() -> None:
    approved = LockFile().approve(catalog_of(IzinTerbit))
    report = check_catalog(
        catalog_of(IzinTerbit, IzinUsahaTercatat), approved, overlap_threshold=0.85
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
    # {publish, statistik, satu} against {publish, statistik}: "data" and "the" are filler.
    assert purpose_similarity("Publish statistics on Satu Data", "publish the STATISTICS") == 2 / 3
    assert purpose_similarity("Statistik perizinan", "licensing statistics") == 1.0
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


# Waivers: a deliberate overlap approved by the GCIO -----------------------------------------


def waiver_for_copy(**changes: str) -> Waiver:
    fields = {
        "event_type": "id.go.riau.bapenda.izin.tercatat",
        "similar_to": "id.go.riau.dpmptsp.izin.terbit",
        "reason": "Transition: Bapenda republishes licenses until SIPD subscribes (ND 12/2026).",
        "approver": "Kabid Aptika, Diskominfotik",
        "approved_on": "2026-12-01",
    }
    return Waiver(**{**fields, **changes})


def test_a_waived_overlap_is_a_warning_with_its_reason_and_approver() -> None:
    approved = LockFile().approve(catalog_of(IzinTerbit)).waive(waiver_for_copy())
    report = check_catalog(catalog_of(IzinTerbit, IzinUsahaTercatat), approved)
    assert report.ok
    [waived] = [f for f in report.warnings if f.rule == "overlap-waived"]
    assert waived.event_type == "id.go.riau.bapenda.izin.tercatat"
    assert "largely repeats id.go.riau.dpmptsp.izin.terbit" in waived.message
    assert "waived on 2026-12-01 by Kabid Aptika, Diskominfotik: Transition:" in waived.message
    assert [f.rule for f in report.errors] == []


def test_a_waiver_counts_in_either_order_and_covers_only_its_pair() -> None:
    reversed_waiver = waiver_for_copy(
        event_type="id.go.riau.dpmptsp.izin.terbit",
        similar_to="id.go.riau.bapenda.izin.tercatat",
    )
    approved = LockFile().approve(catalog_of(IzinTerbit)).waive(reversed_waiver)
    assert check_catalog(catalog_of(IzinTerbit, IzinUsahaTercatat), approved).ok

    other = (
        LockFile()
        .approve(catalog_of(IzinTerbit))
        .waive(waiver_for_copy(similar_to="id.go.riau.dpmptsp.nib.terbit"))
    )
    report = check_catalog(catalog_of(IzinTerbit, IzinUsahaTercatat), other)
    assert [f.rule for f in report.errors] == ["overlap"]
    assert "waiver-unused" in [f.rule for f in report.warnings]


def test_waivers_survive_the_lock_file_round_trip_and_approval() -> None:
    both = catalog_of(IzinTerbit, IzinUsahaTercatat)
    lock = LockFile().approve(both).waive(waiver_for_copy())
    again = LockFile.from_dict(json.loads(lock.to_json()))
    assert again.waivers == lock.waivers
    assert again.approve(both).waivers == lock.waivers
    # Once a type is gone, its waiver goes with it on the next approval.
    assert again.approve(catalog_of(IzinTerbit)).waivers == {}
    # A lock file without waivers is written exactly as before they existed.
    assert "waivers" not in LockFile().approve(both).to_dict()


def test_a_waiver_recorded_twice_replaces_the_first() -> None:
    lock = LockFile().waive(waiver_for_copy()).waive(waiver_for_copy(reason="Renewed."))
    assert [w.reason for w in lock.waivers.values()] == ["Renewed."]


@pytest.mark.parametrize("missing", ["reason", "approver"])
def test_a_waiver_without_reason_or_approver_is_refused(missing: str) -> None:
    document = LockFile().waive(waiver_for_copy()).to_dict()
    for waiver in document["waivers"].values():
        waiver[missing] = " "
    with pytest.raises(LockFileError, match="needs a reason and an approver"):
        LockFile.from_dict(document)
