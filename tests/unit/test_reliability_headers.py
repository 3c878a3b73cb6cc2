"""Retry and dead-letter records: topic names, failure headers, and where a failure goes next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bus.errors import PermanentError, SchemaValidationError
from bus.reliability.failure import Failure, first_failure, with_failure, without_failure
from bus.reliability.naming import (
    dlq_topic,
    group_of_dlq,
    replay_group,
    retry_consumer_group,
    retry_stage,
    retry_topic,
)
from bus.reliability.policy import RetryPolicy


def test_topic_and_group_names_follow_the_contract() -> None:
    assert retry_topic("bapenda.sipd.izin", 2) == "bus.retry.bapenda.sipd.izin.2"
    assert dlq_topic("bapenda.sipd.izin") == "bus.dlq.bapenda.sipd.izin"
    assert replay_group("bapenda.sipd.izin") == "bus.dlq-replay.bapenda.sipd.izin"
    assert retry_consumer_group("g") == "bus.retry.g"
    assert retry_stage("bus.retry.bapenda.sipd.izin.3") == 3
    assert retry_stage("dpmptsp.izin.terbit.v1") == 0
    assert group_of_dlq("bus.dlq.bapenda.sipd.izin") == "bapenda.sipd.izin"
    with pytest.raises(ValueError, match="start at 1"):
        retry_topic("g", 0)


def test_failure_headers_round_trip_and_keep_the_original_headers() -> None:
    original = [("ce_id", b"e-1"), ("ce_type", b"id.go.riau.x.y.z"), ("traceparent", b"00-a")]
    failure = first_failure(
        "dpmptsp.izin.terbit.v1",
        2,
        41,
        group="bapenda.sipd.izin",
        error=ConnectionError("db down"),
        attempts=3,
    )
    due = failure.first_failure_at + timedelta(seconds=10)
    retried = Failure(**{**failure.__dict__, "retry_not_before": due})
    headers = with_failure(original, retried)
    names = [name for name, _ in headers]

    assert headers[:3] == original
    assert names[3:] == [
        "dlq_original_topic",
        "dlq_original_partition",
        "dlq_original_offset",
        "dlq_group",
        "dlq_error_class",
        "dlq_error_message",
        "dlq_attempts",
        "dlq_first_failure_at",
        "dlq_last_failure_at",
        "retry_not_before",
    ]
    parsed = Failure.from_headers(headers)
    assert parsed is not None
    assert (parsed.original_topic, parsed.original_partition, parsed.original_offset) == (
        "dpmptsp.izin.terbit.v1",
        2,
        41,
    )
    assert (parsed.error_class, parsed.error_message, parsed.attempts) == (
        "ConnectionError",
        "db down",
        3,
    )
    # RFC 3339 with milliseconds: equal to the millisecond.
    assert abs(parsed.first_failure_at - failure.first_failure_at) < timedelta(milliseconds=1)
    assert parsed.retry_not_before is not None
    assert dict(headers)["retry_not_before"].endswith(b"Z")
    assert without_failure(headers) == original
    assert Failure.from_headers(original) is None


def test_a_failure_failing_again_accumulates_attempts() -> None:
    failure = first_failure("t", 0, 1, group="g", error=ConnectionError("first"), attempts=3)
    later = datetime.now(UTC) + timedelta(seconds=5)
    again = failure.again(SchemaValidationError("x", []), 1, later)
    assert again.attempts == 4
    assert again.first_failure_at == failure.first_failure_at
    assert again.last_failure_at == later
    assert again.error_class == "bus.errors.SchemaValidationError"
    assert (
        len(
            first_failure(
                "t", 0, 1, group="g", error=ValueError("x" * 5000), attempts=1
            ).error_message
        )
        == 1000
    )


def test_policy_sends_failures_through_each_retry_topic_then_the_dlq() -> None:
    policy = RetryPolicy(topic_delays_s=(1.0, 10.0, 60.0))
    error = ConnectionError("transient")
    assert [policy.next_stage(stage, error) for stage in range(4)] == [1, 2, 3, None]
    assert policy.next_stage(0, PermanentError("no")) is None
    assert [policy.delay_of(n) for n in (1, 2, 3)] == [1.0, 10.0, 60.0]
    assert all(0 <= policy.backoff(n) <= min(5.0, 0.1 * 2 ** (n - 1)) for n in range(1, 10))
    with pytest.raises(ValueError, match="at least one retry topic"):
        RetryPolicy(topic_delays_s=())
