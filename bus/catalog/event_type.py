"""Declaring an event type is writing one small, typed class.

    class IzinTerbit(
        EventData,
        type="id.go.riau.dpmptsp.izin.terbit",
        version=1,
        owner="dpmptsp.sicantik",
        key="nomor_izin",
    ):
        '''A business license (izin) was issued.'''

        nomor_izin: str
        nama_pemohon: str = personal(description="Applicant's name")
        example: ClassVar[dict[str, Any]] = {...}

The class is the contract: its JSON Schema is generated from it, the topic name and key come
from its declaration, and `EventType` (reachable as `IzinTerbit.event_type()`) carries the
metadata the rest of the bus needs.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bus.errors import CatalogError

#: JSON Schema extension keyword that marks a field as personal data.
PERSONAL_DATA = "x-personal-data"

_TYPE_PATTERN = re.compile(r"^id\.go\.riau\.[a-z0-9]+(\.[a-z0-9_]+){2,}$")


def personal(default: Any = ..., **kwargs: Any) -> Any:
    """A pydantic `Field` marked as personal data: masked in logs, not granted by default."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra[PERSONAL_DATA] = True
    return Field(default, json_schema_extra=extra, **kwargs)


@dataclass(frozen=True)
class TopicSettings:
    """How the event type's Kafka topic is created."""

    partitions: int = 3
    replication_factor: int = 3
    retention_ms: int = 7 * 24 * 3600 * 1000
    cleanup_policy: str = "delete"
    min_insync_replicas: int = 2

    def configs(self) -> dict[str, str]:
        """Topic-level Kafka configuration entries."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            "min.insync.replicas": str(self.min_insync_replicas),
        }


@dataclass(frozen=True)
class EventType:
    """The metadata of one event type at one major version."""

    type: str
    version: int
    owner: str
    key: str
    data: builtins.type[EventData]
    description: str
    topic_settings: TopicSettings = field(default_factory=TopicSettings)
    compatibility: str = "BACKWARD"

    @property
    def topic(self) -> str:
        """Kafka topic name: `<opd>.<entity>.<event>.v<major>`, e.g. `dpmptsp.izin.terbit.v1`."""
        return f"{self.type.removeprefix('id.go.riau.')}.v{self.version}"

    @property
    def dataschema(self) -> str:
        """CloudEvents `dataschema` URI of this event type's major version."""
        return f"urn:opd-bus:schema:{self.type}:v{self.version}"

    @property
    def opd(self) -> str:
        """Short name of the owning OPD as it appears in the type, e.g. `dpmptsp`."""
        return self.type.split(".")[3]

    @property
    def personal_fields(self) -> frozenset[str]:
        """Names of the top-level fields marked as personal data."""
        return frozenset(
            name
            for name, info in self.data.model_fields.items()
            if isinstance(info.json_schema_extra, dict)
            and info.json_schema_extra.get(PERSONAL_DATA)
        )

    @property
    def example(self) -> dict[str, Any]:
        """One valid example of the data, as declared on the class."""
        return dict(self.data.example)

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the data, generated from the model."""
        return self.data.model_json_schema(mode="validation")

    def key_of(self, data: BaseModel) -> bytes:
        """The Kafka key of one event: the declared key field as UTF-8."""
        return str(getattr(data, self.key)).encode()


class EventData(BaseModel):
    """Base class of every event's data; subclasses declare the event type in their class line."""

    # Closed content model: data with a field the schema does not know is refused, so a
    # publisher cannot smuggle undeclared (possibly personal) data to other agencies.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    example: ClassVar[dict[str, Any]] = {}
    __event_type__: ClassVar[EventType | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The declaration keywords are read in `__pydantic_init_subclass__`, once pydantic has
        # built the fields; object.__init_subclass__ would reject them.
        super().__init_subclass__()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Turn the class-line keywords into this class's `EventType`."""
        if not kwargs:
            return
        try:
            type_ = kwargs.pop("type")
            version = kwargs.pop("version")
            owner = kwargs.pop("owner")
            key = kwargs.pop("key")
        except KeyError as missing:
            raise CatalogError(f"{cls.__name__}: event type declaration needs {missing}") from None
        topic = TopicSettings(**kwargs.pop("topic", {}))
        compatibility = kwargs.pop("compatibility", "BACKWARD")
        if kwargs:
            raise CatalogError(f"{cls.__name__}: unknown declaration keywords {sorted(kwargs)}")
        if not _TYPE_PATTERN.match(type_):
            raise CatalogError(
                f"{cls.__name__}: type {type_!r} must look like id.go.riau.<opd>.<entity>.<event>"
            )
        if key not in cls.model_fields:
            raise CatalogError(f"{cls.__name__}: key field {key!r} is not a field of the data")
        description = (cls.__doc__ or "").strip()
        if not description:
            raise CatalogError(f"{cls.__name__}: an event type needs a docstring describing it")
        cls.__event_type__ = EventType(
            type=type_,
            version=int(version),
            owner=owner,
            key=key,
            data=cls,
            description=description,
            topic_settings=topic,
            compatibility=compatibility,
        )

    @classmethod
    def event_type(cls) -> EventType:
        """This class's event type metadata."""
        if cls.__event_type__ is None or cls.__event_type__.data is not cls:
            raise CatalogError(f"{cls.__name__} is not declared as an event type")
        return cls.__event_type__
