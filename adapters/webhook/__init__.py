"""Webhook adapter: one delivery's events as signed CloudEvents HTTP requests to an OPD endpoint.

    bus adapter run webhook --event-type id.go.riau.dpmptsp.izin.terbit \\
        --group bapenda.sipd.izin-webhook

The group names a push `Delivery` of the catalog (endpoint, secret reference, content mode,
rate limit, retry horizon, allowed networks); its system's agreement decides which fields are
sent. Attempts are logged in the bus's database (`--dsn`, else `BUS_DATABASE_DSN`).

Adapter options (`--option KEY=VALUE`): any `WebhookSettings` field (`read_timeout_s`,
`connect_timeout_s`, `first_retry_s`, `circuit_threshold`, `circuit_cooldown_s`,
`key_concurrency`, `max_connections`, `pipeline_depth`, …), and `enable=true` to re-enable an
endpoint a 410 disabled. See docs/adapters.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from adapters.webhook.delivery import WebhookDelivery, WebhookSettings
from adapters.webhook.destination import DestinationGuard
from adapters.webhook.health import EndpointHealth
from adapters.webhook.request import USER_AGENT
from adapters.webhook.signing import Signer, new_secret, public_key, read_secret
from adapters.webhook.transport import PipelinedClient
from bus.catalog import Delivery
from bus.envelope import Envelope
from bus.errors import BusError
from bus.reliability import RetryPolicy
from bus.subscribe import Subscriber
from bus.subscribe.adapter import AdapterOptions
from bus.tracking.attempts import AttemptLog

__all__ = [
    "Signer",
    "WebhookDelivery",
    "WebhookSettings",
    "new_secret",
    "public_key",
    "push_delivery",
    "read_secret",
    "webhook",
]


def push_delivery(options: AdapterOptions) -> Delivery:
    """The catalog's push delivery of `options.group`, checked against the event type."""
    delivery = options.catalog.delivery(options.group)
    if delivery is None or delivery.mode != "push":
        raise BusError(
            f"the catalog declares no push Delivery for group {options.group!r}; add one beside "
            "the agreement in schemas/subscriptions.py"
        )
    if delivery.event_type != options.event_type.type:
        raise BusError(
            f"group {options.group!r} delivers {delivery.event_type}, not {options.event_type.type}"
        )
    return delivery


@contextlib.asynccontextmanager
async def webhook(options: AdapterOptions) -> AsyncIterator[Subscriber]:
    """The `webhook` adapter: a subscriber whose handler is a `WebhookDelivery`."""
    delivery = push_delivery(options)
    known = set(WebhookSettings.model_fields)
    settings = WebhookSettings(**{k: v for k, v in options.extra.items() if k in known})  # type: ignore[arg-type]
    dsn = options.dsn or options.settings.database_dsn
    if not dsn:
        raise BusError(
            "the webhook adapter logs its attempts in the bus database: --dsn or BUS_DATABASE_DSN"
        )
    signer = read_secret(delivery.secret or "")
    policy = RetryPolicy.over_horizon(
        settings.first_retry_s,
        delivery.retry_horizon_s,
        stages=settings.retry_stages,
        factor=settings.retry_factor,
    )
    subscriber = Subscriber(
        delivery.system,
        group=options.group,
        catalog=options.catalog,
        settings=options.settings,
        retry=policy,
        # A request waits on the network, not the CPU: other keys go on meanwhile.
        key_concurrency=settings.key_concurrency,
    )
    event_type = options.event_type
    view = subscriber.view_of(event_type.type)
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=event_type.topic_settings.partitions + 4,
            timeout=10,
            # A database that stalls fails the attempt instead of holding every key in flight.
            command_timeout=30,
            # The attempt log is not the event store (Kafka is): a server crash may lose its last
            # few hundred milliseconds, and then an event may be sent once more, which receivers
            # deduplicate by webhook-id. Waiting for a WAL flush per attempt would cap delivery
            # at the disk's flush rate instead.
            server_settings={"synchronous_commit": "off"},
        )
    except (OSError, asyncpg.PostgresError) as exc:
        # The DSN may hold a password: name the failure, not the DSN.
        raise BusError(f"the webhook adapter cannot reach the bus database: {exc}") from None
    # Checked before every attempt; connections go to the addresses it checked.
    guard = DestinationGuard(delivery.endpoint or "", delivery.allow_networks)
    attempts = AttemptLog(pool)
    try:
        # No redirects (a 3xx is a failed attempt), no proxies or .netrc from the environment.
        async with PipelinedClient(
            delivery.endpoint or "",
            connections=settings.max_connections,
            depth=settings.pipeline_depth,
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            addresses=guard.addresses,
            user_agent=USER_AGENT,
        ) as client:
            endpoint = WebhookDelivery(
                delivery,
                group=options.group,
                signer=signer,
                policy=policy,
                attempts=attempts,
                health=EndpointHealth(pool, options.group, delivery.system),
                client=client,
                guard=guard,
                settings=settings,
            )
            await endpoint.start(enable=options.extra.get("enable", "").lower() == "true")

            async def deliver(
                data: BaseModel, envelope: Envelope, record: ConsumerRecord[bytes, bytes]
            ) -> object:
                return await endpoint.deliver(data, envelope, record)

            # The handler's data parameter is the system's granted view of the event type.
            deliver.__annotations__ = {
                "data": view,
                "envelope": Envelope,
                "record": ConsumerRecord,
                "return": object,
            }
            subscriber.handler(event_type.type)(deliver)
            subscriber.webhook = endpoint  # type: ignore[attr-defined]
            yield subscriber
    finally:
        await attempts.close()
        await pool.close()
