"""Subscribing: decode → validate → handle → commit, in batches, in order per partition."""

from bus.subscribe.grants import GrantedView, granted_view
from bus.subscribe.handler import Handler
from bus.subscribe.subscriber import (
    HandlerFailedError,
    RetryPolicy,
    Subscriber,
    SubscriberStats,
    decode,
    validate,
)

__all__ = [
    "GrantedView",
    "Handler",
    "HandlerFailedError",
    "RetryPolicy",
    "Subscriber",
    "SubscriberStats",
    "decode",
    "granted_view",
    "validate",
]
