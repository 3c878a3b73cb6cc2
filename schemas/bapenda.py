"""Event types owned by Bapenda (regional revenue agency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from bus.catalog import EventData
from schemas.types import KodeBayar, KodeWilayah, NomorPolisi, Rupiah


class PkbDibayar(
    EventData,
    type="id.go.riau.bapenda.pkb.dibayar",
    version=1,
    owner="bapenda.samsat",
    key="nomor_polisi",
    topic={"partitions": 6},
):
    """PKB dibayar: the annual motor-vehicle tax (Pajak Kendaraan Bermotor) was paid at Samsat."""

    kode_bayar: KodeBayar = Field(
        pattern=r"^\d{16}$", description="Payment code issued by e-Samsat."
    )
    nomor_polisi: NomorPolisi
    jenis_kendaraan: str = Field(pattern=r"^(roda2|roda4|roda6_plus)$")
    pokok_pkb: Rupiah
    denda_pkb: Rupiah = 0
    swdkllj: Rupiah = Field(description="Mandatory road-accident fund contribution (Jasa Raharja).")
    total: Rupiah
    kode_wilayah: KodeWilayah = Field(description="Samsat office's regency or city.")
    kanal: str = Field(pattern=r"^(loket|samsat_keliling|bank|e_samsat)$")
    paid_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "kode_bayar": "1471202611020001",
        "nomor_polisi": "BM 1234 AB",
        "jenis_kendaraan": "roda4",
        "pokok_pkb": 2150000,
        "denda_pkb": 0,
        "swdkllj": 143000,
        "total": 2293000,
        "kode_wilayah": "14.71",
        "kanal": "e_samsat",
        "paid_at": "2026-11-02T10:21:00+07:00",
    }
