"""Event types owned by BKD (regional civil-service agency)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import Field

from bus.catalog import EventData, personal
from schemas.types import NIP, Golongan, Jabatan, NamaOrang, NomorSK, UnitKerja


class AsnMutasi(
    EventData,
    type="id.go.riau.bkd.asn.mutasi",
    version=1,
    owner="bkd.simpeg",
    key="nip",
    topic={"partitions": 3},
):
    """ASN mutasi: a civil servant (ASN) was transferred to another unit by decree (SK)."""

    nip: NIP = personal(description="Civil servant's NIP (personal data).")
    nama: NamaOrang = personal(min_length=1, max_length=200, description="Name (personal data).")
    nomor_sk: NomorSK = Field(min_length=5, max_length=64, description="Transfer decree number.")
    unit_asal: UnitKerja = Field(
        min_length=2, max_length=200, description="Origin work unit (OPD)."
    )
    unit_tujuan: UnitKerja = Field(
        min_length=2, max_length=200, description="Destination work unit."
    )
    jabatan_baru: Jabatan = Field(min_length=2, max_length=200, description="New position title.")
    golongan: Golongan = Field(pattern=r"^(I|II|III|IV)/[a-e]$", description="Rank, e.g. III/c.")
    tmt: date = Field(description="Terhitung mulai tanggal: the date the transfer takes effect.")
    decided_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "nip": "198507142010011003",
        "nama": "Dewi Lestari",
        "nomor_sk": "821.2/BKD/2026/117",
        "unit_asal": "Dinas Pendidikan",
        "unit_tujuan": "Diskominfotik",
        "jabatan_baru": "Pranata Komputer Ahli Muda",
        "golongan": "III/c",
        "tmt": "2026-12-01",
        "decided_at": "2026-11-10T08:00:00+07:00",
    }
