"""Consumer groups: every group gets every event; members of one group share its partitions."""

from __future__ import annotations

from collections import Counter

import pytest
from aiokafka import TopicPartition

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.subscribe import Subscriber
from bus.testing import wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit

pytestmark = pytest.mark.integration

EVENTS = 90


class Member:
    """One subscriber of a group, remembering the event ids and partitions it handled."""

    def __init__(
        self, system: str, group: str, catalog: Catalog, settings: BusSettings, unique: str
    ) -> None:
        self.subscriber = Subscriber(system, group=group, catalog=catalog, settings=settings)
        self.ids: list[str] = []
        self.partitions: set[int] = set()

        @self.subscriber.handler(IzinTerbit)
        async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
            if unique in izin.nomor_izin:
                self.ids.append(envelope.id)
                assert envelope.partition is not None
                self.partitions.add(envelope.partition)

    def assignment(self) -> set[TopicPartition]:
        """Partitions the group currently assigns to this member."""
        return set(self.subscriber.assignment)


async def test_two_groups_each_receive_every_event_and_members_split_partitions(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    topic = IzinTerbit.event_type().topic
    everything = {TopicPartition(topic, p) for p in range(3)}
    tax = Member("bapenda.sipd", f"tax-{unique}", catalog, bus_settings, unique)
    first = Member("dlhk.simlhk", f"env-{unique}", catalog, bus_settings, unique)
    second = Member("dlhk.simlhk", f"env-{unique}", catalog, bus_settings, unique)

    async with running(tax.subscriber), running(first.subscriber), running(second.subscriber):
        # The second member's join makes the group rebalance; publish only once it has settled,
        # so no event is redelivered by a rebalance mid-stream. Settled means the two
        # assignments split the topic: mid-rebalance the first member may still hold every
        # partition while the second already has its share.
        await wait_until(
            lambda: (
                bool(first.assignment())
                and bool(second.assignment())
                and not first.assignment() & second.assignment()
                and first.assignment() | second.assignment() == everything
            ),
            timeout=30,
            message="both members of the group assigned",
        )
        split = (first.assignment(), second.assignment())
        events = [
            IzinTerbit.model_validate(
                {**IzinTerbit.example, "nomor_izin": f"503/GRP/{unique}/{n:03d}"}
            )
            for n in range(EVENTS)
        ]
        deliveries = await dpmptsp.publish_batch(events)
        sent = {d.event_id for d in deliveries}
        await wait_until(
            lambda: len(tax.ids) >= EVENTS and len(first.ids) + len(second.ids) >= EVENTS,
            timeout=30,
            message="both groups received every event",
        )
        assert (first.assignment(), second.assignment()) == split, "the group rebalanced"

    # The single-member group saw every event exactly once.
    assert Counter(tax.ids) == Counter(sent)
    # The two members' assignments are non-empty, disjoint and together cover the topic ...
    assert split[0] and split[1]
    assert not split[0] & split[1]
    assert split[0] | split[1] == everything
    # ... and between them they handled every event exactly once, each from its own partitions.
    assert Counter(first.ids + second.ids) == Counter(sent)
    assert first.partitions == {tp.partition for tp in split[0]}
    assert second.partitions == {tp.partition for tp in split[1]}
