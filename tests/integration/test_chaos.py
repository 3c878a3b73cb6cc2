"""The fault matrix at CI size: every target killed once mid-stream, nothing lost or doubled.

`make chaos` runs the full size (5,000 events per run, three seeds); see docs/reliability.md.
"""

from __future__ import annotations

import pytest

from bench.chaos import TARGETS, matrix
from bus.config import BusSettings

pytestmark = pytest.mark.integration


async def test_every_target_killed_mid_stream_loses_and_doubles_nothing(
    bus_settings: BusSettings,
) -> None:
    events = 600
    results = await matrix(TARGETS, seeds=[1], events=events, settings=bus_settings)

    assert [(r.target, r.kills, r.lost, r.doubled) for r in results] == [
        (target, 1, 0, 0) for target in TARGETS
    ]
    # Each kill landed while events were still flowing, not after the last one.
    assert all(0 < r.killed_at < events for r in results), [r.killed_at for r in results]
    # The sink killed mid-stream was sent again what it had applied but not committed.
    (sink,) = [r for r in results if r.target == "sink"]
    assert sink.redelivered > 0
