"""How hard a subscription tries before giving an event up: in-process attempts, retry topics, DLQ.

    RetryPolicy(attempts=3, topic_delays_s=(1, 10, 60))

A failing handler is called up to `attempts` times in process, waiting with exponential backoff
and full jitter in between; then the event moves to retry topic 1, which delivers it again no
sooner than 1 s later, then to topic 2 (10 s), topic 3 (60 s), and finally to the dead-letter
topic. Errors of a `permanent` class skip all of that and go straight to the dead-letter topic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
    def over_horizon(cls, first_delay_s: float, horizon_s: float) -> RetryPolicy:
        """One attempt, then retry topics whose delays double from `first_delay_s` until their
        sum reaches `horizon_s` (the last delay is cut to end there), then the DLQ."""
        if first_delay_s <= 0 or horizon_s < first_delay_s:
            raise ValueError("need 0 < first_delay_s <= horizon_s")
        delays: list[float] = []
        while sum(delays) < horizon_s:
            delays.append(min(first_delay_s * 2 ** len(delays), horizon_s - sum(delays)))
        return cls(attempts=1, topic_delays_s=tuple(delays))

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

    def next_stage(self, stage: int, error: BaseException) -> int | None:
        """The retry stage after a failure at `stage` (0 = source topic), or None for the DLQ."""
        if self.is_permanent(error) or stage >= self.stages:
            return None
        return stage + 1

    def delay_of(self, stage: int) -> float:
        """Seconds a record waits on retry topic `stage` before it is delivered again."""
        return self.topic_delays_s[stage - 1]
