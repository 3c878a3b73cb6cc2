"""Subscribing: decode → validate → handle → commit, in batches, in order per partition."""

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
    "Handler",
    "HandlerFailedError",
    "RetryPolicy",
    "Subscriber",
    "SubscriberStats",
    "decode",
    "validate",
]
