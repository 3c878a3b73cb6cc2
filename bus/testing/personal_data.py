"""Personal data for tests: NIK-shaped values that belong to one test only.

A leak test searches logs, headers and pages for the NIK it published; a value made from the
test's `unique` suffix cannot be confused with one another test left on the shared broker.

    nik = nik_of(unique)        # "1471" + 12 digits, e.g. "1471093845127730"
"""

from __future__ import annotations

__all__ = ["nik_of"]


def nik_of(unique: str) -> str:
    """A NIK-shaped number of this test only (`unique` in hex): Pekanbaru's code and 12 digits."""
    return "1471" + f"{int(unique, 16) % 10**12:012d}"
