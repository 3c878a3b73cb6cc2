"""What personal data looks like: value shapes (NIK, No. KK, NIP, phone, e-mail) and field names.

One definition serves both the redaction of log lines and error messages (values) and the
catalog gate that refuses unmarked personal fields (names and schema patterns).

A NIK and a No. KK are both 16 digits (area code, date of birth or issue, sequence), so the
shape cannot tell them apart and does not need to: either is redacted. Digits may be grouped
by single spaces, dots or dashes, as people type them ("1471 0212 0590 0003").
"""

from __future__ import annotations

import re

__all__ = [
    "EMAIL_SHAPED",
    "MAY_HOLD_SHAPES",
    "NUMBER_SHAPED",
    "PERSONAL_VALUE",
    "SIXTEEN_DIGITS",
    "looks_personal_name",
    "sixteen_digit_pattern",
]

_NIK_OR_KK_OR_NIP = r"(?<![\w.-])\d(?:[ .-]?\d){15,17}(?![\w-]|\.\d)"
_MOBILE = r"(?<![\w+])(?:\+62|62|0)[ -]?8\d{1,2}(?:[ -]?\d){6,9}(?!\d)"
_LANDLINE = r"(?<![\w+])(?:\+62[ -]?|\(0|0)\d{2,3}\)?[ -]\d{5,8}(?!\d)"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"

#: A value, or a part of a text, shaped like personal data.
PERSONAL_VALUE = re.compile("|".join((_NIK_OR_KK_OR_NIP, _MOBILE, _LANDLINE, _EMAIL)))
#: The same shapes in two parts, for speed: numbers, and e-mail addresses (only tried on a
#: text with an `@`). A text without four digits in a row or an `@` has none of them.
NUMBER_SHAPED = re.compile("|".join((_NIK_OR_KK_OR_NIP, _MOBILE, _LANDLINE)))
EMAIL_SHAPED = re.compile(_EMAIL)
MAY_HOLD_SHAPES = re.compile(r"\d{4}|@")

#: A JSON Schema `pattern` that accepts exactly 16 digits: a NIK or No. KK field.
SIXTEEN_DIGITS = re.compile(r"^\^?(\\d\{16\}|\[0-9\]\{16\})\$?$")

# Field names that are personal data, with their usual prefixes and suffixes: `nik`,
# `nik_pemohon`, `nama_lengkap`, `alamat_tujuan`, `no_hp`, `email_pemohon`, ...
_PERSONAL_NAME = re.compile(
    r"(^|_)("
    r"nik|no_?kk|nomor_kk|nomor_kartu_keluarga|kk|ktp|no_ktp|nomor_induk_kependudukan"
    r"|nama|nama_lengkap|nama_ibu|nama_ibu_kandung|name|full_name"
    r"|alamat|domisili|address"
    r"|tanggal_lahir|tgl_lahir|tempat_lahir|ttl|birth_date|date_of_birth|dob"
    r"|telepon|telp|no_telp|no_hp|nomor_hp|hp|ponsel|handphone|phone|mobile|whatsapp"
    r"|e_?mail|surel"
    r")(_|$)"
)
# ... except names of things that are not people: a business's name or address is the
# business's (`nama_usaha`, `alamat_kantor`), a region's name is public.
_NOT_A_PERSON = re.compile(
    r"(^|_)(usaha|perusahaan|badan|instansi|opd|unit|kantor|kegiatan|program|wilayah|kabupaten"
    r"|kota|provinsi|kecamatan|desa|kelurahan|bank|produk|jalan|sekolah|rs|puskesmas|file|host"
    r"|event|topic|system|schema|type)(_|$)"
)


def looks_personal_name(name: str) -> bool:
    """True when a field named `name` probably holds personal data (e.g. `nik_pemohon`)."""
    lowered = name.lower()
    return bool(_PERSONAL_NAME.search(lowered)) and not _NOT_A_PERSON.search(lowered)


def sixteen_digit_pattern(pattern: str | None) -> bool:
    """True when a JSON Schema `pattern` accepts exactly 16 digits, the shape of a NIK."""
    return bool(pattern) and bool(SIXTEEN_DIGITS.match(pattern or ""))
