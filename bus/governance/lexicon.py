"""Words to concepts: how names and descriptions in Indonesian and English are compared.

    >>> sorted(concepts("nm_perusahaan"))
    ['nama', 'usaha']
    >>> sorted(concepts("Residents who moved to another regency"))
    ['penduduk', 'pindah', 'wilayah']

A small bilingual lexicon folds the words agencies use for one idea into one concept
(`perusahaan`, `company`, `business`, `usaha` → `usaha`; `kab`, `kota`, `regency`, `daerah` →
`wilayah`). A word not in the lexicon is tried without common Indonesian affixes (`di-`,
`ter-`, `pe-…-an`, `-nya`) and English endings (`-s`, `-ed`, `-ing`); only a stripped form the
lexicon knows is taken, so `terbit` never loses its `ter`. A word nobody listed stays itself:
it still matches the same word elsewhere. Deterministic, and nothing to download.
"""

from __future__ import annotations

import re
from functools import cache

#: Each concept and the words (Indonesian, English, abbreviations) that name it.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "nama": ("nama", "nm", "name", "named"),
    "alamat": ("alamat", "address", "addr", "domisili", "residence", "jalan", "jl"),
    "tanggal": ("tanggal", "tgl", "tggl", "date", "day", "hari"),
    "waktu": ("waktu", "time", "timestamp", "jam", "when"),
    "nomor": ("nomor", "no", "nr", "num", "number", "nomer"),
    "kode": ("kode", "kd", "code"),
    "wilayah": (
        "wilayah",
        "daerah",
        "region",
        "area",
        "kabupaten",
        "kab",
        "kota",
        "kabkota",
        "regency",
        "city",
        "kecamatan",
        "district",
        "kemendagri",
        "regional",
    ),
    "provinsi": ("provinsi", "prov", "province"),
    "penduduk": ("penduduk", "warga", "resident", "citizen", "population", "jiwa", "kependudukan"),
    "pindah": (
        "pindah",
        "perpindahan",
        "move",
        "moved",
        "moving",
        "relocation",
        "relocate",
        "mutasi",
        "transfer",
        "transferred",
        "dipindahkan",
    ),
    "asal": ("asal", "origin", "lama", "old", "previous", "sebelumnya", "semula"),
    "tujuan": ("tujuan", "destination", "baru", "new", "target"),
    "usaha": ("usaha", "berusaha", "business", "company", "perusahaan", "enterprise", "firm"),
    "izin": ("izin", "ijin", "license", "licence", "licensed", "licensing", "permit", "perizinan"),
    "terbit": ("terbit", "issued", "issue", "diterbitkan", "penerbitan", "issuance"),
    "daftar": (
        "daftar",
        "terdaftar",
        "pendaftaran",
        "register",
        "registered",
        "registration",
        "registrasi",
        "enrol",
        "enrolled",
        "catat",
        "tercatat",
        "pencatatan",
        "record",
        "recorded",
    ),
    "bayar": ("bayar", "dibayar", "pembayaran", "paid", "pay", "payment", "setor", "setoran"),
    "nilai": ("nilai", "value", "amount", "nominal", "besaran", "rupiah", "rp"),
    "jumlah": ("jumlah", "total", "count", "sum", "banyaknya", "quantity"),
    "pajak": ("pajak", "tax", "taxpayer", "wajib"),
    "retribusi": ("retribusi", "levy", "fee"),
    "kendaraan": ("kendaraan", "vehicle", "ranmor", "motor"),
    "pegawai": ("pegawai", "asn", "pns", "employee", "servant", "staff", "personnel"),
    "jabatan": ("jabatan", "position"),
    "unit": ("unit", "satker", "opd", "instansi", "agency", "dinas", "badan"),
    "investasi": ("investasi", "investment", "modal", "capital"),
    "skala": ("skala", "scale", "size"),
    "jenis": ("jenis", "type", "kind", "kategori", "category", "klasifikasi", "class"),
    "lahir": ("lahir", "birth", "born", "kelahiran"),
    "mati": ("mati", "kematian", "death", "died", "meninggal", "wafat"),
    "kawin": ("kawin", "perkawinan", "marriage", "married", "nikah"),
    "keluarga": ("keluarga", "family", "household", "kk"),
    "anggota": ("anggota", "member", "members"),
    "pemohon": ("pemohon", "applicant", "pelapor"),
    "pemilik": ("pemilik", "owner"),
    "sk": ("sk", "decree", "keputusan"),
    "rekening": ("rekening", "account"),
    "anggaran": ("anggaran", "budget", "belanja", "spending", "apbd"),
    "dana": ("dana", "fund", "funds", "pencairan", "disbursement"),
    "berlaku": ("berlaku", "valid", "validity", "expiry", "expires", "kedaluwarsa"),
    "kanal": ("kanal", "channel", "loket", "counter"),
    "denda": ("denda", "fine", "penalty", "sanksi"),
    "keterangan": ("keterangan", "uraian", "description", "deskripsi", "catatan", "note"),
    "penerima": ("penerima", "recipient", "beneficiary", "receiver", "kpm"),
    "bantuan": ("bantuan", "bansos", "aid", "assistance", "subsidy", "subsidi"),
    "sosial": ("sosial", "social", "welfare", "kesejahteraan"),
    "miskin": ("miskin", "kemiskinan", "poor", "poverty", "dtks", "desil"),
    "kesehatan": ("kesehatan", "health", "puskesmas", "medis", "medical"),
    "pendidikan": ("pendidikan", "education", "sekolah", "school"),
    "api": ("api", "fire", "kebakaran", "hotspot", "karhutla"),
    "lahan": ("lahan", "land", "hutan", "forest", "gambut", "peat", "peatland"),
    "koordinat": ("koordinat", "coordinate", "coordinates", "lokasi", "location", "titik"),
    "lintang": ("lintang", "latitude", "lat"),
    "bujur": ("bujur", "longitude", "lon", "lng"),
    "satelit": ("satelit", "satellite", "sensor"),
    "deteksi": (
        "deteksi",
        "terdeteksi",
        "detected",
        "detect",
        "detection",
        "pantau",
        "terpantau",
        "monitor",
        "monitored",
        "pemantauan",
    ),
    "yakin": ("kepercayaan", "confidence", "keyakinan", "yakin"),
    "status": ("status", "state", "keadaan"),
    "telepon": ("telepon", "telp", "phone", "hp", "ponsel"),
    "surel": ("surel", "email", "mail"),
    "rencana": ("rencana", "perencanaan", "planning", "plan", "rpjmd", "renstra"),
    "indikator": ("indikator", "indicator", "capaian", "achievement", "kinerja"),
    "program": ("program", "kegiatan", "activity", "project", "proyek"),
    "infrastruktur": ("infrastruktur", "infrastructure", "road", "jembatan"),
    "pendapatan": ("pendapatan", "revenue", "income", "penerimaan"),
    "realisasi": ("realisasi", "realisation", "realization", "actual"),
    "statistik": ("statistik", "statistics", "statistic", "aggregate", "agregat"),
}
#: Multi-word names of one thing, folded before single words (after affix-free tokenising).
PHRASES: dict[str, str] = {
    "nomor induk kependudukan": "nik",
    "no ktp": "nik",
    "nomor ktp": "nik",
    "nik ktp": "nik",
    "nomor induk berusaha": "nib",
    "nomor induk pegawai": "nip",
    "nomor polisi": "nopol",
    "plat nomor": "nopol",
    "plate number": "nopol",
    "tanda nomor kendaraan bermotor": "nopol",
    "tnkb": "nopol",
    "terhitung mulai tanggal": "tmt",
    "kartu keluarga": "kk",
    "civil servant": "pegawai",
    "rumah tangga": "keluarga",
    "full name": "nama",
}
#: Words that carry no meaning for comparison: fillers, and words every description has.
STOP_WORDS = frozenset(
    {
        "a", "an", "the", "and", "or", "of", "for", "with", "from", "into", "onto", "to",
        "in", "on", "at", "by", "is", "was", "are", "be", "its", "it", "as", "per", "if",
        "any", "this", "that", "which", "who", "each", "one", "two", "other", "another",
        "between", "through", "via", "eg",
        "dan", "yang", "untuk", "dari", "dengan", "atau", "pada", "oleh", "dalam", "ke",
        "di", "se", "ini", "itu", "lengkap", "full", "data", "personal", "pribadi",
        "sampai", "until", "when", "where", "has", "have", "had", "been", "not", "none",
        "riau",
    }
)  # fmt: skip
_PREFIXES: tuple[str, ...] = ("memper", "diper", "meng", "meny", "peng", "peny", "mem", "men")
_PREFIXES += ("pem", "pen", "ber", "ter", "per", "me", "pe", "di", "ke", "se")
_SUFFIXES = ("nya", "kan", "an", "i", "s", "es", "ed", "d", "ing", "ion", "ly")

_LOOKUP: dict[str, str] = {word: concept for concept, words in CONCEPTS.items() for word in words}


@cache
def concept_of(word: str) -> str:
    """The concept a single lower-case word names, or the word itself when none is known."""
    if word in _LOOKUP:
        return _LOOKUP[word]
    for stem in _stems(word):
        if stem in _LOOKUP:
            return _LOOKUP[stem]
    return word


def words(text: str) -> list[str]:
    """Lower-case words of a field name or a sentence (`nm_Perusahaan` → `nm`, `perusahaan`)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    found = re.findall(r"[a-z0-9]+", spaced.lower())
    joined = " ".join(found)
    for phrase, replacement in PHRASES.items():
        joined = re.sub(rf"\b{phrase}\b", replacement, joined)
    return joined.split()


def concepts(text: str) -> frozenset[str]:
    """The concepts a name or a sentence speaks of, filler words left out."""
    return frozenset(concept_of(w) for w in words(text) if w not in STOP_WORDS and len(w) > 1)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard index of two concept sets (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _stems(word: str) -> list[str]:
    """Candidate stems: suffixes, then prefixes, then both removed (shortest stem 3 letters)."""
    without_suffix = [word[: -len(s)] for s in _SUFFIXES if word.endswith(s)]
    if word.endswith("ies"):
        without_suffix.insert(0, word[:-3] + "y")
    without_suffix = [w for w in without_suffix if len(w) >= 3]
    candidates = list(without_suffix)
    for base in [word, *without_suffix]:
        for prefix in _PREFIXES:
            if base.startswith(prefix) and len(base) - len(prefix) >= 3:
                candidates.append(base[len(prefix) :])
    return candidates


__all__ = ["CONCEPTS", "STOP_WORDS", "concept_of", "concepts", "overlap", "words"]
