"""The reuse advisor: what a proposed system can subscribe to instead of building or collecting.

    advice = advise(read_proposal(path), catalog)
    advice.answers      # per needed item: the event type and field that already carry it
    advice.agreements   # the agreements to request: fields, purpose, legal basis, owner
    advice.new_items    # what is genuinely new
    advice.overlaps     # the proposed events that would copy an existing type

Each needed item is profiled like a field (`bus.governance.profile`) and compared with every
field of every event type (`field_similarity`). The proposal's purpose and the item's own
description are its context: among fields that fit equally well, the one in an event type
about the same thing wins, and so does an event type that serves several needs at once (one
agreement is better than five). Proposed events are checked for overlap like a pull request.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bus.catalog import Catalog
from bus.catalog.meaning import meaning_named
from bus.governance.lexicon import concepts, overlap
from bus.governance.overlap import (
    DEFAULT_THRESHOLD,
    Overlap,
    field_similarity,
    similarity,
)
from bus.governance.profile import EventProfile, FieldProfile, Vocabulary, event_concepts
from bus.governance.proposal import FIELD_TYPES, Item, Proposal

#: Field similarity from which an existing field serves a needed item.
SERVE_FLOOR = 0.6
#: Bonus per other need an event type serves: one agreement beats several.
COHERENCE_BONUS = 0.04


@dataclass(frozen=True)
class Source:
    """An existing event type field that carries a needed item."""

    event_type: str
    owner: str
    field: str
    score: float
    reasons: tuple[str, ...]
    personal: bool

    def to_dict(self) -> dict[str, Any]:
        """The source as `bus catalog propose --json` prints it."""
        return {
            "event_type": self.event_type,
            "owner": self.owner,
            "field": self.field,
            "score": self.score,
            "reasons": list(self.reasons),
            "personal": self.personal,
        }


@dataclass(frozen=True)
class Answer:
    """One needed item and where it already is (or `source=None`: nobody publishes it)."""

    need: Item
    meaning: str
    source: Source | None
    alternatives: tuple[Source, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The answer as `bus catalog propose --json` prints it."""
        return {
            "need": self.need.name,
            "description": self.need.description,
            "semantic_type": self.meaning or None,
            "served_by": self.source.to_dict() if self.source else None,
            "alternatives": [s.to_dict() for s in self.alternatives],
        }


@dataclass(frozen=True)
class AgreementRequest:
    """The data-sharing agreement the proposed system would ask the owner for."""

    system: str
    event_type: str
    topic: str
    owner: str
    owner_opd: str
    owner_contact: str
    fields: tuple[str, ...]
    personal_fields: tuple[str, ...]
    needs: tuple[str, ...]
    purpose: str
    legal_basis: str
    existing: tuple[str, ...]  # "system: purpose" of agreements already in force on this type

    def to_dict(self) -> dict[str, Any]:
        """The request as `bus catalog propose --json` prints it."""
        return {
            "system": self.system,
            "event_type": self.event_type,
            "topic": self.topic,
            "owner": self.owner,
            "owner_opd": self.owner_opd,
            "owner_contact": self.owner_contact,
            "fields": list(self.fields),
            "personal_fields": list(self.personal_fields),
            "needs": list(self.needs),
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "existing_agreements": list(self.existing),
        }


@dataclass(frozen=True)
class Advice:
    """The advisor's whole answer to one proposal."""

    proposal: Proposal
    answers: tuple[Answer, ...]
    agreements: tuple[AgreementRequest, ...]
    overlaps: tuple[Overlap, ...]
    threshold: float

    @property
    def new_items(self) -> tuple[Item, ...]:
        """Needed items no existing event type carries: genuinely new data."""
        return tuple(a.need for a in self.answers if a.source is None)

    @property
    def served(self) -> tuple[Answer, ...]:
        """Answers with an existing source."""
        return tuple(a for a in self.answers if a.source is not None)

    @property
    def summary(self) -> str:
        """One line: how much is served, how much is new, how many overlaps."""
        total = len(self.answers)
        return (
            f"{len(self.served)} of {total} needed items already published "
            f"({len(self.agreements)} agreement(s) to request), {len(self.new_items)} new; "
            f"{len(self.overlaps)} proposed event type(s) would overlap the catalog"
        )

    def to_dict(self) -> dict[str, Any]:
        """The advice as `bus catalog propose --json` prints it."""
        system = self.proposal.system
        return {
            "system": system.model_dump(),
            "summary": self.summary,
            "needs": [a.to_dict() for a in self.answers],
            "agreements": [r.to_dict() for r in self.agreements],
            "new": [{"need": i.name, "description": i.description} for i in self.new_items],
            "overlaps": [
                {
                    "event_type": o.event_type.type,
                    "similar_to": o.similar_to.type,
                    "owner": o.similar_to.owner,
                    "score": o.score,
                    "fields": [
                        {"field": m.field, "existing": m.other, "score": m.score}
                        for m in o.similarity.matches
                    ],
                    "instead": o.instead(),
                }
                for o in self.overlaps
            ],
            "threshold": self.threshold,
        }


def advise(proposal: Proposal, catalog: Catalog, *, threshold: float = DEFAULT_THRESHOLD) -> Advice:
    """Answer a proposal from `catalog`: sources per need, agreements, new data, overlaps."""
    vocabulary = Vocabulary.of(catalog.event_types)
    existing = [vocabulary.profile(et) for et in catalog.event_types]
    context = concepts(proposal.system.purpose)
    answers = _answer_needs(proposal, existing, vocabulary, context)
    agreements = _agreements(proposal, catalog, answers)
    overlaps = []
    for index in range(len(proposal.publishes)):
        profile = proposed_profile(proposal, event_index=index, vocabulary=vocabulary)
        for other in existing:
            measured = similarity(profile, other)
            if measured.score >= threshold:
                overlaps.append(Overlap(profile, other, measured))
    overlaps.sort(key=lambda o: -o.score)
    return Advice(proposal, tuple(answers), tuple(agreements), tuple(overlaps), threshold)


def need_profile(item: Item, vocabulary: Vocabulary, *, key: bool = False) -> FieldProfile:
    """A needed item (or a proposed field) profiled like a declared field."""
    return vocabulary.field_profile(
        item.name,
        type_class=FIELD_TYPES[item.type],
        description=item.description,
        declared=meaning_named(item.semantic_type) if item.semantic_type else None,
        example=item.example,
        key=key,
        personal=item.personal,
    )


def proposed_profile(
    proposal: Proposal, *, event_index: int, vocabulary: Vocabulary
) -> EventProfile:
    """The profile of the proposal's `event_index`-th published event."""
    event = proposal.publishes[event_index]
    fields = [need_profile(i, vocabulary, key=i.name == event.key) for i in event.fields]
    return EventProfile(
        type=event.type,
        owner=proposal.system.id,
        version=event.version,
        description=event.description,
        key=event.key,
        fields=tuple(fields),
        concepts=event_concepts(event.type, event.description),
    )


def _answer_needs(
    proposal: Proposal,
    existing: list[EventProfile],
    vocabulary: Vocabulary,
    context: frozenset[str],
) -> list[Answer]:
    candidates: dict[int, list[Source]] = defaultdict(list)
    profiles = [need_profile(item, vocabulary) for item in proposal.needs]
    for index, (item, need) in enumerate(zip(proposal.needs, profiles, strict=True)):
        about = context | concepts(item.description)
        for event in existing:
            best: tuple[float, FieldProfile, tuple[str, ...]] | None = None
            for f in event.fields:
                score, reasons = field_similarity(need, f)
                if best is None or score > best[0]:
                    best = (score, f, reasons)
            if best is None or best[0] < SERVE_FLOOR:
                continue
            # The same field in an event about the same thing fits better.
            fit = best[0] * (0.85 + 0.15 * min(1.0, 2 * overlap(about, event.concepts)))
            candidates[index].append(
                Source(
                    event.type, event.owner, best[1].name, round(fit, 4), best[2], best[1].personal
                )
            )
    serving: dict[str, int] = defaultdict(int)
    for sources in candidates.values():
        for source in sources:
            serving[source.event_type] += 1
    answers = []
    for index, item in enumerate(proposal.needs):
        ranked = sorted(
            candidates[index],
            key=lambda s: (-(s.score + COHERENCE_BONUS * serving[s.event_type]), s.event_type),
        )
        answers.append(
            Answer(
                need=item,
                meaning=profiles[index].meaning_label,
                source=ranked[0] if ranked else None,
                alternatives=tuple(ranked[1:3]),
            )
        )
    return answers


def _agreements(
    proposal: Proposal, catalog: Catalog, answers: list[Answer]
) -> list[AgreementRequest]:
    by_type: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        if answer.source is not None:
            by_type[answer.source.event_type].append(answer)
    requests = []
    system = proposal.system
    for type_, served in by_type.items():
        et = catalog.event_type(type_)
        owner = catalog.system(et.owner)
        fields = tuple(dict.fromkeys(a.source.field for a in served if a.source))
        requests.append(
            AgreementRequest(
                system=system.id,
                event_type=type_,
                topic=et.topic,
                owner=et.owner,
                owner_opd=owner.opd,
                owner_contact=owner.contact,
                fields=fields,
                personal_fields=tuple(f for f in fields if f in et.personal_fields),
                needs=tuple(a.need.name for a in served),
                purpose=system.purpose,
                legal_basis=system.legal_basis or "(to be stated by the proposing OPD)",
                existing=tuple(
                    f"{s.system}: {s.purpose.rstrip('.')}" for s in catalog.subscribers_of(type_)
                ),
            )
        )
    requests.sort(key=lambda r: (-len(r.needs), r.event_type))
    return requests


__all__ = [
    "Advice",
    "AgreementRequest",
    "Answer",
    "Source",
    "advise",
    "need_profile",
    "proposed_profile",
]
