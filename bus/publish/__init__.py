"""Publishing: validate → envelope → key → send, pipelined, with a `Delivery` per event."""

from bus.publish.delivery import Delivery
from bus.publish.publisher import Publisher
from bus.publish.record import OutgoingRecord, build_record
from bus.publish.sender import RecordSender

__all__ = ["Delivery", "OutgoingRecord", "Publisher", "RecordSender", "build_record"]
