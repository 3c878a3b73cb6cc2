"""Event types owned by DPMPTSP (investment and one-stop integrated services)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from bus.catalog import EventData, personal
from schemas.types import KBLI, NIB, Alamat, KodeWilayah, NamaOrang, NamaUsaha, NomorIzin, Rupiah


class JenisIzin(StrEnum):
    """Kinds of license issued through OSS-RBA."""

    IZIN_USAHA = "izin_usaha"
    PBG = "pbg"
    SERTIFIKAT_STANDAR = "sertifikat_standar"
    IZIN_LINGKUNGAN = "izin_lingkungan"
    SIP_TENAGA_KESEHATAN = "sip_tenaga_kesehatan"


class IzinTerbit(
    EventData,
    type="id.go.riau.dpmptsp.izin.terbit",
    version=1,
    owner="dpmptsp.sicantik",
    key="nomor_izin",
    topic={"partitions": 3},
):
    """Izin terbit: a business license was issued to a registered business (NIB)."""

    nomor_izin: NomorIzin = Field(
        min_length=5, max_length=64, description="License number as printed on the license."
    )
    nib: NIB
    jenis_izin: JenisIzin
    kbli: KBLI
    nama_usaha: NamaUsaha = Field(
        min_length=1, max_length=200, description="Registered business name."
    )
    nama_pemohon: NamaOrang = personal(
        min_length=1, max_length=200, description="Applicant's name (personal data)."
    )
    kode_wilayah: KodeWilayah = Field(description="Regency or city where the business operates.")
    nilai_investasi: Rupiah = Field(ge=0, description="Declared investment value in Rupiah.")
    tanggal_terbit: date
    berlaku_sampai: date | None = Field(default=None, description="Expiry date, if any.")
    issued_at: datetime = Field(description="When the license was signed, with time zone.")

    example: ClassVar[dict[str, Any]] = {
        "nomor_izin": "503/DPMPTSP/IU/2026/00123",
        "nib": "9120301234567",
        "jenis_izin": "izin_usaha",
        "kbli": "47111",
        "nama_usaha": "CV Sagu Meranti Jaya",
        "nama_pemohon": "Siti Aminah",
        "kode_wilayah": "14.71",
        "nilai_investasi": 750000000,
        "tanggal_terbit": "2026-11-02",
        "berlaku_sampai": None,
        "issued_at": "2026-11-02T09:15:00+07:00",
    }


class NibTerbit(
    EventData,
    type="id.go.riau.dpmptsp.nib.terbit",
    version=1,
    owner="dpmptsp.sicantik",
    key="nib",
    topic={"partitions": 3},
):
    """NIB terbit: a business registered through OSS-RBA and received its NIB."""

    nib: NIB
    nama_usaha: NamaUsaha = Field(min_length=1, max_length=200)
    skala_usaha: str = Field(pattern=r"^(mikro|kecil|menengah|besar)$")
    kbli: list[KBLI] = Field(min_length=1, max_length=50)
    kode_wilayah: KodeWilayah
    alamat_usaha: Alamat = personal(max_length=500, description="Business address (personal data).")
    registered_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "nib": "9120301234567",
        "nama_usaha": "CV Sagu Meranti Jaya",
        "skala_usaha": "kecil",
        "kbli": ["47111", "10792"],
        "kode_wilayah": "14.10",
        "alamat_usaha": "Jl. Merdeka No. 12, Selatpanjang",
        "registered_at": "2026-10-20T10:00:00+07:00",
    }
