"""Redaction: personal data replaced by keyed masks in any text or structure, however deep.

    redact({"data": [{"nik": "1471021205900003"}]})     # {"data": [{"nik": "<redacted:…>"}]}
    redact_text(f"NIK {nik} is not registered")          # "NIK <redacted:…> is not registered"

Three things are redacted:

- the value of a key that is personal data: a field the catalog marks `personal()` (every
  `Catalog` registers its fields when it is built) or a name that looks personal (`nik_*`,
  `nama_*`, `alamat_*`, ...), at any depth of dicts, lists and models;
- text shaped like a NIK or No. KK (16 digits), a NIP (18), a phone number or an e-mail
  address, anywhere in any string, exception messages included;
- the personal values of the event being handled (`with personal_values(...)`), wherever they
  appear in a text: a name in an f-string has no shape, but the subscriber knows it.

A mask is an HMAC of the value under the process's mask key (`bus.privacy.keys`): the same
value gives the same mask, so lines can still be joined, but without the key a mask cannot be
reversed by trying the ~10^11 possible NIKs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import date, datetime, time
from enum import Enum
from typing import Any

from bus.privacy.keys import current_keys
from bus.privacy.shapes import (
    EMAIL_SHAPED,
    MAY_HOLD_SHAPES,
    NUMBER_SHAPED,
    PERSONAL_VALUE,
    looks_personal_name,
)

__all__ = [
    "PERSONAL_KEYS",
    "is_personal_key",
    "mask",
    "personal_values",
    "redact",
    "redact_text",
    "register_personal_keys",
]

#: Field names that are personal data wherever they appear; every catalog adds its own.
PERSONAL_KEYS: set[str] = {"nik", "nama", "nama_lengkap", "alamat", "nip", "tanggal_lahir"}

_in_scope: ContextVar[tuple[str, ...]] = ContextVar("bus_personal_values", default=())
_SCALARS = (bool, int, float, type(None), datetime, date, time, Enum)


def mask(value: object) -> str:
    """A keyed, non-reversible token for a personal value: `<redacted:` + 16 hex digits + `>`."""
    digest = hmac.new(current_keys().mask, str(value).encode(), hashlib.sha256).hexdigest()
    return f"<redacted:{digest[:16]}>"


def register_personal_keys(keys: Iterable[str]) -> None:
    """Add field names whose values are masked wherever they appear."""
    PERSONAL_KEYS.update(keys)
    _personal_name.cache_clear()


def is_personal_key(key: object) -> bool:
    """True for a key whose value is personal data (registered, or named like it)."""
    return isinstance(key, str) and _personal_name(key)


@functools.lru_cache(maxsize=4096)
def _personal_name(key: str) -> bool:
    # Cached: a log line's keys are the same few dozen names, line after line.
    return key in PERSONAL_KEYS or looks_personal_name(key)


@contextlib.contextmanager
def personal_values(values: Iterable[object]) -> Iterator[None]:
    """Within the block, `redact_text` also masks these values (e.g. the handled event's)."""
    texts = {str(v) for v in values if v is not None and len(str(v)) >= 3}
    # Longest first, so that a name is masked whole before a part of it could be.
    token = _in_scope.set(tuple(sorted(texts | set(_in_scope.get()), key=len, reverse=True)))
    try:
        yield
    finally:
        _in_scope.reset(token)


def redact_text(text: str) -> str:
    """`text` with personal-looking parts and the values in scope replaced by masks."""
    for value in _in_scope.get():
        if value in text:
            text = text.replace(value, mask(value))
    if MAY_HOLD_SHAPES.search(text) is None:
        return text  # most texts of a log line: no number or address to look at closely
    text = NUMBER_SHAPED.sub(_masked, text)
    return EMAIL_SHAPED.sub(_masked, text) if "@" in text else text


def _masked(match: re.Match[str]) -> str:
    return mask(match.group())


def redact(value: Any) -> Any:
    """`value` with personal data masked: keys by name, texts by shape, at any depth."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: mask(v) if is_personal_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(redact(v) for v in value) if not _is_namedtuple(value) else value
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        return mask(value) if PERSONAL_VALUE.fullmatch(text) else value
    if isinstance(value, (*_SCALARS, bytes)):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a pydantic model: redact its fields like a dict
        return redact(dump(mode="json"))
    text = str(value)
    redacted = redact_text(text)
    return value if redacted == text else redacted


def _is_namedtuple(value: object) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")
