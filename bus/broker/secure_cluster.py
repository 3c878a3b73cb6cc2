"""Apache Kafka run the way production runs it: TLS, SASL/SCRAM, the StandardAuthorizer, and
one user per catalog system (`bus dev --broker kafka --secure`, and the security tests).

    with SecureCluster(catalog, workdir) as cluster:
        settings = cluster.settings_for("bapenda.sipd", base)   # SASL_SSL as that system
        admin = cluster.settings_for(ADMIN_USER, base)          # the super user
        cluster.write_credentials(Path(".bus/dev/credentials.json"))

Clients connect on one SASL_SSL listener; the brokers present a certificate of the cluster's
own CA (for 127.0.0.1 and localhost), and authenticate each other and the controllers with it
on an SSL listener that requires a client certificate. Every user (the admin, the bus's own
`opd-bus`, each system) is a SCRAM-SHA-512 user created when storage is formatted, with a
random password. `allow.everyone.if.no.acl.found=false`: nothing is allowed until the
catalog's ACLs are applied (`start` does it, as the admin).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import SecretStr

from bus.acl import acl_bindings, apply_acls
from bus.acl.principals import SERVICE_USER
from bus.broker import clients
from bus.broker.apache_kafka import KafkaCluster, KafkaInstallation
from bus.broker.certificates import CertificateAuthority
from bus.catalog import Catalog
from bus.config import BusSettings

__all__ = ["ADMIN_USER", "BROKER_PRINCIPAL", "SecureCluster", "secure_broker_properties"]

#: The super user that administers the cluster (topics, ACLs, users).
ADMIN_USER = "admin"
#: The brokers' and controllers' own principal: their certificate's common name.
BROKER_PRINCIPAL = "kafka-broker"
MECHANISM = "SCRAM-SHA-512"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


def secure_broker_properties(
    *, keystore: Path, key_password: str, truststore: Path, admin_password: str | None
) -> dict[str, str]:
    """Server properties of a secure node, on top of the launcher's (listener `SASL_SSL`,
    controller listener `SSL`); docker-compose.yml sets the same ones. Without an admin
    password the client listener is `SSL` and requires a client certificate (mTLS)."""
    if admin_password is None:
        authentication = {"ssl.client.auth": "required"}
    else:
        authentication = {
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                f'{_SCRAM_LOGIN} required username="{ADMIN_USER}" password="{admin_password}";'
            ),
        }
    return {
        **authentication,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(keystore),
        "ssl.keystore.password": key_password,
        "ssl.key.password": key_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(truststore),
        # Controllers accept only nodes with a certificate of the cluster's CA.
        "listener.name.controller.ssl.client.auth": "required",
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER};User:{BROKER_PRINCIPAL}",
    }


class SecureCluster:
    """A `KafkaCluster` with SASL_SSL, the StandardAuthorizer, SCRAM users and the catalog's
    ACLs."""

    def __init__(
        self,
        catalog: Catalog,
        workdir: Path,
        *,
        nodes: int = 1,
        host: str = "127.0.0.1",
        port: int | None = None,
        installation: KafkaInstallation | None = None,
        heap: str = "512m",
        mtls: bool = False,
    ) -> None:
        """`mtls`: clients authenticate with certificates (CN = user) on an SSL listener
        instead of SCRAM on SASL_SSL."""
        self.catalog = catalog
        self.mtls = mtls
        self.workdir = workdir
        self.pki = workdir / "pki"
        users = [ADMIN_USER, SERVICE_USER, *sorted(s.id for s in catalog.systems)]
        self.passwords: dict[str, str] = {user: secrets.token_urlsafe(24) for user in users}
        key_password = secrets.token_urlsafe(24)
        ca = CertificateAuthority.create("OPD Bus dev CA")
        ca.write_ca(self.pki)
        broker = ca.issue(BROKER_PRINCIPAL, hosts=sorted({host, "127.0.0.1", "localhost"}))
        keystore = self.pki / "broker.keystore.p12"
        keystore.write_bytes(broker.keystore_pkcs12(key_password.encode(), [ca.certificate]))
        keystore.chmod(0o600)
        self.cafile = self.pki / "ca.crt"
        if mtls:
            for user in users:
                ca.issue(user, client=True).write(self.pki, user)
        scram = [
            f"{MECHANISM}=[name={user},password={password}]"
            for user, password in self.passwords.items()
        ]
        self.kafka = KafkaCluster(
            nodes,
            host=host,
            port=port,
            workdir=workdir / "kafka",
            installation=installation,
            heap=heap,
            listener="SSL" if mtls else "SASL_SSL",
            controller_protocol="SSL",
            overrides=secure_broker_properties(
                keystore=keystore,
                key_password=key_password,
                truststore=self.cafile,
                admin_password=None if mtls else self.passwords[ADMIN_USER],
            ),
            format_args=[] if mtls else [a for e in scram for a in ("--add-scram", e)],
        )
        admin = self.settings_for(ADMIN_USER)
        self.kafka.client_options = {
            k: v for k, v in clients.connection(admin).items() if k != "bootstrap_servers"
        }

    @property
    def bootstrap_servers(self) -> str:
        """The SASL_SSL listeners of every node."""
        return self.kafka.bootstrap_servers

    def settings_for(self, user: str, base: BusSettings | None = None) -> BusSettings:
        """`base` connecting as `user` (a system id, `opd-bus` or `admin`) over SASL_SSL."""
        return (base or BusSettings()).model_copy(update=self.client_settings(user))

    def client_settings(self, user: str) -> dict[str, Any]:
        """`BusSettings` fields that connect as `user`."""
        if self.mtls:
            return {
                "bootstrap_servers": self.bootstrap_servers,
                "security_protocol": "SSL",
                "ssl_cafile": self.cafile,
                "ssl_certfile": self.pki / f"{user}.crt",
                "ssl_keyfile": self.pki / f"{user}.key",
                "admin_ssl_certfile": self.pki / f"{ADMIN_USER}.crt",
                "admin_ssl_keyfile": self.pki / f"{ADMIN_USER}.key",
            }
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "ssl_cafile": self.cafile,
            "sasl_mechanism": MECHANISM,
            "sasl_username": user,
            "sasl_password": SecretStr(self.passwords[user]),
            "admin_sasl_username": ADMIN_USER,
            "admin_sasl_password": SecretStr(self.passwords[ADMIN_USER]),
        }

    def start(self) -> SecureCluster:
        """Start the nodes, then apply the catalog's ACLs as the admin."""
        self.kafka.start()
        try:
            asyncio.run(self.apply_catalog_acls())
        except BaseException:
            self.kafka.stop()
            raise
        return self

    async def apply_catalog_acls(self) -> int:
        """Create the catalog's ACL bindings (idempotent)."""
        return await apply_acls(acl_bindings(self.catalog), self.settings_for(ADMIN_USER))

    def stop(self) -> None:
        """Stop the nodes."""
        self.kafka.stop()

    def credentials(self) -> dict[str, Any]:
        """What other processes need to connect: bootstrap, CA and every user's password."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "ssl_cafile": str(self.cafile),
            "admin": {"username": ADMIN_USER, "password": self.passwords[ADMIN_USER]},
            "systems": {
                user: {"username": user, "password": password}
                for user, password in self.passwords.items()
                if user != ADMIN_USER
            },
        }

    def write_credentials(self, path: Path) -> None:
        """Write `credentials()` as JSON, readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(self.credentials(), file, indent=2)
            file.write("\n")

    def __enter__(self) -> SecureCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def settings_from_credentials(
    credentials: Mapping[str, Any], user: str, base: BusSettings | None = None
) -> BusSettings:
    """Settings connecting as `user` from a `.bus/dev/credentials.json` document."""
    entry = credentials["admin"] if user == ADMIN_USER else credentials["systems"][user]
    return (base or BusSettings()).model_copy(
        update={
            "bootstrap_servers": credentials["bootstrap_servers"],
            "security_protocol": credentials["security_protocol"],
            "ssl_cafile": Path(credentials["ssl_cafile"]),
            "sasl_mechanism": credentials["sasl_mechanism"],
            "sasl_username": entry["username"],
            "sasl_password": SecretStr(entry["password"]),
        }
    )
