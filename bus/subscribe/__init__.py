"""Subscribing: decode → validate → handle → commit, in batches, in order per key."""

from bus.reliability.policy import RetryPolicy
from bus.subscribe.grants import GrantedView, granted_view
from bus.subscribe.handler import Handler
from bus.subscribe.subscriber import (
    Duplicate,
    Subscriber,
    SubscriberStats,
    decode,
    validate,
)

__all__ = [
    "Duplicate",
    "GrantedView",
    "Handler",
    "RetryPolicy",
    "Subscriber",
    "SubscriberStats",
    "decode",
    "granted_view",
    "validate",
]
