"""Settings of the bus, read from the environment with the `BUS_` prefix (pydantic-settings)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Settings that a running `bus dev` shares with other commands started in the same folder.
DEV_SETTINGS_FILE = ".bus/dev/bus.env"


def running_dev_settings() -> str | None:
    """`DEV_SETTINGS_FILE` while the `bus dev` that wrote it still runs, else None.

    A `bus dev` killed with SIGKILL cannot remove its file; the pid on its first line tells a
    stale file from a live one. `BUS_DEV_SETTINGS=0` ignores the file (the test suite does).
    """
    if os.environ.get("BUS_DEV_SETTINGS", "1") == "0":
        return None
    try:
        with open(DEV_SETTINGS_FILE, encoding="utf-8") as file:
            first = file.readline()
    except OSError:
        return None
    found = re.search(r"\(pid (\d+)\)", first)
    if found is None:
        return None
    try:
        os.kill(int(found[1]), 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, under another user
    return DEV_SETTINGS_FILE


class BusSettings(BaseSettings):
    """Everything the bus needs to know about its surroundings; no host or port is hard-coded."""

    # `.bus/dev/bus.env` is written by a running `bus dev` (its broker, database and the settings
    # its broker needs) and removed when it stops, so that other terminals in the same folder
    # use that bus with nothing set by hand; `.env` and the environment take precedence over it.
    # hide_input_in_errors: a refused setting's message must not echo the environment (passwords).
    model_config = SettingsConfigDict(
        env_prefix="BUS_",
        env_file=tuple(f for f in (running_dev_settings(), ".env") if f is not None),
        extra="ignore",
        hide_input_in_errors=True,
    )

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated."
    )
    catalog_module: str = Field(
        default="schemas", description="Python module whose `catalog` attribute is the catalog."
    )
    catalog_lock_path: str | None = Field(
        default=None,
        description="Lock file of the approved catalog; default: catalog.lock.json next to it.",
    )
    catalog_overlap_threshold: float = Field(
        default=0.6, ge=0, le=1, description="Similarity from which event types overlap."
    )
    client_id: str = Field(default="opd-bus", description="Kafka client id prefix.")

    # Security (docs/security.md): TLS to the broker, and the credentials that are the
    # client's identity. Secrets are SecretStr (never printed) and may come from files.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = Field(
        default=None, description="CA certificate(s), PEM, that signed the brokers' certificates."
    )
    ssl_certfile: Path | None = Field(
        default=None, description="Client certificate, PEM, for mutual TLS (the mTLS identity)."
    )
    ssl_keyfile: Path | None = Field(default=None, description="Private key of ssl_certfile.")
    ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted ssl_keyfile."
    )
    ssl_key_password_file: Path | None = Field(
        default=None, description="File holding ssl_key_password (a mounted secret)."
    )
    ssl_check_hostname: bool = Field(
        default=True, description="Check that the broker's certificate names its host."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = Field(
        default=None, description="SASL user: the system id the client acts as (or opd-bus)."
    )
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(
        default=None, description="File holding sasl_password (a mounted secret)."
    )
    admin_sasl_username: str | None = Field(
        default=None, description="SASL user of `bus` commands that administer the cluster."
    )
    admin_sasl_password: SecretStr | None = None
    admin_sasl_password_file: Path | None = Field(
        default=None, description="File holding admin_sasl_password (a mounted secret)."
    )
    admin_ssl_certfile: Path | None = Field(
        default=None, description="Client certificate of the admin principal (mTLS)."
    )
    admin_ssl_keyfile: Path | None = Field(default=None, description="Its private key.")

    grant_topics: bool | None = Field(
        default=None,
        description=(
            "Subscribers read partial agreements from their grant topics (bus.grant.<system>."
            "<topic>, written by `bus project`); default: when authenticated as a system."
        ),
    )

    # Producer
    producer_acks: Literal["all", "1", "0"] = Field(
        default="all", description="Acknowledgement level; `all` is the only loss-free choice."
    )
    producer_idempotence: bool = Field(
        default=True,
        description=(
            "Idempotent producing (no duplicates on producer retries). Set false only on a "
            "broker that refuses the handshake (`bus.broker.local` says which; `bus dev` sets "
            "it for you)."
        ),
    )
    producer_delivery_timeout_ms: int = Field(
        default=120_000,
        ge=1000,
        description=(
            "Longest a sent event waits for the broker's acknowledgement before publish() and "
            "flush() raise BrokerUnavailableError. Such an event may still be written when the "
            "cluster is back: publish it again with the same id (consumers drop duplicates)."
        ),
    )
    producer_linger_ms: int = Field(default=5, ge=0)
    producer_max_batch_bytes: int = Field(default=1_048_576, ge=1024)
    producer_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    producer_max_in_flight: int = Field(
        default=20_000,
        ge=1,
        description="Events sent but not yet acknowledged before send() waits.",
    )
    request_timeout_ms: int = Field(default=30_000, ge=1000)

    # Consumer
    consumer_max_records: int = Field(default=1_000, ge=1, description="Records per fetch batch.")
    consumer_fetch_timeout_ms: int = Field(default=200, ge=1)
    consumer_fetch_max_wait_ms: int = Field(
        default=500,
        ge=0,
        description=(
            "Longest the broker holds a fetch open waiting for new records. Kafka answers as "
            "soon as a record arrives; a broker that holds it for this long regardless gets a "
            "shorter value from `bus.broker.local`."
        ),
    )
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1000)
    consumer_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    consumer_auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    consumer_key_concurrency: int = Field(
        default=1,
        ge=1,
        description=(
            "Keys of one partition a subscriber handles at once (each key still in order); "
            "1 handles a partition's records one after another."
        ),
    )

    # Reliability: in-process attempts, then retry topics with growing delays, then the DLQ
    retry_attempts: int = Field(
        default=3, ge=1, description="In-process attempts of a failing handler per delivery."
    )
    retry_topic_delays_s: tuple[float, ...] = Field(
        default=(1.0, 10.0, 60.0),
        min_length=1,
        description="Delay of each retry topic `bus.retry.<group>.<n>`; then the DLQ.",
    )
    dlq_retention_ms: int | None = Field(
        default=None,
        ge=60_000,
        description="How long dead letters are kept; default: as long as their source topics.",
    )

    # Service addresses
    ingress_host: str = "127.0.0.1"
    ingress_port: int = 8080
    ingress_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the ingress reads (413)."
    )
    ingress_max_batch_events: int = Field(
        default=500, ge=1, description="Most events in one POST /v1/events:batch."
    )
    ingress_publish_timeout_s: float = Field(
        default=40.0,
        gt=0,
        description=(
            "How long the ingress waits for the broker's ack before answering 503. Keep it above "
            "request_timeout_ms, so that a 503 means the producer gave the event up."
        ),
    )
    ingress_remember_keys_s: float = Field(
        default=60.0,
        ge=0,
        description=(
            "How long the ingress remembers a good API key instead of asking the database on "
            "every request; a revoked key is forgotten at once (LISTEN/NOTIFY). 0: always ask."
        ),
    )
    # Hardening: a client costs at most a few MB and holds nothing for long (docs/security.md).
    ingress_max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Largest request head (request line and headers), 431.",
    )
    ingress_max_headers: int = Field(
        default=100, ge=10, description="Most headers a request has, 431."
    )
    ingress_header_timeout_s: float = Field(
        default=10.0, gt=0, description="Time a client has to send a request's head (408)."
    )
    ingress_max_connections: int = Field(
        default=2048,
        ge=1,
        description="Open connections and requests before the ingress answers 503.",
    )
    ingress_auth_failures_per_address: int = Field(
        default=20, ge=1, description="Failed authentications per client address per window (429)."
    )
    ingress_auth_failures_per_key: int = Field(
        default=10, ge=1, description="Failed authentications per API key id per window (429)."
    )
    ingress_auth_window_s: float = Field(
        default=60.0, gt=0, description="Window of the failed-authentication limits."
    )
    monitor_host: str = "127.0.0.1"
    monitor_port: int = 8081
    database_dsn: str | None = Field(
        default=None, description="PostgreSQL DSN of the bus's own state (keys, log, inbox)."
    )

    # Lag and monitor (see docs/operations.md for the status rules)
    lag_window: int = Field(default=10, ge=2, description="Commits kept per partition.")
    lag_min_commits: int = Field(default=3, ge=1, description="Commits needed before judging.")
    lag_stop_after_s: float = Field(
        default=60.0, ge=0, description="No commit for this long (and the window span) is STOP."
    )
    monitor_scan_interval_s: float = Field(default=5.0, gt=0, description="Seconds between scans.")
    monitor_groups: list[str] = Field(
        default_factory=list, description="Consumer groups to watch besides the discovered ones."
    )
    monitor_token: SecretStr | None = Field(
        default=None,
        description="Token operators sign in with (HTTP basic password or Bearer).",
    )
    monitor_token_file: str | None = Field(
        default=None, description="File holding the monitor token, instead of BUS_MONITOR_TOKEN."
    )
    monitor_open_on_loopback: bool = Field(
        default=False,
        description="Dev mode: serve the monitor without a token, only when bound to loopback.",
    )
    monitor_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the monitor answers besides loopback and its bind address.",
    )
    monitor_ingress_urls: list[str] = Field(
        default_factory=list,
        description="Base URLs of ingress processes whose /metrics the monitor reads.",
    )

    # Personal data (UU 27/2022); see docs/personal-data.md
    env: Literal["development", "test", "production"] = Field(
        default="development",
        description="`production` refuses to start without the personal-data keys below.",
    )
    pdp_mask_key: SecretStr | None = Field(
        default=None, description="HMAC key of the masks that replace personal data in logs."
    )
    pdp_mask_key_file: Path | None = Field(
        default=None, description="File holding the mask key, instead of BUS_PDP_MASK_KEY."
    )
    pdp_pseudonym_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of per-agreement pseudonyms (NIK tokens) and the subject index.",
    )
    pdp_pseudonym_key_file: Path | None = Field(
        default=None, description="File holding the pseudonym key."
    )

    # Logging
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _read_secret_files(self) -> Self:
        for name in ("ssl_key_password", "sasl_password", "admin_sasl_password"):
            path: Path | None = getattr(self, f"{name}_file")
            if path is not None and getattr(self, name) is None:
                setattr(self, name, SecretStr(_read_secret(path, f"BUS_{name.upper()}_FILE")))
        return self

    def as_admin(self) -> BusSettings:
        """These settings with the admin principal's credentials, for `bus` admin commands."""
        update: dict[str, object] = {}
        if self.admin_sasl_username:
            update |= {
                "sasl_username": self.admin_sasl_username,
                "sasl_password": self.admin_sasl_password,
            }
        if self.admin_ssl_certfile:
            update |= {
                "ssl_certfile": self.admin_ssl_certfile,
                "ssl_keyfile": self.admin_ssl_keyfile,
            }
        return self.model_copy(update=update) if update else self


def _read_secret(path: Path, setting: str) -> str:
    """A secret file's content without its trailing newline; the error names the file only."""
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror}") from None
