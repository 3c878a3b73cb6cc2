"""The overlap table: renamed copies of shipped event types, which the check must catch, and
distinct look-alikes, which it must not.

Each copy repeats a shipped event type of another owner under other field names, in the way
agencies really name things (abbreviations, English, Indonesian synonyms, no semantic types).
Each look-alike shares identifiers, amounts, names or shapes with a shipped type but describes
another thing. `tests/unit/test_overlap_table.py` measures the check on every row;
`tests/integration/test_catalog_propose_cli.py` proposes the first copy to `bus catalog`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from bus.catalog import EventData, personal
from schemas.types import NIB, KodeBayar, KodeWilayah, Rupiah

# Renamed copies ----------------------------------------------------------------------------


class WargaPindahDinsos(
    EventData,
    type="id.go.riau.dinsos.warga.pindah",
    version=1,
    owner="dinsos.siks",
    key="nik",
):
    """Warga pindah: penerima bantuan sosial pindah domisili ke kabupaten/kota lain."""

    # Marked personal, as `bus catalog check` demands (docs/personal-data.md).
    nik: str = personal(pattern=r"^\d{16}$")
    nama: str = personal()
    alamat_baru: str = personal()
    kab_kota_tujuan: str
    tgl_pindah: date
    created_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "nik": "1471021205900003",
        "nama": "Rahmat Hidayat",
        "alamat_baru": "Jl. Sultan Syarif Kasim No. 5, Siak Sri Indrapura",
        "kab_kota_tujuan": "14.08",
        "tgl_pindah": "2026-11-01",
        "created_at": "2026-11-01T14:00:00+07:00",
    }


class UsahaTerdaftarBapenda(
    EventData,
    type="id.go.riau.bapenda.usaha.terdaftar",
    version=1,
    owner="bapenda.sipd",
    key="nomor_induk_berusaha",
):
    """Usaha terdaftar: pelaku usaha baru tercatat sebagai calon wajib pajak daerah."""

    nomor_induk_berusaha: str
    nm_perusahaan: str
    tgl_daftar: date
    skala: str
    kode_kbli: list[str]
    alamat_perusahaan: str
    kab_kota: str

    example: ClassVar[dict[str, Any]] = {
        "nomor_induk_berusaha": "9120301234567",
        "nm_perusahaan": "CV Sagu Meranti Jaya",
        "tgl_daftar": "2026-10-20",
        "skala": "kecil",
        "kode_kbli": ["47111"],
        "alamat_perusahaan": "Jl. Merdeka No. 12, Selatpanjang",
        "kab_kota": "14.10",
    }


class ResidentMovedDinkes(
    EventData,
    type="id.go.riau.dinkes.resident.moved",
    version=1,
    owner="dinkes.sikda",
    key="resident_id",
):
    """Resident moved: a resident's domicile moved to another regency (from the SKPWNI)."""

    resident_id: str
    full_name: str
    origin_area_code: str
    destination_regency: str
    new_address: str
    family_members: int
    move_date: date

    example: ClassVar[dict[str, Any]] = {
        "resident_id": "1471021205900003",
        "full_name": "Rahmat Hidayat",
        "origin_area_code": "14.71.02",
        "destination_regency": "14.08",
        "new_address": "Jl. Sultan Syarif Kasim No. 5, Siak Sri Indrapura",
        "family_members": 3,
        "move_date": "2026-11-01",
    }


class PerizinanTercatatDlhk(
    EventData,
    type="id.go.riau.dlhk.perizinan.tercatat",
    version=1,
    owner="dlhk.simlhk",
    key="no_izin",
):
    """Perizinan tercatat: salinan izin usaha yang diterbitkan DPMPTSP, untuk pengawasan."""

    no_izin: str
    nib: NIB
    jenis: str
    kode_kbli: str
    nama_perusahaan: str
    nama_pemohon: str
    nilai_modal: int
    tgl_terbit: date
    kode_daerah: KodeWilayah

    example: ClassVar[dict[str, Any]] = {
        "no_izin": "503/DPMPTSP/IU/2026/00123",
        "nib": "9120301234567",
        "jenis": "izin_usaha",
        "kode_kbli": "47111",
        "nama_perusahaan": "CV Sagu Meranti Jaya",
        "nama_pemohon": "Siti Aminah",
        "nilai_modal": 750000000,
        "tgl_terbit": "2026-11-02",
        "kode_daerah": "14.71",
    }


class PegawaiPindahTugasBpkad(
    EventData,
    type="id.go.riau.bpkad.pegawai.pindah_tugas",
    version=1,
    owner="bpkad.sipkd",
    key="nip_pegawai",
):
    """Pegawai pindah tugas: ASN dimutasi ke OPD lain, untuk memindahkan gajinya."""

    nip_pegawai: str
    nama_pegawai: str
    no_sk: str
    opd_asal: str
    opd_tujuan: str
    gol: str
    tanggal_efektif: date

    example: ClassVar[dict[str, Any]] = {
        "nip_pegawai": "198507142010011003",
        "nama_pegawai": "Dewi Lestari",
        "no_sk": "821.2/BKD/2026/117",
        "opd_asal": "Dinas Pendidikan",
        "opd_tujuan": "Diskominfotik",
        "gol": "III/c",
        "tanggal_efektif": "2026-12-01",
    }


class PenerimaanPkbBpkad(
    EventData,
    type="id.go.riau.bpkad.penerimaan_pkb.tercatat",
    version=1,
    owner="bpkad.sipkd",
    key="kode_billing",
):
    """Penerimaan PKB tercatat: pembayaran pajak kendaraan bermotor yang masuk ke kas daerah."""

    kode_billing: str
    nopol: str
    pokok: int
    denda: int
    total_bayar: int
    tgl_bayar: datetime
    kode_wilayah: str

    example: ClassVar[dict[str, Any]] = {
        "kode_billing": "1471202611020001",
        "nopol": "BM 1234 AB",
        "pokok": 2150000,
        "denda": 0,
        "total_bayar": 2293000,
        "tgl_bayar": "2026-11-02T10:21:00+07:00",
        "kode_wilayah": "14.71",
    }


class TitikApiDlhk(
    EventData,
    type="id.go.riau.dlhk.titik_api.terpantau",
    version=1,
    owner="dlhk.simlhk",
    key="id_titik",
):
    """Titik api terpantau: hotspot karhutla dari satelit, disalin untuk patroli."""

    id_titik: str
    sensor: str
    lat: float
    lon: float
    tingkat_kepercayaan: int
    kab_kota: str
    gambut: bool
    waktu_deteksi: datetime

    example: ClassVar[dict[str, Any]] = {
        "id_titik": "VIIRS-20261102-0142-0931",
        "sensor": "VIIRS_SNPP",
        "lat": 1.421,
        "lon": 101.447,
        "tingkat_kepercayaan": 82,
        "kab_kota": "14.03",
        "gambut": True,
        "waktu_deteksi": "2026-11-02T01:42:00+07:00",
    }


class DomisiliBerubahDinsos(
    EventData,
    type="id.go.riau.dinsos.domisili.berubah",
    version=1,
    owner="dinsos.siks",
    key="nomor_induk_kependudukan",
):
    """Domisili berubah: perpindahan penduduk penerima bansos, dengan data DTKS-nya (superset)."""

    nomor_induk_kependudukan: str
    nama_lengkap: str
    no_skpwni: str
    kode_wilayah_lama: str
    kode_wilayah_baru: str
    alamat_domisili: str
    jml_anggota_keluarga: int
    tanggal_pindah: date
    status_dtks: str
    nomor_kks: str

    example: ClassVar[dict[str, Any]] = {
        "nomor_induk_kependudukan": "1471021205900003",
        "nama_lengkap": "Rahmat Hidayat",
        "no_skpwni": "SKPWNI/1471/2026/004512",
        "kode_wilayah_lama": "14.71.02",
        "kode_wilayah_baru": "14.08",
        "alamat_domisili": "Jl. Sultan Syarif Kasim No. 5, Siak Sri Indrapura",
        "jml_anggota_keluarga": 3,
        "tanggal_pindah": "2026-11-01",
        "status_dtks": "aktif",
        "nomor_kks": "KKS-1471-000123",
    }


class UsahaBaruBapenda(
    EventData,
    type="id.go.riau.bapenda.usaha.baru",
    version=1,
    owner="bapenda.sipd",
    key="nomor_registrasi",
):
    """Usaha baru: a business registered with OSS, keyed by Bapenda's own registration number."""

    nomor_registrasi: str
    nib: str
    business_name: str
    scale: str
    kbli_codes: list[str]
    business_address: str
    region_code: str

    example: ClassVar[dict[str, Any]] = {
        "nomor_registrasi": "REG-2026-000881",
        "nib": "9120301234567",
        "business_name": "CV Sagu Meranti Jaya",
        "scale": "kecil",
        "kbli_codes": ["47111", "10792"],
        "business_address": "Jl. Merdeka No. 12, Selatpanjang",
        "region_code": "14.10",
    }


# Distinct look-alikes ----------------------------------------------------------------------


class RetribusiDibayar(
    EventData,
    type="id.go.riau.bapenda.retribusi.dibayar",
    version=1,
    owner="bapenda.sipd",
    key="kode_bayar",
):
    """Retribusi dibayar: a business paid a regional levy (retribusi) for a service."""

    kode_bayar: KodeBayar
    nib: NIB
    nama_usaha: str
    jenis_retribusi: str
    jumlah_bayar: Rupiah
    tanggal_bayar: date
    kanal: str
    paid_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "kode_bayar": "1471202611020099",
        "nib": "9120301234567",
        "nama_usaha": "CV Sagu Meranti Jaya",
        "jenis_retribusi": "persetujuan_bangunan_gedung",
        "jumlah_bayar": 1500000,
        "tanggal_bayar": "2026-11-05",
        "kanal": "bank",
        "paid_at": "2026-11-05T10:00:00+07:00",
    }


class PajakReklameDibayar(
    EventData,
    type="id.go.riau.bapenda.pajak_reklame.dibayar",
    version=1,
    owner="bapenda.sipd",
    key="nib",
):
    """Pajak reklame dibayar: a business paid its billboard tax for one tax period."""

    nib: str = Field(pattern=r"^\d{13}$")
    npwpd: str
    nama_usaha: str
    masa_pajak: str
    nilai_pajak: int
    tanggal_bayar: date

    example: ClassVar[dict[str, Any]] = {
        "nib": "9120301234567",
        "npwpd": "P.2.0001234.14.71",
        "nama_usaha": "CV Sagu Meranti Jaya",
        "masa_pajak": "2026-11",
        "nilai_pajak": 3500000,
        "tanggal_bayar": "2026-11-05",
    }


class PasienTerdaftar(
    EventData,
    type="id.go.riau.dinkes.pasien.terdaftar",
    version=1,
    owner="dinkes.sikda",
    key="nik",
):
    """Pasien terdaftar: a resident registered as a patient at a puskesmas."""

    nik: str = Field(pattern=r"^\d{16}$")
    nama: str
    alamat: str
    tanggal_lahir: date
    nomor_rekam_medis: str
    kode_puskesmas: str
    kode_wilayah: str

    example: ClassVar[dict[str, Any]] = {
        "nik": "1471021205900003",
        "nama": "Rahmat Hidayat",
        "alamat": "Jl. Sultan Syarif Kasim No. 5, Pekanbaru",
        "tanggal_lahir": "1990-05-12",
        "nomor_rekam_medis": "RM-000123",
        "kode_puskesmas": "P1471010101",
        "kode_wilayah": "14.71",
    }


class GuruMutasi(
    EventData,
    type="id.go.riau.disdik.guru.mutasi",
    version=1,
    owner="disdik.dapodik",
    key="nuptk",
):
    """Guru mutasi: a teacher was transferred from one school to another."""

    nuptk: str
    nama: str
    sekolah_asal: str
    sekolah_tujuan: str
    mata_pelajaran: str
    tanggal_mutasi: date

    example: ClassVar[dict[str, Any]] = {
        "nuptk": "1234567890123456",
        "nama": "Dewi Lestari",
        "sekolah_asal": "SMAN 1 Pekanbaru",
        "sekolah_tujuan": "SMAN 2 Siak",
        "mata_pelajaran": "Matematika",
        "tanggal_mutasi": "2026-07-15",
    }


class SetoranDiterima(
    EventData,
    type="id.go.riau.bapenda.setoran.diterima",
    version=1,
    owner="bapenda.sipd",
    key="nomor_sts",
):
    """Setoran diterima: an OPD deposited revenue into the regional treasury (STS)."""

    nomor_sts: str
    opd_penyetor: str
    kode_rekening_pendapatan: str
    jumlah: int
    keterangan: str
    tanggal_setor: date

    example: ClassVar[dict[str, Any]] = {
        "nomor_sts": "STS/BAPENDA/2026/00991",
        "opd_penyetor": "Dinas Kesehatan",
        "kode_rekening_pendapatan": "4.1.02.01.01",
        "jumlah": 12500000,
        "keterangan": "Setoran retribusi pelayanan kesehatan bulan Oktober",
        "tanggal_setor": "2026-11-03",
    }


class KelahiranTercatat(
    EventData,
    type="id.go.riau.dinkes.kelahiran.tercatat",
    version=1,
    owner="dinkes.sikda",
    key="nomor_kelahiran",
):
    """Kelahiran tercatat: a birth was recorded at a health facility."""

    nomor_kelahiran: str
    nik_ibu: str
    nama_bayi: str
    tanggal_lahir: date
    berat_gram: int
    nama_faskes: str
    kode_wilayah: str

    example: ClassVar[dict[str, Any]] = {
        "nomor_kelahiran": "KL-1471-2026-0042",
        "nik_ibu": "1471024506920001",
        "nama_bayi": "Putri Ayu",
        "tanggal_lahir": "2026-11-01",
        "berat_gram": 3100,
        "nama_faskes": "Puskesmas Rejosari",
        "kode_wilayah": "14.71",
    }


class PatroliSelesai(
    EventData,
    type="id.go.riau.dlhk.patroli.selesai",
    version=1,
    owner="dlhk.simlhk",
    key="nomor_patroli",
):
    """Patroli selesai: a forest patrol finished its route."""

    nomor_patroli: str
    regu: str
    latitude: float
    longitude: float
    jarak_km: float
    kode_wilayah: str
    selesai_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "nomor_patroli": "PTR-2026-0311",
        "regu": "Manggala Agni Daops Siak",
        "latitude": 0.81,
        "longitude": 101.9,
        "jarak_km": 14.5,
        "kode_wilayah": "14.08",
        "selesai_at": "2026-11-02T16:00:00+07:00",
    }


class IndikatorTercapai(
    EventData,
    type="id.go.riau.bappeda.indikator.tercapai",
    version=1,
    owner="bappeda.sipd",
    key="kode_indikator",
):
    """Indikator tercapai: a regional development indicator was measured for a period."""

    kode_indikator: str
    nama_indikator: str
    tahun: int
    nilai: float
    satuan: str
    kode_wilayah: str

    example: ClassVar[dict[str, Any]] = {
        "kode_indikator": "IKU-3.2",
        "nama_indikator": "Angka kemiskinan",
        "tahun": 2026,
        "nilai": 6.84,
        "satuan": "persen",
        "kode_wilayah": "14",
    }


# Rows written after the weights were set (held out from tuning) --------------------------------


class LicenseIssuedDlhk(
    EventData,
    type="id.go.riau.dlhk.license.issued",
    version=1,
    owner="dlhk.simlhk",
    key="license_no",
):
    """License issued: a copy of business licenses, kept for environmental supervision."""

    license_no: str
    business_id: str
    license_type: str
    activity_code: str
    company_name: str
    applicant_name: str
    investment_value: int
    issue_date: date
    area_code: str

    example: ClassVar[dict[str, Any]] = {
        "license_no": "503/DPMPTSP/IU/2026/00123",
        "business_id": "9120301234567",
        "license_type": "izin_usaha",
        "activity_code": "47111",
        "company_name": "CV Sagu Meranti Jaya",
        "applicant_name": "Siti Aminah",
        "investment_value": 750000000,
        "issue_date": "2026-11-02",
        "area_code": "14.71",
    }


class VehicleTaxPaidBpkad(
    EventData,
    type="id.go.riau.bpkad.vehicle_tax.paid",
    version=1,
    owner="bpkad.sipkd",
    key="payment_code",
):
    """Vehicle tax paid: PKB payments received by the treasury."""

    payment_code: str
    plate_number: str
    vehicle_type: str
    principal: int
    penalty: int
    total_amount: int
    region_code: str
    channel: str
    paid_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "payment_code": "1471202611020001",
        "plate_number": "BM 1234 AB",
        "vehicle_type": "roda4",
        "principal": 2150000,
        "penalty": 0,
        "total_amount": 2293000,
        "region_code": "14.71",
        "channel": "bank",
        "paid_at": "2026-11-02T10:21:00+07:00",
    }


class PensiunDibayar(
    EventData,
    type="id.go.riau.bpkad.pensiun.dibayar",
    version=1,
    owner="bpkad.sipkd",
    key="nip",
):
    """Pensiun dibayar: a retired civil servant's monthly pension was paid."""

    nip: str
    nama: str
    golongan: str
    nilai_pensiun: int
    tmt_pensiun: date
    bulan: str

    example: ClassVar[dict[str, Any]] = {
        "nip": "198507142010011003",
        "nama": "Dewi Lestari",
        "golongan": "III/c",
        "nilai_pensiun": 3500000,
        "tmt_pensiun": "2026-01-01",
        "bulan": "2026-11",
    }


class KendaraanMutasi(
    EventData,
    type="id.go.riau.dishub.kendaraan.mutasi",
    version=1,
    owner="dishub.simtrans",
    key="nopol",
):
    """Kendaraan mutasi: a vehicle's registration moved to another regency with its owner."""

    nopol: str
    nik_pemilik: str
    nama_pemilik: str
    kab_kota_asal: str
    kab_kota_tujuan: str
    tanggal_mutasi: date

    example: ClassVar[dict[str, Any]] = {
        "nopol": "BM 1234 AB",
        "nik_pemilik": "1471021205900003",
        "nama_pemilik": "Rahmat Hidayat",
        "kab_kota_asal": "14.71",
        "kab_kota_tujuan": "14.08",
        "tanggal_mutasi": "2026-11-01",
    }


#: A row's truth: a copy the check must report, or a look-alike it must not.
Verdict = Literal["copy", "distinct"]
#: (candidate, the shipped type it copies or resembles, the expected verdict)
TABLE: list[tuple[type[EventData], str, Verdict]] = [
    (WargaPindahDinsos, "id.go.riau.disdukcapil.penduduk.pindah", "copy"),
    (UsahaTerdaftarBapenda, "id.go.riau.dpmptsp.nib.terbit", "copy"),
    (ResidentMovedDinkes, "id.go.riau.disdukcapil.penduduk.pindah", "copy"),
    (PerizinanTercatatDlhk, "id.go.riau.dpmptsp.izin.terbit", "copy"),
    (PegawaiPindahTugasBpkad, "id.go.riau.bkd.asn.mutasi", "copy"),
    (PenerimaanPkbBpkad, "id.go.riau.bapenda.pkb.dibayar", "copy"),
    (TitikApiDlhk, "id.go.riau.bpbd.hotspot.terdeteksi", "copy"),
    (DomisiliBerubahDinsos, "id.go.riau.disdukcapil.penduduk.pindah", "copy"),
    (UsahaBaruBapenda, "id.go.riau.dpmptsp.nib.terbit", "copy"),
    (RetribusiDibayar, "id.go.riau.dpmptsp.izin.terbit", "distinct"),
    (PajakReklameDibayar, "id.go.riau.dpmptsp.nib.terbit", "distinct"),
    (PasienTerdaftar, "id.go.riau.disdukcapil.penduduk.pindah", "distinct"),
    (GuruMutasi, "id.go.riau.disdukcapil.penduduk.pindah", "distinct"),
    (SetoranDiterima, "id.go.riau.bpkad.sp2d.terbit", "distinct"),
    (KelahiranTercatat, "id.go.riau.disdukcapil.penduduk.pindah", "distinct"),
    (PatroliSelesai, "id.go.riau.bpbd.hotspot.terdeteksi", "distinct"),
    (IndikatorTercapai, "id.go.riau.bapenda.pkb.dibayar", "distinct"),
    # Held out: written after the weights were set, and kept whatever they scored.
    (LicenseIssuedDlhk, "id.go.riau.dpmptsp.izin.terbit", "copy"),
    (VehicleTaxPaidBpkad, "id.go.riau.bapenda.pkb.dibayar", "copy"),
    (PensiunDibayar, "id.go.riau.bkd.asn.mutasi", "distinct"),
    (KendaraanMutasi, "id.go.riau.disdukcapil.penduduk.pindah", "distinct"),
]
