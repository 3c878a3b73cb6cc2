"""Event types owned by Disdukcapil (population and civil registration)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import Field

from bus.catalog import EventData, personal
from schemas.types import (
    NIK,
    Alamat,
    KodeWilayah,
    KodeWilayahNasional,
    NamaOrang,
    NomorSKPWNI,
)


class PendudukPindah(
    EventData,
    type="id.go.riau.disdukcapil.penduduk.pindah",
    version=1,
    owner="disdukcapil.siak",
    key="nik",
    topic={"partitions": 6},
):
    """Penduduk pindah: a resident moved between regencies or cities (SKPWNI issued)."""

    nik: NIK = personal(description="Resident's NIK (personal data).")
    nama_lengkap: NamaOrang = personal(
        min_length=1, max_length=200, description="Full name (personal)."
    )
    nomor_skpwni: NomorSKPWNI = Field(
        min_length=5, max_length=64, description="Number of the move certificate (SKPWNI)."
    )
    kode_wilayah_asal: KodeWilayahNasional = Field(
        description="Kemendagri code of the origin area."
    )
    kode_wilayah_tujuan: KodeWilayah = Field(description="Destination regency or city in Riau.")
    alamat_tujuan: Alamat = personal(max_length=500, description="New address (personal data).")
    jumlah_anggota_keluarga: int = Field(ge=1, le=30)
    tanggal_pindah: date
    recorded_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "nik": "1471021205900003",
        "nama_lengkap": "Rahmat Hidayat",
        "nomor_skpwni": "SKPWNI/1471/2026/004512",
        "kode_wilayah_asal": "14.71.02",
        "kode_wilayah_tujuan": "14.08",
        "alamat_tujuan": "Jl. Sultan Syarif Kasim No. 5, Siak Sri Indrapura",
        "jumlah_anggota_keluarga": 3,
        "tanggal_pindah": "2026-11-01",
        "recorded_at": "2026-11-01T13:40:00+07:00",
    }
