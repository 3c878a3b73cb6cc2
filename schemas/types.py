"""Identifier shapes shared across the catalog: NIK, NIB, NIP, kode wilayah, plate numbers, Rupiah.

Each is an `Annotated` type, so its rule appears in the generated JSON Schema and a wrong value
is refused with a message naming the field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

NIK = Annotated[
    str,
    Field(
        pattern=r"^\d{16}$",
        description="Nomor Induk Kependudukan: the 16-digit national resident number (personal).",
    ),
]
NIB = Annotated[
    str,
    Field(
        pattern=r"^\d{13}$",
        description="Nomor Induk Berusaha: the 13-digit business identification number (OSS).",
    ),
]
NIP = Annotated[
    str,
    Field(
        pattern=r"^\d{18}$",
        description="Nomor Induk Pegawai: the 18-digit civil-servant number (personal).",
    ),
]
KBLI = Annotated[
    str,
    Field(pattern=r"^\d{5}$", description="Klasifikasi Baku Lapangan Usaha Indonesia, 5 digits."),
]
NomorPolisi = Annotated[
    str,
    Field(
        pattern=r"^BM \d{1,4} [A-Z]{1,3}$",
        description="Vehicle registration plate issued in Riau (area code BM).",
    ),
]
Rupiah = Annotated[int, Field(ge=0, description="An amount in Rupiah, no fractional part.")]


class KodeWilayah(StrEnum):
    """Kemendagri area codes of Riau Province (14) and its 12 regencies and cities."""

    PROVINSI_RIAU = "14"
    KAMPAR = "14.01"
    INDRAGIRI_HULU = "14.02"
    BENGKALIS = "14.03"
    INDRAGIRI_HILIR = "14.04"
    PELALAWAN = "14.05"
    ROKAN_HULU = "14.06"
    ROKAN_HILIR = "14.07"
    SIAK = "14.08"
    KUANTAN_SINGINGI = "14.09"
    KEPULAUAN_MERANTI = "14.10"
    PEKANBARU = "14.71"
    DUMAI = "14.73"

    @property
    def nama(self) -> str:
        """Official name of the area, e.g. 'Kota Pekanbaru'."""
        return NAMA_WILAYAH[self]


NAMA_WILAYAH: dict[KodeWilayah, str] = {
    KodeWilayah.PROVINSI_RIAU: "Provinsi Riau",
    KodeWilayah.KAMPAR: "Kabupaten Kampar",
    KodeWilayah.INDRAGIRI_HULU: "Kabupaten Indragiri Hulu",
    KodeWilayah.BENGKALIS: "Kabupaten Bengkalis",
    KodeWilayah.INDRAGIRI_HILIR: "Kabupaten Indragiri Hilir",
    KodeWilayah.PELALAWAN: "Kabupaten Pelalawan",
    KodeWilayah.ROKAN_HULU: "Kabupaten Rokan Hulu",
    KodeWilayah.ROKAN_HILIR: "Kabupaten Rokan Hilir",
    KodeWilayah.SIAK: "Kabupaten Siak",
    KodeWilayah.KUANTAN_SINGINGI: "Kabupaten Kuantan Singingi",
    KodeWilayah.KEPULAUAN_MERANTI: "Kabupaten Kepulauan Meranti",
    KodeWilayah.PEKANBARU: "Kota Pekanbaru",
    KodeWilayah.DUMAI: "Kota Dumai",
}
