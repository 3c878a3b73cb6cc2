"""What the bus records about a failed event, as Kafka headers on its retry or dead-letter record.

A retry or dead-letter record keeps the original key, value and headers (so `ce_id` and the
CloudEvents envelope survive) and adds `dlq_*` headers saying where the event came from and how
it failed; retry records add `retry_not_before`. Times are RFC 3339 in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bus.envelope import Headers
from bus.errors import EnvelopeError
from bus.privacy import redact_text

ORIGINAL_TOPIC = "dlq_original_topic"
ORIGINAL_PARTITION = "dlq_original_partition"
ORIGINAL_OFFSET = "dlq_original_offset"
GROUP = "dlq_group"
ERROR_CLASS = "dlq_error_class"
ERROR_MESSAGE = "dlq_error_message"
ATTEMPTS = "dlq_attempts"
FIRST_FAILURE_AT = "dlq_first_failure_at"
LAST_FAILURE_AT = "dlq_last_failure_at"
RETRY_NOT_BEFORE = "retry_not_before"
#: Set by `bus dlq replay` on the records it sends back.
REPLAYED_AT = "dlq_replayed_at"

FAILURE_HEADERS = (
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    GROUP,
    ERROR_CLASS,
    ERROR_MESSAGE,
    ATTEMPTS,
    FIRST_FAILURE_AT,
    LAST_FAILURE_AT,
    RETRY_NOT_BEFORE,
    REPLAYED_AT,
)

#: Error messages are cut to this length: a header is not a place for a whole traceback.
MAX_MESSAGE_CHARS = 1000


def rfc3339(moment: datetime) -> str:
    """`moment` as an RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-22T21:00:00.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    """Inverse of `rfc3339` (accepts any ISO 8601 offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Failure:
    """How one event failed so far: where it came from, why, how often, since when."""

    original_topic: str
    original_partition: int
    original_offset: int
    group: str
    error_class: str
    error_message: str
    attempts: int
    first_failure_at: datetime
    last_failure_at: datetime
    retry_not_before: datetime | None = None

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes | None]]) -> Failure | None:
        """The failure recorded in `headers`, or None for a record that never failed.

        Raises `MalformedFailureError`, naming the header, when a `dlq_*` header is missing
        or unreadable (another producer wrote it, or it was edited by hand).
        """
        values = {name: (raw or b"").decode(errors="replace") for name, raw in headers}
        if ORIGINAL_TOPIC not in values:
            return None
        not_before = values.get(RETRY_NOT_BEFORE)
        return cls(
            original_topic=values[ORIGINAL_TOPIC],
            original_partition=_int(values, ORIGINAL_PARTITION, -1),
            original_offset=_int(values, ORIGINAL_OFFSET, -1),
            group=values.get(GROUP, ""),
            error_class=values.get(ERROR_CLASS, ""),
            # Redacted again on reading: a record written by an older version or another tool.
            error_message=redact_text(values.get(ERROR_MESSAGE, "")),
            attempts=_int(values, ATTEMPTS, 0),
            first_failure_at=_time(values, FIRST_FAILURE_AT),
            last_failure_at=_time(values, LAST_FAILURE_AT),
            retry_not_before=_time(values, RETRY_NOT_BEFORE) if not_before else None,
        )

    def again(self, error: BaseException, attempts: int, at: datetime) -> Failure:
        """This failure after `attempts` more failed attempts ending with `error` at `at`."""
        return replace(
            self,
            error_class=error_class(error),
            error_message=error_message(error),
            attempts=self.attempts + attempts,
            last_failure_at=at,
            retry_not_before=None,
        )

    def to_headers(self) -> Headers:
        """The `dlq_*` (and `retry_not_before`) headers of this failure."""
        headers: Headers = [
            (ORIGINAL_TOPIC, self.original_topic.encode()),
            (ORIGINAL_PARTITION, str(self.original_partition).encode()),
            (ORIGINAL_OFFSET, str(self.original_offset).encode()),
            (GROUP, self.group.encode()),
            (ERROR_CLASS, self.error_class.encode()),
            (ERROR_MESSAGE, self.error_message.encode()),
            (ATTEMPTS, str(self.attempts).encode()),
            (FIRST_FAILURE_AT, rfc3339(self.first_failure_at).encode()),
            (LAST_FAILURE_AT, rfc3339(self.last_failure_at).encode()),
        ]
        if self.retry_not_before is not None:
            headers.append((RETRY_NOT_BEFORE, rfc3339(self.retry_not_before).encode()))
        return headers


class MalformedFailureError(EnvelopeError, ValueError):
    """A record's `dlq_*` headers are missing or unreadable; the message names the header.

    Also a `ValueError`, which readers of dead letters (`bus.dlq.reader`) already expect.
    """


def _int(values: dict[str, str], name: str, default: int) -> int:
    text = values.get(name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise MalformedFailureError(f"header {name} is {text[:40]!r}, not an integer") from None


def _time(values: dict[str, str], name: str) -> datetime:
    text = values.get(name)
    if text is None:
        raise MalformedFailureError(f"header {name} is missing from a retry or dead-letter record")
    try:
        moment = parse_rfc3339(text)
    except ValueError:
        raise MalformedFailureError(
            f"header {name} is {text[:40]!r}, not an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        raise MalformedFailureError(f"header {name} is {text[:40]!r}, a time without an offset")
    return moment


def first_failure(
    topic: str, partition: int, offset: int, *, group: str, error: BaseException, attempts: int
) -> Failure:
    """The failure of an event read from its source topic for the first time."""
    now = datetime.now(UTC)
    return Failure(
        original_topic=topic,
        original_partition=partition,
        original_offset=offset,
        group=group,
        error_class=error_class(error),
        error_message=error_message(error),
        attempts=attempts,
        first_failure_at=now,
        last_failure_at=now,
    )


def with_failure(
    headers: Sequence[tuple[str, bytes | None]], failure: Failure
) -> list[tuple[str, bytes]]:
    """The original headers without any earlier failure headers, plus `failure`'s."""
    kept = [(name, raw or b"") for name, raw in headers if name not in FAILURE_HEADERS]
    return kept + failure.to_headers()


def without_failure(headers: Sequence[tuple[str, bytes | None]]) -> list[tuple[str, bytes]]:
    """The original headers of a retry or dead-letter record."""
    return [(name, raw or b"") for name, raw in headers if name not in FAILURE_HEADERS]


def error_class(error: BaseException) -> str:
    """Qualified class name of `error`, e.g. `asyncpg.exceptions.UniqueViolationError`."""
    cls = type(error)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def error_message(error: BaseException) -> str:
    """`str(error)` with personal data masked (`bus.privacy`), cut to `MAX_MESSAGE_CHARS`.

    The message travels in headers to other agencies' tools (`bus dlq list`, the monitor, the
    publisher's delivery status): `ValueError(f"NIK {nik} is not registered")` must not.
    """
    text = redact_text(str(error) or repr(error))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
