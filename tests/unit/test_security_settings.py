"""TLS and SASL settings: every client gets a context and credentials; secrets are never shown.

A real TLS handshake against a loopback server proves the context trusts the CA, checks the
host name and presents the client certificate; the Kafka module proves it against brokers
(tests/integration/test_secure_kafka.py).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bus.acl import check_identity
from bus.acl.principals import credential_principal
from bus.broker import clients
from bus.broker.certificates import CertificateAuthority
from bus.broker.tls import ssl_context
from bus.config import BusSettings
from bus.errors import IdentityMismatchError, SecuritySettingsError
from bus.publish import Publisher
from bus.subscribe import Subscriber
from schemas import IzinTerbit

SECRET = "s3cret-Pa55w0rd-never-shown"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and an encrypted client certificate."""
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create("test CA")
    ca.write_ca(directory)
    ca.issue("localhost", hosts=["127.0.0.1", "localhost"]).write(directory, "server")
    ca.issue("bapenda.sipd", client=True).write(directory, "client", SECRET.encode())
    return directory


def secure(pki: Path, **overrides: Any) -> BusSettings:
    """SASL_SSL settings as system bapenda.sipd, with mTLS files too."""
    options: dict[str, Any] = {
        "bootstrap_servers": "127.0.0.1:1",
        "security_protocol": "SASL_SSL",
        "ssl_cafile": pki / "ca.crt",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "bapenda.sipd",
        "sasl_password": SECRET,
        **overrides,
    }
    return BusSettings(**options)


def test_plaintext_has_no_context_and_no_credentials() -> None:
    options = clients.connection(BusSettings())

    assert options["ssl_context"] is None
    assert "sasl_plain_password" not in options


async def test_every_client_gets_the_context_and_the_sasl_credentials(pki: Path) -> None:
    settings = secure(pki)

    made = [
        clients.producer(settings),
        clients.consumer(settings, group_id="g"),
        clients.admin(settings),
    ]

    inners = [made[0].client, made[1]._client, made[2]._client]
    for inner in inners:
        assert isinstance(inner._ssl_context, ssl.SSLContext)
        assert inner._security_protocol == "SASL_SSL"
        assert inner._sasl_mechanism == "SCRAM-SHA-512"
        assert inner._sasl_plain_username == "bapenda.sipd"
        assert inner._sasl_plain_password == SECRET
    assert inners[0]._ssl_context.check_hostname is True
    await made[0].stop()
    await made[1].stop()
    await made[2].close()


async def test_sasl_without_a_password_is_a_clear_error(pki: Path) -> None:
    with pytest.raises(SecuritySettingsError, match="BUS_SASL_PASSWORD"):
        clients.producer(secure(pki, sasl_password=None))


def test_the_password_comes_from_a_file(pki: Path, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(SECRET + "\n")

    settings = secure(pki, sasl_password=None, sasl_password_file=tmp_path / "pw")

    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == SECRET


async def test_tls_handshake_trusts_the_ca_checks_the_host_and_presents_the_client_cert(
    pki: Path,
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki / "ca.crt")
    server_context.load_cert_chain(pki / "server.crt", pki / "server.key")
    server_context.verify_mode = ssl.CERT_REQUIRED
    peers: list[Any] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peercert"))
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    settings = secure(
        pki,
        security_protocol="SSL",
        ssl_certfile=pki / "client.crt",
        ssl_keyfile=pki / "client.key",
        ssl_key_password=SECRET,
    )
    async with server:
        context = ssl_context(settings)
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.close()
        # A name the server certificate does not carry is refused.
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="kafka.example"
            )

    assert dict(x[0] for x in peers[0]["subject"]) == {"commonName": "bapenda.sipd"}
    assert credential_principal(settings) == "User:bapenda.sipd"  # the mTLS identity


def test_a_wrong_key_password_names_the_files_not_the_password(pki: Path) -> None:
    settings = secure(
        pki,
        ssl_certfile=pki / "client.crt",
        ssl_keyfile=pki / "client.key",
        ssl_key_password="wrong-" + SECRET,
    )

    with pytest.raises(SecuritySettingsError) as refused:
        ssl_context(settings)

    assert "client.crt" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_missing_ca_file_names_the_setting(pki: Path) -> None:
    with pytest.raises(SecuritySettingsError, match="BUS_SSL_CAFILE: cannot load"):
        ssl_context(secure(pki, ssl_cafile=pki / "missing.crt"))


def test_secrets_are_not_in_the_settings_repr_or_validation_errors(pki: Path) -> None:
    settings = secure(pki, admin_sasl_password=SECRET, ssl_key_password=SECRET)

    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())
    with pytest.raises(ValueError) as refused:
        secure(pki, sasl_mechanism="GSSAPI")
    assert SECRET not in str(refused.value)


def test_secrets_are_not_in_help_or_cli_errors(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BUS_SASL_PASSWORD": SECRET,
        "BUS_ADMIN_SASL_PASSWORD": SECRET,
        "BUS_SSL_KEY_PASSWORD": SECRET,
    }
    bus = str(Path(sys.executable).parent / "bus")
    outputs = []
    for args, extra in (
        (["--help"], {}),
        (["acl", "plan", "--help"], {}),
        (["acl", "apply", "--help"], {}),
        (["topics", "plan"], {"BUS_SASL_MECHANISM": "bogus"}),
        (["topics", "plan"], {"BUS_SASL_PASSWORD_FILE": str(tmp_path / "none")}),
    ):
        done = subprocess.run(
            [bus, *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        outputs.append(done.stdout + done.stderr)

    assert "BUS_SASL_MECHANISM: Input should be" in outputs[3]
    assert "Traceback" not in outputs[3] + outputs[4]
    assert not [output for output in outputs if SECRET in output]


def test_admin_commands_use_the_admin_principal(pki: Path) -> None:
    settings = secure(pki, admin_sasl_username="admin", admin_sasl_password="admin-" + SECRET)

    admin = settings.as_admin()

    assert admin.sasl_username == "admin"
    assert admin.sasl_password is not None
    assert admin.sasl_password.get_secret_value() == "admin-" + SECRET
    assert settings.sasl_username == "bapenda.sipd"  # the system's own settings are untouched


async def test_a_publisher_claiming_another_system_fails_at_start(pki: Path) -> None:
    settings = secure(pki)  # credentials of bapenda.sipd

    with pytest.raises(IdentityMismatchError) as refused:
        await Publisher("dpmptsp.sicantik", settings=settings).start()

    assert str(refused.value).startswith(
        "this client claims system 'dpmptsp.sicantik' but its credentials authenticate as "
        "'User:bapenda.sipd'"
    )


async def test_a_subscriber_claiming_another_system_fails_at_start(pki: Path) -> None:
    subscriber = Subscriber("dinkes.sikda", settings=secure(pki), enforce_agreements=False)

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit) -> None:
        raise AssertionError("never started")

    with pytest.raises(IdentityMismatchError, match=r"claims system 'dinkes\.sikda'"):
        await subscriber.start()


def test_own_credentials_and_the_bus_service_pass(pki: Path) -> None:
    check_identity(secure(pki), "bapenda.sipd")
    check_identity(secure(pki, sasl_username="opd-bus"), "dpmptsp.sicantik")
    check_identity(BusSettings(), "dpmptsp.sicantik")  # PLAINTEXT names nobody


async def test_a_subscriber_group_outside_its_system_id_fails_at_start(pki: Path) -> None:
    subscriber = Subscriber("bapenda.sipd", group="sipd-izin", settings=secure(pki))

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit) -> None:
        raise AssertionError("never started")

    with pytest.raises(SecuritySettingsError) as refused:
        await subscriber.start()

    assert str(refused.value) == (
        "consumer group 'sipd-izin' of system 'bapenda.sipd' must be 'bapenda.sipd' or start "
        "with 'bapenda.sipd.': the broker lets a system join only groups under its id"
    )
