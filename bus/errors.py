"""One exception hierarchy for everything the bus refuses, in words an OPD developer can act on.

Modelled on httpx: catch `BusError` for anything, or a specific subclass when the caller can
react to it (for example `SchemaValidationError` carries the path of every invalid field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


class BusError(Exception):
    """Base class of every error raised by OPD Bus."""


class CatalogError(BusError):
    """The catalog is inconsistent: a reference, key field, example or name is wrong."""


class LockFileError(CatalogError):
    """The catalog lock file (the approved state) cannot be read or is malformed."""


class UnknownEventTypeError(CatalogError):
    """An event type that is not declared in the catalog was asked for."""

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        super().__init__(f"unknown event type {event_type!r}: it is not declared in the catalog")


class UnknownSystemError(CatalogError):
    """A system id that is not declared in the catalog was used."""

    def __init__(self, system: str, known: Sequence[str] = ()) -> None:
        self.system, self.known = system, list(known)
        choices = f"; the catalog's systems are: {', '.join(known)}" if known else ""
        super().__init__(f"unknown system {system!r}: it is not declared in the catalog{choices}")


class UnknownTopicError(CatalogError):
    """A topic that no event type of the catalog is published on was named."""

    def __init__(self, topic: str, known: Sequence[str] = ()) -> None:
        self.topic, self.known = topic, list(known)
        choices = f"; the catalog's topics are: {', '.join(known)}" if known else ""
        super().__init__(f"unknown topic {topic!r}: no event type of the catalog uses it{choices}")


@dataclass(frozen=True)
class FieldError:
    """One invalid field: where it is in the data and why it was refused."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SchemaValidationError(BusError):
    """Event data does not match its event type's schema; `errors` names every invalid field."""

    def __init__(self, event_type: str, errors: Sequence[FieldError]) -> None:
        self.event_type = event_type
        self.errors = list(errors)
        details = "; ".join(str(e) for e in self.errors) or "no details"
        super().__init__(f"invalid data for {event_type}: {details}")


class EnvelopeError(BusError):
    """A Kafka record does not carry a valid CloudEvents envelope in its headers."""


class AuthorizationError(BusError):
    """The calling system is not allowed to do what it asked."""


class NotOwnerError(AuthorizationError):
    """A system tried to publish an event type that another system owns."""

    def __init__(self, system: str, event_type: str, owner: str) -> None:
        self.system, self.event_type, self.owner = system, event_type, owner
        super().__init__(
            f"system {system!r} may not publish {event_type}: it is owned by {owner!r}; "
            "only the owning system publishes an event type"
        )


class NoAgreementError(AuthorizationError):
    """A system tried to subscribe to an event type without a data-sharing agreement."""

    def __init__(self, system: str, event_type: str) -> None:
        self.system, self.event_type = system, event_type
        super().__init__(
            f"system {system!r} has no data-sharing agreement for {event_type}; "
            "add a Subscription to the catalog and have it approved"
        )


class IdentityMismatchError(AuthorizationError):
    """A Publisher or Subscriber claims a system other than the one its credentials name."""

    def __init__(self, claimed: str, principal: str) -> None:
        self.claimed, self.principal = claimed, principal
        super().__init__(
            f"this client claims system {claimed!r} but its credentials authenticate as "
            f"{principal!r}; a system acts only with its own credentials (set BUS_SASL_USERNAME "
            "and its password, or BUS_SSL_CERTFILE, to that system's)"
        )


class AuthenticationThrottledError(AuthorizationError):
    """Too many failed authentications from this address or for this key id; retry later."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"too many failed authentications from this address or for this key; "
            f"retry in {retry_after_s} s with a valid key"
        )


class SecuritySettingsError(BusError):
    """TLS or SASL settings are incomplete or their files cannot be used."""


class BrokerUnavailableError(BusError):
    """The Kafka cluster could not be reached or did not acknowledge in time."""


class PublishError(BusError):
    """The broker refused or failed to acknowledge an event."""


class PermanentError(BusError):
    """Raised by a handler for a failure no retry can fix; the event goes straight to the DLQ."""


class RetryLaterError(BusError):
    """Raised by a handler to send its event to a retry topic at once, with no in-process retry.

    `stage` picks the retry topic (default: the next one) and `not_before` the earliest time
    of the next attempt (default: that topic's delay), for example from a `Retry-After`.
    """

    def __init__(
        self, message: str, *, stage: int | None = None, not_before: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.stage, self.not_before = stage, not_before


class DeadLetterError(BusError):
    """A failed event could not be moved to its retry or dead-letter topic; nothing is committed."""


class BrokerLimitationError(BusError):
    """The cluster does not implement an admin operation the bus needs (e.g. CreatePartitions)."""


class TopicChangeRefusedError(BusError):
    """A topic change would lose data (shrink, delete) and `--allow-delete` was not given."""


class NoAuthorizerError(BusError):
    """ACLs cannot be applied: the cluster runs without an authorizer (SECURITY_DISABLED)."""


class EventNotFoundError(BusError):
    """No publication of this event id is recorded (or it belongs to another system)."""

    def __init__(self, event_id: str, where: str | None = None) -> None:
        self.event_id = event_id
        #: Where it was looked for, as the end of "event X is ...".
        self.where = where or "not in the publication log"
        super().__init__(
            f"event {event_id!r} is {self.where}; give its position "
            "with --topic, --partition and --offset if it was published without the log"
        )


class EventTraceError(BusError):
    """`bus trace` cannot answer from what it saw: a position without the event, an id prefix
    that several events share, or a search that did not finish."""


class ConfigurationError(BusError):
    """A setting the process needs is missing or unusable (e.g. a key in production)."""
