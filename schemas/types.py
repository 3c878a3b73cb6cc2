"""Semantic types shared across the catalog: NIK, NIB, NIP, kode wilayah, names, addresses, Rupiah.

Each is an `Annotated` type. Its shape rule (pattern, bounds) appears in the generated JSON
Schema, so a wrong value is refused with a message naming the field. Its `Meaning` says what the
value *is*, whatever the field is called: the overlap check and the reuse advisor
(docs/governance.md) compare event types by it. A `Meaning` changes neither validation nor the
JSON Schema, so giving an existing field its semantic type is not a schema change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from bus.catalog.meaning import Meaning

NIK = Annotated[
    str,
    Field(
        pattern=r"^\d{16}$",
        description="Nomor Induk Kependudukan: the 16-digit national resident number (personal).",
    ),
    Meaning(
        "NIK",
        "a resident's national identity number",
        identifies="resident",
        words=("nik", "no ktp", "nomor induk kependudukan", "national id", "resident id"),
    ),
]
NoKK = Annotated[
    str,
    Field(
        pattern=r"^\d{16}$",
        description="Nomor Kartu Keluarga: the 16-digit family card number (personal).",
    ),
    Meaning(
        "NoKK",
        "a family card (Kartu Keluarga) number",
        identifies="family",
        words=("no kk", "nomor kk", "nomor kartu keluarga", "family card number"),
    ),
]
NIB = Annotated[
    str,
    Field(
        pattern=r"^\d{13}$",
        description="Nomor Induk Berusaha: the 13-digit business identification number (OSS).",
    ),
    Meaning(
        "NIB",
        "a business's identification number (OSS)",
        identifies="business",
        words=("nib", "nomor induk berusaha", "business id"),
    ),
]
NIP = Annotated[
    str,
    Field(
        pattern=r"^\d{18}$",
        description="Nomor Induk Pegawai: the 18-digit civil-servant number (personal).",
    ),
    Meaning(
        "NIP",
        "a civil servant's employee number",
        identifies="civil servant",
        words=("nip", "nomor induk pegawai", "employee id"),
    ),
]
KBLI = Annotated[
    str,
    Field(pattern=r"^\d{5}$", description="Klasifikasi Baku Lapangan Usaha Indonesia, 5 digits."),
    Meaning(
        "KBLI",
        "a business activity class (KBLI)",
        identifies="business activity",
        words=("kbli", "kode kbli", "business classification"),
    ),
]
NomorPolisi = Annotated[
    str,
    Field(
        pattern=r"^BM \d{1,4} [A-Z]{1,3}$",
        description="Vehicle registration plate issued in Riau (area code BM).",
    ),
    Meaning(
        "NomorPolisi",
        "a vehicle's registration plate",
        identifies="vehicle",
        words=("nomor polisi", "nopol", "plat nomor", "tnkb", "plate number"),
    ),
]
Rupiah = Annotated[
    int,
    Field(ge=0, description="An amount in Rupiah, no fractional part."),
    Meaning("Rupiah", "an amount of money in Rupiah", words=("rupiah", "rp")),
]

WILAYAH = Meaning(
    "KodeWilayah",
    "a Kemendagri area code (province, regency or city, district, village)",
    words=("kode wilayah", "wilayah", "kabupaten kota", "kode kabupaten", "kode kota"),
)
#: Any Kemendagri area code, in or outside Riau (a move may come from another province).
KodeWilayahNasional = Annotated[str, Field(pattern=r"^\d{2}(\.\d{2}){1,3}$"), WILAYAH]

# Meanings that used to be only in a field's name. No shape rule: each field keeps its own.
NamaOrang = Annotated[
    str,
    Meaning(
        "NamaOrang",
        "a person's name",
        words=("nama", "nama lengkap", "nama penduduk", "nama pemohon", "full name"),
    ),
]
NamaUsaha = Annotated[
    str,
    Meaning(
        "NamaUsaha",
        "a business's registered name",
        words=("nama usaha", "nama perusahaan", "nama badan usaha", "business name"),
    ),
]
Alamat = Annotated[
    str,
    Meaning("Alamat", "a postal address", words=("alamat", "domisili", "address")),
]
NomorIzin = Annotated[
    str,
    Meaning(
        "NomorIzin",
        "the number of a license or permit",
        identifies="license",
        words=("nomor izin", "nomor perizinan", "license number", "permit number"),
    ),
]
NomorSK = Annotated[
    str,
    Meaning(
        "NomorSK",
        "the number of a decree (surat keputusan)",
        identifies="decree",
        words=("nomor sk", "nomor surat keputusan", "decree number"),
    ),
]
NomorSKPWNI = Annotated[
    str,
    Meaning(
        "NomorSKPWNI",
        "the number of a resident's move certificate (SKPWNI)",
        identifies="move certificate",
        words=("nomor skpwni", "skpwni", "surat keterangan pindah"),
    ),
]
KodeBayar = Annotated[
    str,
    Meaning(
        "KodeBayar",
        "a payment code (kode bayar, billing code)",
        identifies="payment",
        words=("kode bayar", "kode billing", "payment code"),
    ),
]
NomorSP2D = Annotated[
    str,
    Meaning(
        "NomorSP2D",
        "the number of a fund disbursement order (SP2D)",
        identifies="disbursement order",
        words=("nomor sp2d", "sp2d"),
    ),
]
KodeRekening = Annotated[
    str,
    Meaning(
        "KodeRekening",
        "a regional budget account code",
        identifies="budget account",
        words=("kode rekening", "rekening anggaran", "budget account"),
    ),
]
UnitKerja = Annotated[
    str,
    Meaning(
        "UnitKerja",
        "a government work unit or agency (OPD)",
        words=("unit kerja", "opd", "satuan kerja", "instansi"),
    ),
]
Jabatan = Annotated[str, Meaning("Jabatan", "a position title", words=("jabatan", "position"))]
Golongan = Annotated[
    str, Meaning("Golongan", "a civil-service rank (golongan/ruang)", words=("golongan", "pangkat"))
]
Lintang = Annotated[
    float, Meaning("Lintang", "a latitude in degrees", words=("lintang", "latitude"))
]
Bujur = Annotated[float, Meaning("Bujur", "a longitude in degrees", words=("bujur", "longitude"))]


class KodeWilayah(StrEnum):
    """Kemendagri area codes of Riau Province (14) and its 12 regencies and cities."""

    __meaning__ = WILAYAH

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
