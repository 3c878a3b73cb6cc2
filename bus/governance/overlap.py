"""Overlap ("tumpang tindih"): an event type that repeats data another OPD already publishes.

    measured = similarity(proposed_profile, existing_profile)
    measured.score          # 0.91
    measured.matches        # field by field: alamat_baru ~ alamat_tujuan, both an Alamat, ...

Data is shared, not copied: an agency that needs residents' moves subscribes to Disdukcapil's
`penduduk.pindah` rather than publishing its own. Two event types overlap when they describe
the same thing about the same entity, whatever their fields are called. The check compares
their *meaning* (see `bus.governance.profile`), in three steps:

1. **Fields, pair by pair** (`field_similarity`, 0 to 1). Different JSON types, or different
   semantic types (a NIK is not a payment code, however alike the digits), never match. The
   same identifier type (NIK, NIB) matches outright. The same generic type (a person's name, an
   address, an amount in Rupiah) matches by half, the rest from what the names and
   descriptions say (`jumlah_bayar` and `nilai_investasi` are both Rupiah, but not the same
   amount). Without a known semantic type, the concepts of the names and descriptions decide,
   and the same example shape adds a little.
2. **Alignment**: each field of one type is paired with at most one of the other, best pairs
   first; pairs under `MATCH_FLOOR` are not matches.
3. **Score** = 0.85 × coverage × identity + 0.15 × description, where *coverage* is the
   weighted share of the smaller side's data found in the other (identifiers weigh 2,
   `kode_wilayah` and `*_at` timestamps ½), *identity* is 1 when both are keyed by the same
   thing (two types keyed by a NIK describe residents), 0.9 when one's key is an identifier the
   other carries, 0.7 otherwise, and *description* is the concept overlap of the type names and
   docstrings. Fewer than `MIN_MATCHES` matched fields scale the score down: sharing a NIK and
   a name is a reference to a resident, not a copy.

A subscription duplicates another when the same system already has that event type, or
subscribes to an overlapping type for the same purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from bus.catalog import EventType, Subscription
from bus.governance.lexicon import concepts, overlap
from bus.governance.profile import EventProfile, FieldProfile, Vocabulary, distinctive

#: Default score from which an event type is reported as overlapping another.
DEFAULT_THRESHOLD = 0.6
#: Word overlap from which two agreements' purposes count as the same purpose.
PURPOSE_THRESHOLD = 0.5
#: Field similarity from which two fields count as the same data.
MATCH_FLOOR = 0.5
#: Matched fields below which the score is scaled down (a shared reference is not a copy).
MIN_MATCHES = 3


@dataclass(frozen=True)
class FieldMatch:
    """Two fields that carry the same data, and why the check thinks so."""

    field: str
    other: str
    score: float
    reasons: tuple[str, ...]

    def describe(self) -> str:
        """`alamat_baru ~ alamat_tujuan (0.78: both Alamat; names agree on alamat, tujuan)`."""
        pair = self.field if self.field == self.other else f"{self.field} ~ {self.other}"
        return f"{pair} ({self.score:.2f}: {'; '.join(self.reasons)})"


@dataclass(frozen=True)
class Similarity:
    """How much two event types' data repeat each other, field by field."""

    score: float
    matches: tuple[FieldMatch, ...] = ()
    unmatched: tuple[str, ...] = ()  # fields of the first type with no counterpart
    coverage: float = 0.0
    identity: float = 0.0
    description: float = 0.0
    signals: tuple[str, ...] = ()

    @property
    def shared(self) -> tuple[tuple[str, str], ...]:
        """(field of the first, field of the second) of every matched pair."""
        return tuple((m.field, m.other) for m in self.matches)


@dataclass(frozen=True)
class Overlap:
    """An event type whose data largely repeats another owner's."""

    event_type: EventProfile
    similar_to: EventProfile
    similarity: Similarity

    @property
    def score(self) -> float:
        """The overlap score, 0 to 1."""
        return self.similarity.score

    @property
    def pair(self) -> tuple[str, str]:
        """(this type, the similar type): how a waiver in the lock file names the overlap."""
        return (self.event_type.type, self.similar_to.type)

    def reversed(self) -> Overlap:
        """The same overlap seen from the other type."""
        return Overlap(
            self.similar_to, self.event_type, similarity(self.similar_to, self.event_type)
        )

    def instead(self) -> str:
        """What to subscribe to instead: the similar type, its owner and the fields to request."""
        fields = ", ".join(m.other for m in self.similarity.matches)
        return (
            f"subscribe to {self.similar_to.type} v{self.similar_to.version} (owner "
            f"{self.similar_to.owner}) and request an agreement for: {fields}"
        )

    def describe(self) -> str:
        """The report's paragraph: score, signals, each matched field with its reasons, advice."""
        s = self.similarity
        lines = [
            f"largely repeats {self.similar_to.type} v{self.similar_to.version} owned by "
            f"{self.similar_to.owner} (overlap {self.score:.2f}: coverage {s.coverage:.2f}, "
            f"identity {s.identity:.2f}, description {s.description:.2f})",
            *s.signals,
            *(f"  {m.describe()}" for m in s.matches),
        ]
        if s.unmatched:
            lines.append(f"  not in {self.similar_to.type}: {', '.join(s.unmatched)}")
        lines.append(self.instead() + " instead of publishing a copy")
        return "\n".join(lines)


@dataclass(frozen=True)
class DuplicateSubscription:
    """An agreement that repeats another agreement of the same system."""

    subscription: Subscription
    existing: Subscription
    reason: str


def field_similarity(a: FieldProfile, b: FieldProfile) -> tuple[float, tuple[str, ...]]:
    """How surely two fields carry the same data (0 to 1), with the reasons."""
    compatible = _type_compatibility(a.type_class, b.type_class)
    if compatible == 0.0:
        return 0.0, (f"types differ ({a.type_class} vs {b.type_class})",)
    reasons: list[str] = []
    words = max(
        overlap(a.name_concepts, b.name_concepts),
        0.8 * overlap(a.name_concepts | a.text_concepts, b.name_concepts | b.text_concepts),
    )
    agreeing = sorted(a.name_concepts & b.name_concepts)
    if a.declared is not None and b.declared is not None and a.declared != b.declared:
        return 0.0, (f"different semantic types ({a.declared.name} vs {b.declared.name})",)
    same = a.meanings & b.meanings
    if a.meanings and b.meanings and not same:
        return 0.0, (f"different semantic types ({a.meaning_label} vs {b.meaning_label})",)
    if same:
        sure = 1.0 if a.inferred_from == b.inferred_from == "declared" else 0.9
        inferred = next((f.inference for f in (a, b) if f.inference), "")
        reasons.append(f"both {'/'.join(sorted(same))}" + (f" ({inferred})" if inferred else ""))
        if a.identifier or b.identifier:
            score = sure * (0.9 + 0.1 * words)
        else:
            score = sure * (0.55 + 0.45 * words)
    elif a.shape is not None and a.shape == b.shape:
        # A layout of digits and letters (`A-d8-d4-d4`) says more than "some text" or "a date".
        score = 0.5 + 0.5 * words if distinctive(a.shape) else 0.2 + 0.8 * words
        reasons.append(f"same value shape ({a.shape})")
    else:
        score = 0.8 * words
    if agreeing:
        reasons.append(f"names agree on {', '.join(agreeing)}")
    elif words > 0:
        reasons.append("descriptions agree")
    if compatible < 1.0:
        reasons.append(f"{a.type_class} vs {b.type_class}")
    return round(score * compatible, 4), tuple(reasons)


def align(a: Sequence[FieldProfile], b: Sequence[FieldProfile]) -> list[FieldMatch]:
    """Pair each field of `a` with at most one of `b`, best pairs first (deterministic)."""
    scored = []
    for fa in a:
        for fb in b:
            score, reasons = field_similarity(fa, fb)
            if score >= MATCH_FLOOR:
                scored.append((score, fa.name, fb.name, reasons))
    scored.sort(key=lambda item: (-item[0], item[1], item[2]))
    used_a: set[str] = set()
    used_b: set[str] = set()
    matches = []
    for score, name_a, name_b, reasons in scored:
        if name_a in used_a or name_b in used_b:
            continue
        used_a.add(name_a)
        used_b.add(name_b)
        matches.append(FieldMatch(name_a, name_b, score, reasons))
    order = {f.name: i for i, f in enumerate(a)}
    return sorted(matches, key=lambda m: order[m.field])


def similarity(a: EventProfile, b: EventProfile) -> Similarity:
    """How much `a` repeats `b` (and `b` repeats `a`): see the module docstring."""
    if not a.fields or not b.fields:
        return Similarity(0.0)
    matches = align(a.fields, b.fields)
    weight_a = {f.name: f.weight for f in a.fields}
    weight_b = {f.name: f.weight for f in b.fields}
    covered_a = sum(weight_a[m.field] * m.score for m in matches) / sum(weight_a.values())
    covered_b = sum(weight_b[m.other] * m.score for m in matches) / sum(weight_b.values())
    coverage = max(covered_a, covered_b)
    identity, signals = _identity(a, b, matches)
    description = overlap(a.concepts, b.concepts)
    if description:
        signals.append(f"descriptions agree on: {', '.join(sorted(a.concepts & b.concepts))}")
    score = 0.85 * coverage * identity + 0.15 * description
    if len(matches) < MIN_MATCHES:
        score *= len(matches) / MIN_MATCHES
    matched = {m.field for m in matches}
    return Similarity(
        score=round(score, 4),
        matches=tuple(matches),
        unmatched=tuple(f.name for f in a.fields if f.name not in matched),
        coverage=round(coverage, 4),
        identity=identity,
        description=round(description, 4),
        signals=tuple(signals),
    )


def _identity(
    a: EventProfile, b: EventProfile, matches: Sequence[FieldMatch]
) -> tuple[float, list[str]]:
    key_a, key_b = a.key_field, b.key_field
    pairs = {(m.field, m.other): m for m in matches}
    if key_a is not None and key_b is not None and (key_a.name, key_b.name) in pairs:
        about = a.entity or b.entity
        what = f": both describe one {about} per key" if about else ""
        return 1.0, [f"both keyed by the same thing ({key_a.name} ~ {key_b.name}){what}"]
    identifiers_a = {f.name for f in a.fields if f.identifier}
    identifiers_b = {f.name for f in b.fields if f.identifier}
    for fa, fb in pairs:
        if (key_a is not None and fa == key_a.name and fb in identifiers_b) or (
            key_b is not None and fb == key_b.name and fa in identifiers_a
        ):
            return 0.9, [f"one is keyed by an identifier the other carries ({fa} ~ {fb})"]
    names = [
        f"{k.name}" + (f" ({p.entity})" if p.entity else "")
        for k, p in ((key_a, a), (key_b, b))
        if k is not None
    ]
    return 0.7, [f"keyed by different things: {' vs '.join(names)}"]


def _type_compatibility(a: str, b: str) -> float:
    if a == b or "any" in (a, b):
        return 1.0
    if {a, b} == {"date", "datetime"}:
        return 0.8
    if a.startswith("array:") or b.startswith("array:"):
        return 0.8 * _type_compatibility(a.removeprefix("array:"), b.removeprefix("array:"))
    return 0.0


def profiles(
    event_types: Sequence[EventType], vocabulary: Vocabulary | None = None
) -> list[EventProfile]:
    """The profiles of `event_types`, with what the catalog teaches about semantic types."""
    vocabulary = vocabulary or Vocabulary.of(event_types)
    return [vocabulary.profile(et) for et in event_types]


def find_overlaps(
    event_types: Sequence[EventType], *, threshold: float = DEFAULT_THRESHOLD
) -> list[Overlap]:
    """Pairs of event types of different owners whose overlap score reaches `threshold`.

    Each pair is reported once, oriented `(later, earlier)` in declaration order; the caller
    decides which side is the proposal (the one not yet in the lock file).
    """
    found = []
    for earlier, later in combinations(profiles(event_types), 2):
        if earlier.owner == later.owner:
            continue  # one owner's types may share fields: it is not copying anyone's data
        measured = similarity(later, earlier)
        if measured.score >= threshold:
            found.append(Overlap(later, earlier, measured))
    return found


def purpose_similarity(a: str, b: str) -> float:
    """Concept overlap of two purposes, in Indonesian or English (filler words left out)."""
    return overlap(concepts(a), concepts(b))


def find_duplicate_subscriptions(
    subscriptions: Sequence[Subscription],
    event_types: Iterable[EventType],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    purpose_threshold: float = PURPOSE_THRESHOLD,
) -> list[DuplicateSubscription]:
    """Agreements repeating an earlier one of the same system (same type, or overlap + purpose)."""
    by_type = {p.type: p for p in profiles(list(event_types))}
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
                        f"{existing.event_type} (overlap {measured.score:.2f}) for the same "
                        f"purpose (purpose overlap {same_purpose:.2f})",
                    )
                )
    return found


__all__ = [
    "DEFAULT_THRESHOLD",
    "DuplicateSubscription",
    "FieldMatch",
    "Overlap",
    "Similarity",
    "align",
    "field_similarity",
    "find_duplicate_subscriptions",
    "find_overlaps",
    "profiles",
    "purpose_similarity",
    "similarity",
]
