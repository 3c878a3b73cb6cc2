"""A delivery report counts subscribing systems, not their consumer groups."""

from __future__ import annotations

from bus.tracking import DeliveryReport, DeliveryState, GroupDelivery, PublishedEvent

EVENT = PublishedEvent(
    event_id="e-1",
    event_type="id.go.riau.dpmptsp.izin.terbit",
    source_system="dpmptsp.sicantik",
    topic="dpmptsp.izin.terbit.v1",
    partition=0,
    offset=7,
)


def group(system: str, name: str, state: DeliveryState) -> GroupDelivery:
    return GroupDelivery(system=system, group=name, state=state, committed=None)


def test_a_system_with_two_groups_counts_once() -> None:
    report = DeliveryReport(
        EVENT,
        (
            group("bapenda.sipd", "bapenda.sipd", DeliveryState.DELIVERED),
            group("bapenda.sipd", "bapenda.sipd.demo", DeliveryState.DELIVERED),
            group("dlhk.simlhk", "dlhk.simlhk", DeliveryState.DELIVERED),
            group("diskominfotik.satudata", "diskominfotik.satudata", DeliveryState.DELIVERED),
        ),
    )
    document = report.to_dict()
    assert (document["subscribers"], document["groups"], document["delivered"]) == (3, 4, 3)
    assert document["summary"] == "3 of 3 delivered"


def test_a_system_is_only_delivered_when_every_group_has_the_event() -> None:
    report = DeliveryReport(
        EVENT,
        (
            group("bapenda.sipd", "bapenda.sipd", DeliveryState.DELIVERED),
            group("bapenda.sipd", "bapenda.sipd.demo", DeliveryState.PENDING),
            group("dlhk.simlhk", "dlhk.simlhk", DeliveryState.DEAD_LETTERED),
            group("dlhk.simlhk", "dlhk.simlhk.demo", DeliveryState.PENDING),
            group("diskominfotik.satudata", "diskominfotik.satudata", DeliveryState.DELIVERED),
        ),
    )
    assert report.systems == {
        "bapenda.sipd": DeliveryState.PENDING,
        "dlhk.simlhk": DeliveryState.DEAD_LETTERED,
        "diskominfotik.satudata": DeliveryState.DELIVERED,
    }
    assert report.summary == "1 of 3 delivered, 1 dead-lettered, 1 pending"
    assert report.to_dict()["subscribers"] == 3
