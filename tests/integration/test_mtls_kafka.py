"""mTLS instead of SCRAM: a system's identity is its client certificate's common name.

One Apache Kafka node with an SSL listener that requires a client certificate, the
StandardAuthorizer and the catalog's ACLs; each user has a certificate of the cluster's CA
whose CN is its principal (`ssl.principal.mapping.rules`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from bus.broker import clients
from bus.broker.secure_cluster import ADMIN_USER, SecureCluster
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.errors import BrokerUnavailableError, IdentityMismatchError
from bus.publish import Publisher
from schemas import IzinTerbit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mtls(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    """A one-node cluster whose clients authenticate with certificates."""
    workdir = tmp_path_factory.mktemp("mtls-kafka")
    with SecureCluster(catalog, workdir, mtls=True) as cluster:
        asyncio.run(ensure_topics(catalog.event_types, cluster.settings_for(ADMIN_USER)))
        yield cluster


async def test_the_certificate_is_the_identity_the_acls_apply_to(
    mtls: SecureCluster, catalog: Catalog
) -> None:
    izin = IzinTerbit.model_validate(IzinTerbit.example)
    async with Publisher(
        "dpmptsp.sicantik", catalog=catalog, settings=mtls.settings_for("dpmptsp.sicantik")
    ) as owner:
        delivered = await owner.publish(izin)
    assert delivered.topic == "dpmptsp.izin.terbit.v1"

    producer = clients.producer(mtls.settings_for("bapenda.sipd"))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait("dpmptsp.izin.terbit.v1", b"{}", key=b"forged")
    finally:
        await producer.stop()


async def test_a_publisher_with_another_systems_certificate_fails_at_start(
    mtls: SecureCluster, catalog: Catalog
) -> None:
    publisher = Publisher(
        "dpmptsp.sicantik", catalog=catalog, settings=mtls.settings_for("bapenda.sipd")
    )
    with pytest.raises(IdentityMismatchError, match=r"'User:bapenda\.sipd'"):
        await publisher.start()


async def test_a_client_without_a_certificate_is_refused(mtls: SecureCluster) -> None:
    anonymous = mtls.settings_for("bapenda.sipd").model_copy(
        update={"ssl_certfile": None, "ssl_keyfile": None, "request_timeout_ms": 5000}
    )
    with pytest.raises(BrokerUnavailableError):
        async with clients.admin_session(anonymous):
            pass
