"""The monitor's counter window (rates from growing totals) and its access rules, without I/O."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import SecretStr

from bus.config import BusSettings
from bus.errors import BusError
from bus.monitor.access import MonitorAccess, host_name, is_loopback
from bus.monitor.window import CounterWindow


def test_increase_and_rate_over_the_window() -> None:
    window = CounterWindow[str](seconds=60)
    assert window.rate("t") is None
    window.observe(0, {"t": 100})
    window.observe(10, {"t": 104})
    window.observe(20, {"t": 110})
    assert window.increase("t") == 10
    assert window.rate("t") == 0.5
    # Samples older than the window go, but one stays as the window's baseline.
    window.observe(75, {"t": 111})
    assert window.span == 65
    assert window.increase("t") == 7


def test_a_restart_counts_from_zero_and_absent_counters_are_zero_when_asked() -> None:
    offsets = CounterWindow[str](seconds=60)
    offsets.observe(0, {"t": 50})
    offsets.observe(5, {"t": 3})  # counter reset: 3 new, never -47
    offsets.observe(10, {"t": 5, "new": 9})
    assert offsets.increase("t") == 5
    assert offsets.increase("new") == 0  # an offset first seen counts from there
    counters = CounterWindow[str](seconds=60, absent_is_zero=True)
    counters.observe(0, {})
    counters.observe(5, {"4xx": 2})  # a Prometheus series appears at its first increment
    assert counters.increase("4xx") == 2
    assert counters.series() == {"4xx"}


@pytest.mark.parametrize(
    ("header", "name"),
    [("localhost:8081", "localhost"), ("[::1]:8081", "::1"), ("::1", "::1"), ("A.B", "a.b")],
)
def test_host_names_drop_the_port(header: str, name: str) -> None:
    assert host_name(header) == name


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")


def test_a_token_from_settings_or_file_and_who_signed_in(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    for settings, token in (
        (BusSettings(monitor_token=SecretStr("from-settings")), "from-settings"),
        (BusSettings(monitor_token_file=str(token_file)), "from-a-file"),
    ):
        access = MonitorAccess.from_settings(settings, "0.0.0.0")
        basic = base64.b64encode(f"rina:{token}".encode()).decode()
        assert access.operator(f"Basic {basic}") == "rina"
        assert access.operator(f"Bearer {token}") == "token"
        assert access.operator("Bearer wrong") is None
        assert access.operator("") is None
        # Bound to every address: only loopback names and the listed ones are answered.
        assert access.allows_host("localhost:8081")
        assert not access.allows_host("0.0.0.0:8081")


def test_the_bind_address_and_listed_names_are_allowed_hosts() -> None:
    settings = BusSettings(
        monitor_token=SecretStr("t"), monitor_allowed_hosts=["monitor.riau.go.id"]
    )
    access = MonitorAccess.from_settings(settings, "10.0.0.5")
    assert access.allows_host("10.0.0.5:8081")
    assert access.allows_host("MONITOR.riau.go.id")
    assert not access.allows_host("evil.example")


def test_an_empty_or_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(BusError, match="is empty"):
        MonitorAccess.from_settings(BusSettings(monitor_token_file=str(empty)), "127.0.0.1")
    with pytest.raises(BusError, match="cannot read"):
        MonitorAccess.from_settings(
            BusSettings(monitor_token_file=str(tmp_path / "missing")), "127.0.0.1"
        )


def test_dev_mode_is_open_on_loopback_only() -> None:
    dev = BusSettings(monitor_open_on_loopback=True)
    assert MonitorAccess.from_settings(dev, "127.0.0.1").open
    with pytest.raises(BusError, match="needs a token"):
        MonitorAccess.from_settings(dev, "10.0.0.5")
