"""The governed catalog: systems, event types (schemas as code) and data-sharing agreements."""

from bus.catalog.catalog import Catalog, load_catalog
from bus.catalog.delivery import Delivery
from bus.catalog.event_type import PERSONAL_DATA, EventData, EventType, TopicSettings, personal
from bus.catalog.meaning import Meaning
from bus.catalog.subscription import Subscription
from bus.catalog.system import System

__all__ = [
    "PERSONAL_DATA",
    "Catalog",
    "Delivery",
    "EventData",
    "EventType",
    "Meaning",
    "Subscription",
    "System",
    "TopicSettings",
    "load_catalog",
    "personal",
]
