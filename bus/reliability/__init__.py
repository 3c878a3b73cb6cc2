"""Reliability: retry topics, dead-letter topics and the inbox that makes effects idempotent.

The consume path of a `Subscriber` is decode → validate → handle → commit, or, when handling
fails, → retry topic → … → dead-letter topic; see docs/reliability.md.
"""

from bus.reliability.failure import Failure
from bus.reliability.inbox import Inbox, InboxTransaction
from bus.reliability.naming import dlq_topic, replay_group, retry_stage, retry_topic
from bus.reliability.policy import RetryPolicy
from bus.reliability.routing import FailureRouter
from bus.reliability.topics import ensure_failure_topics

__all__ = [
    "Failure",
    "FailureRouter",
    "Inbox",
    "InboxTransaction",
    "RetryPolicy",
    "dlq_topic",
    "ensure_failure_topics",
    "replay_group",
    "retry_stage",
    "retry_topic",
]
