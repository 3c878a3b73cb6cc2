"""Who a Kafka client is: the one place where principals and catalog systems are mapped.

    principal_of("bapenda.sipd")           # "User:bapenda.sipd"
    system_of("User:bapenda.sipd")         # "bapenda.sipd"; None for the bus's own principal
    credential_principal(settings)         # "User:bapenda.sipd" from SASL user or mTLS CN
    check_identity(settings, "dinkes.sikda")   # IdentityMismatchError: credentials differ
    check_identity(settings, "bapenda.sipd", group="sipd")   # not under its id: refused

A system authenticates as `User:<system id>`: its SCRAM user name is its system id, or its
client certificate's common name is (the brokers map a certificate's DN to its CN with
`ssl.principal.mapping.rules`). The bus's own services (ingress, outbox relay, monitor, DLQ
tools) authenticate as `User:opd-bus` and may publish for any owner, because they check the
ownership themselves (the ingress by API key). Settings without credentials (PLAINTEXT dev)
name nobody, and nothing is checked: the broker lets everyone in anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.errors import IdentityMismatchError, SecuritySettingsError

if TYPE_CHECKING:
    from bus.config import BusSettings

__all__ = [
    "BUS_PRINCIPAL",
    "SERVICE_USER",
    "check_identity",
    "credential_principal",
    "principal_of",
    "system_of",
]

#: The user name of the bus's own services.
SERVICE_USER = "opd-bus"
#: The principal of the bus's own services: HTTP ingress, outbox relay, monitor, DLQ tools.
BUS_PRINCIPAL = f"User:{SERVICE_USER}"


def principal_of(system_id: str) -> str:
    """The Kafka principal a system authenticates as."""
    return f"User:{system_id}"


def system_of(principal: str) -> str | None:
    """The system id a principal acts as; None for the bus's own or a non-user principal."""
    kind, _, name = principal.partition(":")
    if kind != "User" or not name or principal == BUS_PRINCIPAL:
        return None
    return name


def credential_principal(settings: BusSettings) -> str | None:
    """The principal the settings' credentials authenticate as, or None if they name nobody."""
    if settings.security_protocol.startswith("SASL_") and settings.sasl_username:
        return f"User:{settings.sasl_username}"
    if settings.security_protocol == "SSL" and settings.ssl_certfile is not None:
        return f"User:{_common_name(settings)}"
    return None


def check_identity(settings: BusSettings, system_id: str, group: str | None = None) -> None:
    """Refuse to act as `system_id` with another system's credentials (the bus's own may),
    and, for a consumer `group`, a group id the system's ACLs do not cover."""
    principal = credential_principal(settings)
    if principal is None or principal == BUS_PRINCIPAL:
        return
    if system_of(principal) != system_id:
        raise IdentityMismatchError(system_id, principal)
    if group is not None and group != system_id and not group.startswith(f"{system_id}."):
        raise SecuritySettingsError(
            f"consumer group {group!r} of system {system_id!r} must be {system_id!r} or start "
            f"with '{system_id}.': the broker lets a system join only groups under its id"
        )


def _common_name(settings: BusSettings) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    path = settings.ssl_certfile
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())  # type: ignore[union-attr]
    except (OSError, ValueError) as exc:
        raise SecuritySettingsError(
            f"BUS_SSL_CERTFILE: cannot read a PEM certificate from {path}: {exc}"
        ) from None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise SecuritySettingsError(f"BUS_SSL_CERTFILE: {path} has no common name (CN)")
    return str(names[0].value)
