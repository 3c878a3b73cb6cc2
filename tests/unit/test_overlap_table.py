"""Overlap by meaning, measured on a table of renamed copies, which must be caught, and distinct
look-alikes (`tests/overlap_table.py`). docs/governance.md states the precision and recall
measured here.
"""

from __future__ import annotations

import pytest

import schemas
from bus.catalog import EventData, EventType
from bus.governance.overlap import DEFAULT_THRESHOLD, Overlap, find_overlaps
from tests.overlap_table import TABLE, Verdict, WargaPindahDinsos


def overlaps_with_shipped(candidate: type[EventData]) -> list[Overlap]:
    """Overlaps the check reports for `candidate` proposed next to the shipped catalog."""
    proposed = candidate.event_type()
    event_types: list[EventType] = [*schemas.catalog.event_types, proposed]
    return [
        o
        for o in find_overlaps(event_types, threshold=DEFAULT_THRESHOLD)
        if proposed.type in o.pair
    ]


def flagged_against(candidate: type[EventData]) -> set[str]:
    """The shipped types `candidate` is reported to overlap."""
    proposed = candidate.event_type().type
    return {t for o in overlaps_with_shipped(candidate) for t in o.pair if t != proposed}


@pytest.mark.parametrize(
    ("candidate", "original", "verdict"), TABLE, ids=[row[0].__name__ for row in TABLE]
)
def test_each_row_gets_its_verdict(
    candidate: type[EventData], original: str, verdict: Verdict
) -> None:
    flagged = flagged_against(candidate)
    if verdict == "copy":
        assert flagged == {original}
    else:
        assert flagged == set()


def test_precision_and_recall_on_the_table_are_the_documented_ones() -> None:
    """docs/governance.md states these numbers; change both together."""
    true_positive = false_positive = false_negative = 0
    for candidate, original, verdict in TABLE:
        flagged = flagged_against(candidate)
        if verdict == "copy":
            true_positive += original in flagged
            false_negative += original not in flagged
            false_positive += len(flagged - {original})
        else:
            false_positive += len(flagged)
    assert (true_positive, false_positive, false_negative) == (11, 0, 0)
    precision = true_positive / (true_positive + false_positive)
    recall = true_positive / (true_positive + false_negative)
    assert (precision, recall) == (1.0, 1.0)


def test_the_issue_example_names_its_fields_and_what_to_subscribe_to() -> None:
    [overlap] = overlaps_with_shipped(WargaPindahDinsos)
    if overlap.event_type.type != WargaPindahDinsos.event_type().type:
        overlap = overlap.reversed()
    assert overlap.similar_to.owner == "disdukcapil.siak"
    assert dict(overlap.similarity.shared) == {
        "nik": "nik",
        "nama": "nama_lengkap",
        "alamat_baru": "alamat_tujuan",
        "kab_kota_tujuan": "kode_wilayah_tujuan",
        "tgl_pindah": "tanggal_pindah",
    }
    text = overlap.describe()
    assert "kab_kota_tujuan ~ kode_wilayah_tujuan" in text
    assert "both KodeWilayah" in text
    assert "both keyed by the same thing (nik ~ nik)" in text
    assert "subscribe to id.go.riau.disdukcapil.penduduk.pindah v1 (owner disdukcapil.siak)" in (
        text
    )


def test_the_shipped_catalog_raises_no_false_alarm() -> None:
    assert find_overlaps(schemas.catalog.event_types, threshold=DEFAULT_THRESHOLD) == []
