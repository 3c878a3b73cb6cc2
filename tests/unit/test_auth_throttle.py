"""The failed-authentication throttle: limits per address and key id, windows, refunds."""

from __future__ import annotations

from bus.ingress.throttle import FailureThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_after_its_limit_until_the_window_ends() -> None:
    clock = Clock()
    throttle = FailureThrottle(per_address=3, per_key=100, window_s=60, clock=clock)

    attempts = [throttle.attempt("10.0.0.1", None) for _ in range(3)]
    clock.now += 15
    refused = throttle.attempt("10.0.0.1", None)
    other = throttle.attempt("10.0.0.2", None)
    clock.now += 45
    again = throttle.attempt("10.0.0.1", None)

    assert attempts == [None, None, None]
    assert refused == 45  # Retry-After: the rest of the window
    assert other is None
    assert again is None


def test_a_key_id_is_refused_from_any_address() -> None:
    throttle = FailureThrottle(per_address=100, per_key=2, window_s=60, clock=Clock())

    answers = [throttle.attempt(f"10.0.0.{i}", "k1") for i in range(3)]

    assert answers == [None, None, 60]
    assert throttle.attempt("10.0.0.9", "k2") is None


def test_successful_attempts_are_refunded() -> None:
    throttle = FailureThrottle(per_address=2, per_key=2, window_s=60, clock=Clock())

    for _ in range(10):
        assert throttle.attempt("10.0.0.1", "k1") is None
        throttle.succeeded("10.0.0.1", "k1")


def test_memory_is_bounded() -> None:
    throttle = FailureThrottle(per_address=1, per_key=1, window_s=60, max_tracked=10, clock=Clock())

    for i in range(1000):
        throttle.attempt(f"10.0.{i // 256}.{i % 256}", f"k{i}")

    assert len(throttle._addresses._counts) == len(throttle._keys._counts) == 10
