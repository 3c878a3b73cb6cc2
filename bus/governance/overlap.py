"""Overlap ("tumpang tindih"): a new event type that copies data another OPD already publishes.

    >>> similarity(IzinTerbitCopy.event_type(), IzinTerbit.event_type()).score
    0.83

Data should be shared, not copied: an agency that wants license data subscribes to DPMPTSP's
`izin.terbit` rather than publishing its own. The similarity of two event types is a weighted
Jaccard index over their top-level fields, each field reduced to a normalised name (Indonesian
and English synonyms folded together: `nama_lengkap`, `name` → `nama`; `no_ktp` → `nik`) and a
type class (`string`, `number`, `date`, `datetime`, ...). Two fields match when both agree.
Fields every event has (`kode_wilayah`, timestamps ending in `_at`) are ignored; identifier
fields (a `pattern`, or the key) weigh 2, the others 1:

    score = sum of weights of matching fields / sum of weights of all distinct fields

A subscription duplicates another when the same system already has that event type, or
subscribes to an overlapping type for the same purpose.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from bus.catalog import EventType, Subscription

#: Default similarity from which an event type is reported as overlapping another.
DEFAULT_THRESHOLD = 0.6
#: Word overlap from which two agreements' purposes count as the same purpose.
PURPOSE_THRESHOLD = 0.5

#: Word-level synonyms: each English or abbreviated word and its canonical Indonesian form.
WORD_SYNONYMS: dict[str, str] = {
    "name": "nama",
    "full": "lengkap",
    "tgl": "tanggal",
    "tggl": "tanggal",
    "date": "tanggal",
    "no": "nomor",
    "nr": "nomor",
    "num": "nomor",
    "number": "nomor",
    "address": "alamat",
    "addr": "alamat",
    "daerah": "wilayah",
    "region": "wilayah",
    "area": "wilayah",
    "code": "kode",
    "kd": "kode",
    "license": "izin",
    "permit": "izin",
    "business": "usaha",
    "company": "usaha",
    "value": "nilai",
    "amount": "nilai",
    "type": "jenis",
    "kind": "jenis",
    "phone": "telepon",
    "telp": "telepon",
    "email": "surel",
}
#: Whole-name synonyms, applied before and after the word synonyms.
NAME_SYNONYMS: dict[str, str] = {
    "full_name": "nama",
    "nama_lengkap": "nama",
    "lengkap_nama": "nama",
    "nomor_ktp": "nik",
    "ktp": "nik",
    "nik_ktp": "nik",
    "nomor_induk_kependudukan": "nik",
    "nomor_nik": "nik",
    "nomor_nib": "nib",
    "nomor_induk_berusaha": "nib",
    "nomor_nip": "nip",
    "alamat_lengkap": "alamat",
    "kode_wilayah": "kode_wilayah",
}
#: Fields nearly every event carries; sharing them says nothing about copied data.
UBIQUITOUS = frozenset({"kode_wilayah", "timestamp", "waktu"})


def normalise_name(name: str) -> str:
    """A field name in canonical form: lower case, synonyms folded, e.g. `No_KTP` → `nik`."""
    raw = "_".join(filter(None, re.split(r"[^a-z0-9]+", name.lower())))
    raw = NAME_SYNONYMS.get(raw, raw)
    words = "_".join(WORD_SYNONYMS.get(word, word) for word in raw.split("_"))
    return NAME_SYNONYMS.get(words, words)


def is_ubiquitous(canonical: str) -> bool:
    """True for fields ignored by the score: `kode_wilayah` and `*_at` timestamps."""
    return canonical in UBIQUITOUS or canonical.endswith("_at")


@dataclass(frozen=True)
class FieldFeature:
    """What the score compares of one field."""

    name: str
    canonical: str
    type_class: str
    weight: float


@dataclass(frozen=True)
class Similarity:
    """How much two event types' data repeat each other."""

    score: float
    shared: tuple[tuple[str, str], ...]  # (field of the first, field of the second)


@dataclass(frozen=True)
class Overlap:
    """A proposed or existing event type whose data largely repeats another owner's."""

    event_type: EventType
    similar_to: EventType
    similarity: Similarity

    @property
    def score(self) -> float:
        """The similarity score, 0 to 1."""
        return self.similarity.score

    def describe(self) -> str:
        """One sentence for the report."""
        shared = ", ".join(a if a == b else f"{a}~{b}" for a, b in self.similarity.shared)
        return (
            f"largely repeats {self.similar_to.type} v{self.similar_to.version} owned by "
            f"{self.similar_to.owner} (similarity {self.score:.2f}; shared: {shared}); "
            "subscribe to it instead of publishing a copy"
        )


@dataclass(frozen=True)
class DuplicateSubscription:
    """An agreement that repeats another agreement of the same system."""

    subscription: Subscription
    existing: Subscription
    reason: str


def features(event_type: EventType) -> dict[str, FieldFeature]:
    """The scored fields of an event type, by canonical name (ubiquitous fields left out)."""
    schema = event_type.json_schema()
    defs = schema.get("$defs", {})
    found: dict[str, FieldFeature] = {}
    for name, prop in schema.get("properties", {}).items():
        canonical = normalise_name(name)
        if is_ubiquitous(canonical):
            continue
        resolved = _non_null(_resolve(prop, defs), defs)
        identifier = name == event_type.key or "pattern" in resolved
        found[canonical] = FieldFeature(
            name=name,
            canonical=canonical,
            type_class=type_class(resolved),
            weight=2.0 if identifier else 1.0,
        )
    return found


def type_class(schema: dict[str, Any]) -> str:
    """The coarse type two fields must share to count as the same data."""
    declared = schema.get("type")
    if declared is None and "enum" in schema:
        declared = "string" if all(isinstance(v, str) for v in schema["enum"]) else "any"
    if declared == "string":
        return {"date": "date", "date-time": "datetime"}.get(schema.get("format", ""), "string")
    if declared in ("integer", "number"):
        return "number"
    if isinstance(declared, str):
        return declared
    return "any"


def similarity(a: EventType, b: EventType) -> Similarity:
    """Weighted Jaccard similarity of two event types' fields (see the module docstring)."""
    fa, fb = features(a), features(b)
    names = fa.keys() | fb.keys()
    if not names:
        return Similarity(0.0, ())
    shared = sorted(
        name for name in fa.keys() & fb.keys() if fa[name].type_class == fb[name].type_class
    )
    weight = {
        name: max(f.weight for f in (fa.get(name), fb.get(name)) if f is not None) for name in names
    }
    score = sum(weight[n] for n in shared) / sum(weight.values())
    return Similarity(round(score, 4), tuple((fa[n].name, fb[n].name) for n in shared))


def find_overlaps(
    event_types: Sequence[EventType], *, threshold: float = DEFAULT_THRESHOLD
) -> list[Overlap]:
    """Pairs of event types of different owners whose similarity reaches `threshold`.

    Each pair is reported once, oriented `(later, earlier)` in declaration order; the caller
    decides which side is the proposal (the one not yet in the lock file).
    """
    found = []
    for earlier, later in combinations(event_types, 2):
        if earlier.owner == later.owner:
            continue  # one owner's types may share fields: it is not copying anyone's data
        measured = similarity(later, earlier)
        if measured.score >= threshold:
            found.append(Overlap(later, earlier, measured))
    return found


def purpose_similarity(a: str, b: str) -> float:
    """Jaccard index of the meaningful words of two purposes."""
    wa, wb = _purpose_words(a), _purpose_words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def find_duplicate_subscriptions(
    subscriptions: Sequence[Subscription],
    event_types: Iterable[EventType],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    purpose_threshold: float = PURPOSE_THRESHOLD,
) -> list[DuplicateSubscription]:
    """Agreements repeating an earlier one of the same system (same type, or overlap + purpose)."""
    by_type = {et.type: et for et in event_types}
    found = []
    for index, sub in enumerate(subscriptions):
        for existing in subscriptions[:index]:
            if existing.system != sub.system:
                continue
            if existing.event_type == sub.event_type:
                found.append(
                    DuplicateSubscription(
                        sub,
                        existing,
                        f"{sub.system} already has an agreement for {sub.event_type}",
                    )
                )
                continue
            a, b = by_type.get(sub.event_type), by_type.get(existing.event_type)
            if a is None or b is None:
                continue
            measured = similarity(a, b)
            same_purpose = purpose_similarity(sub.purpose, existing.purpose)
            if measured.score >= threshold and same_purpose >= purpose_threshold:
                found.append(
                    DuplicateSubscription(
                        sub,
                        existing,
                        f"{sub.system} already receives most of this data from "
                        f"{existing.event_type} (similarity {measured.score:.2f}) for the same "
                        f"purpose (purpose overlap {same_purpose:.2f})",
                    )
                )
    return found


_STOP_WORDS = frozenset(
    {"the", "and", "for", "with", "from", "into", "onto", "per", "are"}
    | {"dan", "yang", "untuk", "dari", "dengan", "atau", "pada", "oleh", "dalam"}
)


def _purpose_words(text: str) -> set[str]:
    return {
        w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP_WORDS and len(w) > 2
    }


def _resolve(schema: Any, defs: dict[str, Any]) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema if isinstance(schema, dict) else {}


def _non_null(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional field (`X | None`), or the schema itself."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if not branches:
        return schema
    kept = [_resolve(b, defs) for b in branches if _resolve(b, defs).get("type") != "null"]
    return kept[0] if len(kept) == 1 else schema
