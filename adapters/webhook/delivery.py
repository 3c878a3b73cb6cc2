"""Delivering one event to one endpoint: order, safety, signing, the answer, the next try.

For each event the handler of the webhook adapter asks, in this order:

1. Was it delivered already (a 2xx recorded in the attempt log)? Then it is not sent again.
2. Is an older event of the same key still pending? Then it waits behind that one, on the
   same retry stage, without a request: a permit revoked never arrives before it was issued.
3. Is the endpoint disabled (an earlier 410)? Then the event goes to the dead-letter topic.
4. Is the circuit open? Then it waits in the retry topics until the breaker lets a probe go.
5. Does the endpoint still resolve to an allowed address? (`destination.py`)
6. The request: CloudEvents HTTP binding, signed, within the rate limit and timeouts,
   redirects not followed. 2xx: delivered. 410: the endpoint is disabled. 429/503: the next
   try waits for `Retry-After`. Anything else, a timeout or a refused connection: the next
   retry topic, its delay stretched by up to `jitter`, until the horizon; then the DLQ.

Every attempt is written to the attempt log with its time, status, latency and next try.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from time import perf_counter

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.webhook import request
from adapters.webhook.breaker import Circuit, CircuitBreaker
from adapters.webhook.destination import DestinationGuard, RefusedDestinationError
from adapters.webhook.health import EndpointHealth
from adapters.webhook.signing import Signer
from adapters.webhook.transport import (
    PipelinedClient,
    ReadTimeoutError,
    TransportError,
    UnsendableRequestError,
)
from bus.catalog import Delivery
from bus.envelope import Envelope
from bus.errors import BusError, PermanentError, RetryLaterError
from bus.logging import get_logger
from bus.privacy.redaction import redact_text
from bus.reliability import Failure, RetryPolicy, retry_stage
from bus.subscribe import Duplicate
from bus.tracking.attempts import (
    DEAD_LETTERED,
    DELIVERED,
    PENDING,
    Attempt,
    AttemptLog,
    Position,
    key_digest,
)
from bus.tracking.webhook_endpoints import State

log = get_logger("bus.adapter.webhook")

#: Of an answer's reason phrase, this much is recorded.
_REASON_CHARS = 120

Encoder = Callable[[BaseModel, Envelope], tuple[dict[str, str], bytes]]


class WebhookSettings(BaseSettings):
    """The webhook adapter's knobs (`BUS_WEBHOOK_*`, or `--option name=value`)."""

    model_config = SettingsConfigDict(env_prefix="BUS_WEBHOOK_", env_file=".env", extra="ignore")

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    first_retry_s: float = 5.0
    #: Retry topics: delays first_retry_s × retry_factor^n; the last repeats until the horizon.
    retry_stages: int = 6
    retry_factor: float = 5.0
    jitter: float = 0.2
    circuit_threshold: int = 5
    circuit_cooldown_s: float = 30.0
    #: Keys of one partition delivered at once (each key's events stay in order).
    key_concurrency: int = 16
    #: Keep-alive connections to the endpoint.
    max_connections: int = 16
    #: Requests in flight per connection (HTTP/1.1 pipelining); 1 waits for each answer. Raise
    #: it only for a receiver known to answer pipelined requests (nginx, Apache, IIS, Node).
    pipeline_depth: int = 1


class EndpointDisabledError(PermanentError):
    """The endpoint answered 410 Gone: nothing more is sent to it until it is re-enabled."""


class WebhookDelivery:
    """Sends one delivery's events to its endpoint and records every attempt."""

    def __init__(
        self,
        delivery: Delivery,
        *,
        group: str,
        signer: Signer,
        policy: RetryPolicy,
        attempts: AttemptLog,
        health: EndpointHealth,
        client: PipelinedClient,
        guard: DestinationGuard,
        settings: WebhookSettings,
    ) -> None:
        self.delivery = delivery
        self.group = group
        self.endpoint = delivery.endpoint or ""
        self.signer = signer
        self.policy = policy
        self.attempts = attempts
        self.health = health
        self.client = client
        self.settings = settings
        self.guard = guard
        self.breaker = CircuitBreaker(
            group,
            threshold=settings.circuit_threshold,
            cooldown_s=settings.circuit_cooldown_s,
            on_change=self._circuit_changed,
        )
        self.encode: Encoder = (
            request.structured if delivery.content_mode == "structured" else request.binary
        )
        self.disabled: str | None = None
        self._pace = _Pace(delivery.rate_limit_per_s)
        self._longest_wait = policy.delay_of(policy.stages)

    async def start(self, *, enable: bool = False) -> None:
        """Create the log tables, check the destination, refuse to start on a disabled one."""
        await self.attempts.ensure_schema()
        await self.guard.check()
        if await self.health.load() == "disabled" and not enable:
            raise BusError(
                f"the endpoint of {self.group} was disabled: it answered 410 Gone; once its "
                "owner has fixed it, start again with --option enable=true"
            )
        await self.health.became("closed")

    async def deliver(
        self, data: BaseModel, envelope: Envelope, record: ConsumerRecord[bytes, bytes]
    ) -> object:
        """Deliver one event (see the module docstring); raise to retry or dead-letter it."""
        stage = retry_stage(record.topic)
        failure = Failure.from_headers(record.headers or ())
        since = failure.first_failure_at if failure is not None else None
        position = Position(
            envelope.id,
            key_digest(record.key),
            record.partition if envelope.partition is None else envelope.partition,
            record.offset if envelope.offset is None else envelope.offset,
        )
        seen = await self.attempts.lookup(self.group, envelope.id, position.key_digest)
        if seen.delivered:
            return Duplicate
        now = datetime.now(UTC)
        if seen.waits_behind(envelope.id):
            # Queued right behind the head, on its stage and due when it is: delivered as soon
            # as the head is, never before it.
            waiting = RetryLaterError(
                f"waits behind event {seen.head} of the same key",
                stage=seen.head_stage,
                not_before=seen.head_next_try,
            )
            following = self.policy.next_stage(stage, waiting, since)
            # Past its own horizon it goes to the DLQ like any other, and leaves the queue.
            await self._note(
                position,
                seen.attempts,
                now,
                "waiting",
                stage=max(seen.head_stage, following or stage),
                next_try=seen.head_next_try,
                dead=following is None,
            )
            raise waiting
        if self.disabled is not None:
            await self._note(
                position, seen.attempts, now, "endpoint disabled", stage=stage, dead=True
            )
            raise EndpointDisabledError(f"the endpoint is disabled: {self.disabled}")
        wait = self.breaker.retry_in()
        if wait is not None:
            # The stage's own delay: a shorter one would hold up the records queued behind.
            later = RetryLaterError(f"the endpoint's circuit is open for {wait:.0f} s more")
            following = self.policy.next_stage(stage, later, since)
            if following is None:
                await self._note(
                    position, seen.attempts, now, "circuit open", stage=stage, dead=True
                )
            else:
                next_try = now + _s(self.policy.delay_of(following))
                await self._note(
                    position, seen.attempts, now, "circuit open", stage=following, next_try=next_try
                )
            raise later
        try:
            await self.guard.check()
        except PermanentError:
            await self._note(
                position, seen.attempts, now, "destination refused", stage=stage, dead=True
            )
            raise
        return await self._attempt(data, envelope, position, seen.attempts + 1, (stage, since))

    async def _attempt(
        self,
        data: BaseModel,
        envelope: Envelope,
        position: Position,
        number: int,
        where: tuple[int, datetime | None],
    ) -> object:
        stage, since = where
        headers, body = self.encode(data, envelope)
        headers.update(self.signer.headers(envelope.id, body))
        await self._pace.wait()
        at = datetime.now(UTC)
        started = perf_counter()
        status: int | None = None
        error_class: str | None = None
        retry_after: float | None = None
        try:
            response = await self.client.post(body, headers)
            status = response.status
            # The receiver's own words, kept in the attempt log and shown by `bus trace`:
            # masked where they look like a NIK or an e-mail address, then bounded (cut
            # first, a number or address could lose the shape the mask recognises).
            outcome = redact_text(response.reason)[:_REASON_CHARS] or str(status)
            # A receiver cannot hold its events back longer than the last retry stage waits.
            retry_after = _retry_after(response.retry_after, at, self._longest_wait)
        except (UnsendableRequestError, RefusedDestinationError) as exc:
            # Nothing was sent, and sending again cannot help: the dead-letter topic.
            await self._note(position, number - 1, at, str(exc), stage=stage, dead=True)
            raise PermanentError(str(exc)) from None
        except ReadTimeoutError as exc:
            error_class = type(exc).__name__
            outcome = f"timeout ({error_class})"
        except TransportError as exc:
            error_class = type(exc).__name__
            outcome = f"connection failed ({error_class})"
        latency_ms = (perf_counter() - started) * 1000
        await self.health.attempted(status, error_class)
        if status is not None and 200 <= status < 300:
            await self.attempts.record(
                self.group,
                position,
                Attempt(number, at, status, latency_ms, "delivered", DELIVERED, stage, None),
            )
            await self.breaker.succeeded()
            return None
        if status == 410:
            self.disabled = f"410 Gone at {at.isoformat(timespec='seconds')}"
            await self.health.became("disabled")
            await self.attempts.record(
                self.group,
                position,
                Attempt(number, at, status, latency_ms, outcome, DEAD_LETTERED, stage, None),
            )
            log.error("webhook endpoint disabled: it answered 410 Gone", group=self.group)
            raise EndpointDisabledError("the endpoint answered 410 Gone; it is now disabled")
        if status != 429:
            await self.breaker.failed()
        following = self.policy.next_stage(stage, RetryLaterError(outcome), since)
        if following is None:
            await self.attempts.record(
                self.group,
                position,
                Attempt(number, at, status, latency_ms, outcome, DEAD_LETTERED, stage, None),
            )
            raise RetryLaterError(f"gave up after {number} attempts: {outcome}")
        delay = self.policy.delay_of(following) * (1 + self.settings.jitter * random.random())
        if retry_after is not None and status in (429, 503):
            # Waits on the first stage whose delay is as long, not before the receiver asked.
            following = self.policy.stage_for(retry_after, following)
            delay = max(retry_after, self.policy.delay_of(following))
        next_try = datetime.now(UTC) + _s(delay)
        await self.attempts.record(
            self.group,
            position,
            Attempt(number, at, status, latency_ms, outcome, PENDING, following, next_try),
        )
        raise RetryLaterError(
            f"the endpoint answered {status or outcome}; next try at {next_try.isoformat()}",
            stage=following,
            not_before=next_try,
        )

    async def _note(
        self,
        position: Position,
        attempts: int,
        at: datetime,
        outcome: str,
        *,
        stage: int,
        next_try: datetime | None = None,
        dead: bool = False,
    ) -> None:
        """Record an event's state when no request was made (waiting, circuit, disabled)."""
        state = DEAD_LETTERED if dead else PENDING
        await self.attempts.record(
            self.group,
            position,
            Attempt(attempts, at, None, 0.0, outcome, state, stage, next_try, sent=False),
        )

    async def _circuit_changed(self, state: Circuit) -> None:
        await self.health.became(_STATES[state])


_STATES: dict[Circuit, State] = {
    Circuit.CLOSED: "closed",
    Circuit.OPEN: "open",
    Circuit.HALF_OPEN: "half_open",
}


class _Pace:
    """At most `rate` requests per second to the endpoint (None: as fast as it answers)."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 1 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self._interval


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _retry_after(value: str | None, now: datetime, longest: float) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), at most `longest`;
    None when there is none or it cannot be read."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # `str.isdigit` alone takes "²" too
        return min(float(value), longest)
    try:
        when = parsedate_to_datetime(value)
        return min(max(0.0, (when - now).total_seconds()), longest)
    except (TypeError, ValueError, OverflowError):
        return None
