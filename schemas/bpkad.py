"""Event types owned by BPKAD (regional finance and asset management agency)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import Field

from bus.catalog import EventData
from schemas.types import KodeRekening, NomorSP2D, Rupiah, UnitKerja


class Sp2dTerbit(
    EventData,
    type="id.go.riau.bpkad.sp2d.terbit",
    version=1,
    owner="bpkad.sipkd",
    key="nomor_sp2d",
    topic={"partitions": 3},
):
    """SP2D terbit: a fund disbursement order (Surat Perintah Pencairan Dana) was issued."""

    nomor_sp2d: NomorSP2D = Field(min_length=5, max_length=64)
    opd_penerima: UnitKerja = Field(min_length=2, max_length=200, description="Paying OPD's name.")
    kode_rekening: KodeRekening = Field(
        pattern=r"^\d(\.\d{1,2}){3,5}$", description="Budget account."
    )
    nilai: Rupiah
    uraian: str = Field(max_length=1000, description="What the payment is for.")
    tanggal_sp2d: date
    issued_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "nomor_sp2d": "SP2D/BPKAD/2026/LS/08812",
        "opd_penerima": "Dinas Kesehatan",
        "kode_rekening": "5.1.02.01.01",
        "nilai": 125000000,
        "uraian": "Belanja bahan habis pakai puskesmas triwulan IV",
        "tanggal_sp2d": "2026-11-03",
        "issued_at": "2026-11-03T14:05:00+07:00",
    }
