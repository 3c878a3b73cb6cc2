"""How hard a subscription tries before giving an event up: in-process attempts, retry topics, DLQ.

    RetryPolicy(attempts=3, topic_delays_s=(1, 10, 60))

A failing handler is called up to `attempts` times in process, waiting with exponential backoff
and full jitter in between; then the event moves to retry topic 1, which delivers it again no
sooner than 1 s later, then to topic 2 (10 s), topic 3 (60 s), and finally to the dead-letter
topic. With a `horizon_s` the last topic is used again until the horizon has passed since the
event's first failure (the webhook adapter's "about three days"). Errors of a `permanent`
class skip all of that and go straight to the dead-letter topic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from bus.config import BusSettings
from bus.errors import PermanentError


@dataclass(frozen=True)
class RetryPolicy:
    """In-process attempts with backoff and jitter, then delayed retry topics, then the DLQ."""

    attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    topic_delays_s: tuple[float, ...] = (1.0, 10.0, 60.0)
    permanent: tuple[type[BaseException], ...] = (PermanentError,)
    #: When set, the last retry topic is used again and again until this many seconds after
    #: the event's first failure, instead of giving up after one pass through the topics.
    horizon_s: float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if not self.topic_delays_s:
            raise ValueError("RetryPolicy.topic_delays_s needs at least one retry topic")

    @classmethod
    def from_settings(cls, settings: BusSettings) -> RetryPolicy:
        """The policy configured by `BUS_RETRY_ATTEMPTS` and `BUS_RETRY_TOPIC_DELAYS_S`."""
        return cls(attempts=settings.retry_attempts, topic_delays_s=settings.retry_topic_delays_s)

    @classmethod
    def over_horizon(
        cls, first_delay_s: float, horizon_s: float, *, stages: int = 6, factor: float = 5.0
    ) -> RetryPolicy:
        """One attempt, then `stages` retry topics whose delays grow by `factor` from
        `first_delay_s`; the last one repeats until `horizon_s` after the first failure."""
        if first_delay_s <= 0 or horizon_s < first_delay_s or stages < 1 or factor < 1:
            raise ValueError("need 0 < first_delay_s <= horizon_s, stages >= 1, factor >= 1")
        delays = tuple(min(first_delay_s * factor**n, horizon_s) for n in range(stages))
        return cls(attempts=1, topic_delays_s=delays, horizon_s=horizon_s)

    @property
    def stages(self) -> int:
        """Number of retry topics."""
        return len(self.topic_delays_s)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt + 1`."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)

    def is_permanent(self, error: BaseException) -> bool:
        """True if no retry can fix `error`."""
        return isinstance(error, self.permanent)

    def next_stage(
        self, stage: int, error: BaseException, since: datetime | None = None
    ) -> int | None:
        """The retry stage after a failure at `stage` (0 = source topic), or None for the DLQ.

        `since` is the event's first failure: within the horizon the last stage repeats.
        """
        if self.is_permanent(error):
            return None
        if stage < self.stages:
            return stage + 1
        within = (
            self.horizon_s is not None
            and since is not None
            and (datetime.now(UTC) - since).total_seconds() < self.horizon_s
        )
        return self.stages if within else None

    def stage_for(self, delay_s: float, at_least: int) -> int:
        """The first stage from `at_least` on whose delay is `delay_s` or more (else the last):
        a record waiting that long there does not hold up the records queued behind it."""
        for stage in range(at_least, self.stages + 1):
            if self.delay_of(stage) >= delay_s:
                return stage
        return self.stages

    def delay_of(self, stage: int) -> float:
        """Seconds a record waits on retry topic `stage` before it is delivered again."""
        return self.topic_delays_s[stage - 1]
