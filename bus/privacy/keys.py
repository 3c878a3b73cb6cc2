"""The secrets behind masks and pseudonyms: from settings or files, never printed.

    use_keys(settings)        # once per process, before anything is logged or delivered

`BUS_PDP_MASK_KEY` (or the file named by `BUS_PDP_MASK_KEY_FILE`) keys the masks that replace
personal data in log lines and error messages; `BUS_PDP_PSEUDONYM_KEY` (or its file) keys the
per-agreement NIK pseudonyms and the subject index of the processing record, which must stay
the same across restarts. Without them a process makes random keys of its own (`bus dev`
makes one pair per run and shares it with its parts), unless `BUS_ENV=production`: then
`use_keys` raises `ConfigurationError` and the process does not start.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bus.config import BusSettings
from bus.errors import ConfigurationError

__all__ = ["Keys", "current_keys", "make_run_keys", "use_keys"]


@dataclass(frozen=True)
class Keys:
    """The mask key and the pseudonym key of this process."""

    mask: bytes
    pseudonym: bytes
    ephemeral: bool = False

    @classmethod
    def random(cls) -> Keys:
        """Keys made up for this process only (development)."""
        return cls(secrets.token_bytes(32), secrets.token_bytes(32), ephemeral=True)

    def derived(self, label: str) -> bytes:
        """A key for one purpose (one agreement's pseudonyms), derived from the pseudonym key."""
        return hmac.new(self.pseudonym, label.encode(), hashlib.sha256).digest()


_current: list[Keys] = []


def current_keys() -> Keys:
    """The keys `use_keys` installed, or random ones for this process if it was never called."""
    if not _current:
        _current.append(Keys.random())
    return _current[0]


def use_keys(settings: BusSettings) -> Keys:
    """Install the keys configured in `settings`; in production a missing key is an error."""
    mask = _secret(settings.pdp_mask_key, settings.pdp_mask_key_file, "BUS_PDP_MASK_KEY")
    pseudonym = _secret(
        settings.pdp_pseudonym_key, settings.pdp_pseudonym_key_file, "BUS_PDP_PSEUDONYM_KEY"
    )
    missing = [
        name
        for name, value in (("BUS_PDP_MASK_KEY", mask), ("BUS_PDP_PSEUDONYM_KEY", pseudonym))
        if value is None
    ]
    if missing and settings.env == "production":
        raise ConfigurationError(
            f"BUS_ENV=production needs {' and '.join(missing)} (or the *_FILE setting naming a "
            "file that holds it): without a key, masks in logs could not be correlated across "
            "processes and NIK pseudonyms would change on every restart"
        )
    fallback = current_keys() if not _current or _current[0].ephemeral else Keys.random()
    keys = Keys(
        mask=mask or fallback.mask,
        pseudonym=pseudonym or fallback.pseudonym,
        ephemeral=bool(missing),
    )
    _current[:] = [keys]
    return keys


def _secret(value: SecretStr | None, file: Path | None, name: str) -> bytes | None:
    if value is not None and value.get_secret_value():
        return value.get_secret_value().encode()
    if file is None:
        return None
    try:
        text = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"{name}_FILE {file} cannot be read: {exc.strerror}") from None
    if not text:
        raise ConfigurationError(f"{name}_FILE {file} is empty")
    return text.encode()


def make_run_keys(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """For `bus dev`: put random keys in `environ` where none is configured; the names set.

    Never in production, which must be given its keys. Set in the environment, not only in
    this process, so that every part `bus dev` runs (and its subprocesses) shares the keys.
    """
    if environ.get("BUS_ENV") == "production":
        return []
    made = []
    for name in ("BUS_PDP_MASK_KEY", "BUS_PDP_PSEUDONYM_KEY"):
        if not environ.get(name) and not environ.get(f"{name}_FILE"):
            environ[name] = secrets.token_hex(32)
            made.append(name)
    return made
