"""TLS to the broker: the `ssl.SSLContext` every aiokafka client gets under SSL and SASL_SSL.

    context = ssl_context(settings)     # None under PLAINTEXT and SASL_PLAINTEXT

aiokafka takes no CA or certificate paths, only a context (without one it stops with
"ssl_context is mandatory"). The context trusts `BUS_SSL_CAFILE` (the system's trust store if
unset), checks the broker's host name, speaks TLS 1.2 or later, and presents
`BUS_SSL_CERTFILE`/`BUS_SSL_KEYFILE` for mutual TLS when they are set. Errors name the setting
and the file, never a password.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from bus.errors import SecuritySettingsError

if TYPE_CHECKING:
    from bus.config import BusSettings

__all__ = ["ssl_context", "uses_tls"]


def uses_tls(settings: BusSettings) -> bool:
    """True if the settings' security protocol encrypts the connection."""
    return settings.security_protocol in ("SSL", "SASL_SSL")


def ssl_context(settings: BusSettings) -> ssl.SSLContext | None:
    """The client TLS context of the settings, or None if the protocol has no TLS."""
    if not uses_tls(settings):
        return None
    cafile = settings.ssl_cafile
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(cafile) if cafile else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise SecuritySettingsError(
            f"BUS_SSL_CAFILE: cannot load CA certificates from {cafile}: {_reason(exc)}"
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile is not None:
        password = settings.ssl_key_password
        try:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
                password.get_secret_value() if password else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise SecuritySettingsError(
                f"BUS_SSL_CERTFILE/BUS_SSL_KEYFILE: cannot load the client certificate "
                f"{settings.ssl_certfile} with key {settings.ssl_keyfile or '(in the same file)'}: "
                f"{_reason(exc)} (is BUS_SSL_KEY_PASSWORD right?)"
            ) from None
    elif settings.ssl_keyfile is not None:
        raise SecuritySettingsError("BUS_SSL_KEYFILE is set without BUS_SSL_CERTFILE")
    return context


def _reason(exc: BaseException) -> str:
    # OSError carries the file name twice; SSLError its library reason. Neither a password.
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
