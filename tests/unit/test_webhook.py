"""The webhook adapter's pure parts: signatures, destinations, breaker, horizon, deliveries."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.webhook import Signer, public_key, read_secret
from adapters.webhook.breaker import Circuit, CircuitBreaker
from adapters.webhook.delivery import _retry_after
from adapters.webhook.destination import DestinationGuard, RefusedDestinationError, forbidden
from adapters.webhook.request import header_value
from adapters.webhook.signing import SecretError
from bus.catalog import Catalog, Delivery
from bus.errors import CatalogError
from bus.reliability import RetryPolicy
from schemas import catalog

#: The example of the Standard Webhooks specification (and of its reference libraries).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY = (
    "msg_p5jXN8AQM9LWM0D4loKWxJek",
    1614265330,
    b'{"test": 2432232314}',
)
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_hmac_signature_matches_the_specification_example() -> None:
    signer = Signer.from_secrets(SPEC_SECRET)
    assert signer.signature(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    headers = signer.headers(SPEC_ID, SPEC_BODY, timestamp=SPEC_TIMESTAMP)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_during_a_rotation_both_secrets_sign() -> None:
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    signature = Signer.from_secrets(f"{SPEC_SECRET}\n{new}").signature(
        SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY
    )
    old_part, new_part = signature.split(" ")
    assert old_part == SPEC_SIGNATURE
    assert new_part == Signer.from_secrets(new).signature(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert new_part != old_part


def test_ed25519_signatures_verify_with_the_public_key() -> None:
    secret = "whsk_" + base64.b64encode(bytes(range(32))).decode()
    [signature] = Signer.from_secrets(secret).signature(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).split()
    version, value = signature.split(",")
    assert version == "v1a"
    raw = base64.b64decode(public_key(secret).removeprefix("whpk_"))
    content = f"{SPEC_ID}.{SPEC_TIMESTAMP}.".encode() + SPEC_BODY
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(value), content)


def test_secrets_come_from_references_and_are_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("BUS_TEST_SECRET", SPEC_SECRET)
    assert read_secret("env:BUS_TEST_SECRET").hmac_keys
    assert SPEC_SECRET.removeprefix("whsec_") not in repr(read_secret("env:BUS_TEST_SECRET"))
    with pytest.raises(SecretError, match="BUS_TEST_MISSING is not set"):
        read_secret("env:BUS_TEST_MISSING")
    monkeypatch.setenv("BUS_TEST_SECRET", "plain-password")
    with pytest.raises(SecretError, match="must start with whsec_") as refused:
        read_secret("env:BUS_TEST_SECRET")
    assert "plain-password" not in str(refused.value)
    with pytest.raises(SecretError, match="env:NAME or file:/path"):
        read_secret(SPEC_SECRET)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("fd00:ec2::254", "private"),
        ("100.100.100.200", "metadata"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("100.64.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_internal_destinations_are_refused(address: str, reason: str | None) -> None:
    assert forbidden(ipaddress.ip_address(address)) == reason


async def test_a_listed_network_is_allowed_and_others_stay_refused() -> None:
    await DestinationGuard("http://127.0.0.1:8000/hook", ["127.0.0.0/8"]).check()
    with pytest.raises(RefusedDestinationError, match=r"169\.254\.169\.254, a link-local"):
        await DestinationGuard("http://169.254.169.254/latest", ["127.0.0.0/8"]).check()
    with pytest.raises(RefusedDestinationError, match="loopback"):
        await DestinationGuard("https://localhost/hook").check()


async def test_the_breaker_opens_after_the_threshold_and_one_probe_closes_it() -> None:
    changes: list[Circuit] = []

    async def note(state: Circuit) -> None:
        changes.append(state)

    breaker = CircuitBreaker("g.unit", threshold=2, cooldown_s=0.0, on_change=note)
    assert breaker.retry_in() is None
    await breaker.failed()
    assert breaker.state is Circuit.CLOSED
    await breaker.failed()
    assert breaker.state is Circuit.OPEN
    assert breaker.retry_in() is None  # the cooldown (0 s) passed: this caller is the probe
    assert breaker.state is Circuit.HALF_OPEN
    assert breaker.retry_in() is not None  # only one probe at a time
    await breaker.failed()
    assert breaker.state is Circuit.OPEN
    assert breaker.retry_in() is None
    await breaker.succeeded()
    assert breaker.state is Circuit.CLOSED
    assert changes == [Circuit.OPEN, Circuit.OPEN, Circuit.CLOSED]


def test_retry_topics_grow_and_the_last_repeats_until_the_horizon() -> None:
    policy = RetryPolicy.over_horizon(5, 3 * 24 * 3600)
    assert policy.topic_delays_s == (5, 25, 125, 625, 3125, 15625)
    assert policy.attempts == 1
    error = RuntimeError("503")
    assert [policy.next_stage(s, error) for s in range(6)] == [1, 2, 3, 4, 5, 6]
    now = datetime.now(UTC)
    assert policy.next_stage(6, error, now - timedelta(days=2)) == 6
    assert policy.next_stage(6, error, now - timedelta(days=3, seconds=1)) is None
    assert policy.next_stage(6, error) is None
    assert RetryPolicy().next_stage(3, error, now) is None  # no horizon: one pass, then DLQ
    # A Retry-After of 100 s waits on the 125 s stage, so it holds up nobody queued behind it.
    assert policy.stage_for(100, at_least=1) == 3
    assert policy.stage_for(100, at_least=4) == 4
    assert policy.stage_for(10**6, at_least=1) == 6


def test_retry_after_in_seconds_or_as_a_date_never_longer_than_the_last_stage() -> None:
    now = datetime(2026, 12, 2, 2, 0, 0, tzinfo=UTC)
    longest = 4 * 3600.0
    assert _retry_after("120", now, longest) == 120.0
    assert _retry_after("Wed, 02 Dec 2026 02:00:30 GMT", now, longest) == 30.0
    # A receiver asking for a year, or for more seconds than a float holds, gets the last stage.
    assert _retry_after("31536000", now, longest) == longest
    assert _retry_after("9" * 400, now, longest) == longest
    assert _retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now, longest) == longest
    # Unreadable answers are no Retry-After at all, never an error.
    for value in ("soon", "\u00b2", "-5", "1e9", "Mon, 99 Foo 2026 99:99:99 GMT", None):
        assert _retry_after(value, now, longest) is None


def _with(delivery: Delivery) -> Catalog:
    return catalog.with_deliveries([delivery])


def test_no_agreement_no_delivery_and_each_field_is_checked() -> None:
    good = catalog.delivery("bapenda.sipd.izin-webhook")
    assert good is not None
    _with(good)
    with pytest.raises(CatalogError, match="no agreement, no delivery"):
        _with(replace(good, system="bpkad.sipkd"))
    with pytest.raises(CatalogError, match="must be https://"):
        _with(replace(good, endpoint="http://sipd.bapenda.riau.go.id/hook"))
    with pytest.raises(CatalogError, match="by reference"):
        _with(replace(good, secret=SPEC_SECRET))
    with pytest.raises(CatalogError, match="not a CIDR"):
        _with(replace(good, allow_networks=("loopback",)))


async def test_the_rate_limit_spaces_requests() -> None:
    import time

    from adapters.webhook.delivery import _Pace

    pace = _Pace(50.0)
    started = time.monotonic()
    for _ in range(6):
        await pace.wait()
    # Six requests at 50/s: the sixth no sooner than 5 intervals of 20 ms after the first.
    assert time.monotonic() - started >= 0.1


def test_binary_mode_header_values_are_percent_encoded_as_the_binding_says() -> None:
    # The HTTP binding's own example (§3.1.3.2), and what must never reach a header raw.
    assert header_value("Euro \u20ac \U0001f600") == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert header_value('say "100%"\r\nx: y') == "say%20%22100%25%22%0D%0Ax:%20y"
    assert header_value("dpmptsp.izin.terbit/v1") == "dpmptsp.izin.terbit/v1"
