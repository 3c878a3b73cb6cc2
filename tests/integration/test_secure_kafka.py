"""The broker enforces the catalog: Apache Kafka with TLS, SASL/SCRAM and the StandardAuthorizer.

One secure cluster for the module (`bus.broker.secure_cluster`): a SCRAM user per catalog
system, the bus's own `opd-bus`, an admin, and the catalog's ACLs. Every client below connects
over SASL_SSL as a system, and each test asserts what Kafka itself allows or refuses:

- a system without an agreement cannot read a topic; no system can write another OPD's topic;
- a record whose ce_source is not the owner's (a misused credential) is dead-lettered;
- a consumer uses its own retry and dead-letter topics and no one else's;
- after an agreement is removed and `bus acl apply --allow-delete` runs, access stops;
- Satu Data, with its credentials and a raw Kafka client, finds no field it was not granted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from bus.acl import acl_bindings, apply_acl_plan, cluster_acls, plan_acls
from bus.broker import clients
from bus.broker.secure_cluster import ADMIN_USER, SecureCluster
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import BrokerUnavailableError, IdentityMismatchError
from bus.projection import grant_topic
from bus.projection.projector import Projector
from bus.publish import Publisher
from bus.reliability.naming import dlq_topic
from bus.subscribe import Subscriber
from bus.testing import end_offsets, read_to_end, wait_until
from bus.testing.subscribers import running
from schemas import AsnMutasi, IzinTerbit, PkbDibayar

pytestmark = pytest.mark.integration

IZIN_TOPIC = "dpmptsp.izin.terbit.v1"
PKB_TOPIC = "bapenda.pkb.dibayar.v1"
HOTSPOT_TOPIC = "bpbd.hotspot.terdeteksi.v1"


@pytest.fixture(scope="module")
def secure(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    """A one-node secure cluster with the catalog's topics and ACLs."""
    with SecureCluster(catalog, tmp_path_factory.mktemp("secure-kafka")) as cluster:
        asyncio.run(ensure_topics(catalog.event_types, cluster.settings_for(ADMIN_USER)))
        yield cluster


def as_system(secure: SecureCluster, user: str, **changes: Any) -> BusSettings:
    """Test-speed settings connecting as `user`."""
    return secure.settings_for(
        user,
        BusSettings(
            consumer_session_timeout_ms=6000,
            consumer_heartbeat_interval_ms=500,
            consumer_fetch_timeout_ms=50,
            request_timeout_ms=10_000,
            **changes,
        ),
    )


def admin_environment(secure: SecureCluster) -> dict[str, str]:
    """The environment of a `bus` command run by the operator (the admin principal)."""
    admin = secure.settings_for(ADMIN_USER)
    assert admin.sasl_password is not None
    return {
        **os.environ,
        "BUS_BOOTSTRAP_SERVERS": secure.bootstrap_servers,
        "BUS_SECURITY_PROTOCOL": "SASL_SSL",
        "BUS_SSL_CAFILE": str(admin.ssl_cafile),
        "BUS_SASL_MECHANISM": "SCRAM-SHA-512",
        "BUS_ADMIN_SASL_USERNAME": ADMIN_USER,
        "BUS_ADMIN_SASL_PASSWORD": admin.sasl_password.get_secret_value(),
    }


async def read_all(settings: BusSettings, topic: str) -> list[Any]:
    """Every record of `topic` now, read with `settings`' credentials (no group)."""
    return await read_to_end(
        settings, dict.fromkeys(await clients_partitions(settings, topic), 0), deadline_s=30
    )


async def clients_partitions(settings: BusSettings, topic: str) -> list[TopicPartition]:
    consumer = clients.consumer(settings, group_id=None)
    await consumer.start()
    try:
        return await clients.topic_partitions(consumer, topic)
    finally:
        await clients.stop_consumer(consumer)


async def fetch_refused(settings: BusSettings, topic: str) -> KafkaError:
    """The error Kafka gives `settings`' user consuming `topic` (in a group it may use)."""
    group = f"{settings.sasl_username}.probe-{uuid.uuid4().hex[:8]}"
    consumer = clients.consumer(settings, topic, group_id=group)
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getone(), 20)
    except KafkaError as exc:
        return exc
    finally:
        await clients.stop_consumer(consumer)
    raise AssertionError(f"{settings.sasl_username} read {topic}")


async def test_a_system_without_an_agreement_cannot_read_the_topic(secure: SecureCluster) -> None:
    # dinkes.sikda has no agreement for licences; bapenda.sipd has one, but partial (its
    # grant topic), so neither may read the licence topic itself.
    for user in ("dinkes.sikda", "bapenda.sipd"):
        refused = await fetch_refused(as_system(secure, user), IZIN_TOPIC)
        assert isinstance(refused, TopicAuthorizationFailedError), refused


async def test_a_system_cannot_write_another_opds_topic(
    secure: SecureCluster, catalog: Catalog
) -> None:
    # The SDK refuses before sending (NotOwnerError); a raw producer with bapenda's
    # credentials is refused by Kafka itself.
    settings = as_system(secure, "bapenda.sipd")
    producer = clients.producer(settings)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(IZIN_TOPIC, b"{}", key=b"forged")
    finally:
        await producer.stop()
    # The owner can.
    async with Publisher(
        "dpmptsp.sicantik", catalog=catalog, settings=as_system(secure, "dpmptsp.sicantik")
    ) as owner:
        delivered = await owner.publish(IzinTerbit.model_validate(IzinTerbit.example))
    assert delivered.topic == IZIN_TOPIC


async def test_a_publisher_with_another_systems_credentials_fails_at_start(
    secure: SecureCluster, catalog: Catalog
) -> None:
    publisher = Publisher(
        "dpmptsp.sicantik", catalog=catalog, settings=as_system(secure, "bapenda.sipd")
    )
    with pytest.raises(IdentityMismatchError):
        await publisher.start()


async def test_a_wrong_password_is_refused_without_showing_it(secure: SecureCluster) -> None:
    wrong = "not-the-password-" + secure.passwords["bapenda.sipd"][:8]
    settings = as_system(secure, "bapenda.sipd").model_copy(
        update={"sasl_password": SecretStr(wrong)}
    )
    with pytest.raises(BrokerUnavailableError) as refused:
        async with clients.admin_session(settings):
            pass
    assert wrong not in str(refused.value)
    assert "they refused user 'bapenda.sipd'; check BUS_SASL_USERNAME" in str(refused.value)


async def test_forged_ce_source_is_dead_lettered(
    secure: SecureCluster, catalog: Catalog, unique: str
) -> None:
    # bpkad.sipkd receives PKB payments whole. The bus's own principal may write the topic
    # (the ingress publishes for owners); misused, it writes a record claiming DPMPTSP.
    group = f"bpkad.sipkd.forged-{unique}"
    sipkd = as_system(secure, "bpkad.sipkd", retry_topic_delays_s=(0.1,), retry_attempts=1)
    handled: list[Envelope] = []
    subscriber = Subscriber("bpkad.sipkd", group=group, catalog=catalog, settings=sipkd)

    @subscriber.handler(PkbDibayar)
    async def on_pkb(pkb: PkbDibayar, envelope: Envelope) -> None:
        handled.append(envelope)

    key = f"forged-{unique}".encode()
    value = PkbDibayar.model_validate(PkbDibayar.example).model_dump_json().encode()
    forged = Envelope.new(source="/riau/dpmptsp/sicantik", type=PkbDibayar.event_type().type)
    producer = clients.producer(as_system(secure, "opd-bus"))
    await producer.start()
    try:
        async with running(subscriber):
            start = await end_offsets(sipkd, dlq_topic(group))
            await producer.send_and_wait(PKB_TOPIC, value, key=key, headers=forged.to_headers())

            async def dead_lettered() -> list[Any]:
                return [r for r in await read_to_end(sipkd, start) if r.key == key]

            await wait_until(dead_lettered, timeout=30, message="forged record dead-lettered")
    finally:
        await producer.stop()
    assert [e for e in handled if e.key == key] == []
    assert subscriber.stats.invalid >= 1


async def test_a_consumer_uses_its_own_retry_and_dlq_topics_and_no_one_elses(
    secure: SecureCluster, catalog: Catalog, unique: str
) -> None:
    sipkd = as_system(secure, "bpkad.sipkd")
    # Its subscriber creates and joins its retry lane (CREATE, READ, WRITE on its prefixes).
    subscriber = Subscriber(
        "bpkad.sipkd", group=f"bpkad.sipkd.own-{unique}", catalog=catalog, settings=sipkd
    )

    @subscriber.handler(PkbDibayar)
    async def on_pkb(pkb: PkbDibayar) -> None:
        pass

    async with running(subscriber):
        pass
    producer = clients.producer(sipkd)
    await producer.start()
    try:
        own = await producer.send_and_wait(dlq_topic(f"bpkad.sipkd.own-{unique}"), b"{}")
        assert own.offset >= 0
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(dlq_topic("dinkes.sikda"), b"{}")
    finally:
        await producer.stop()
    refused = await fetch_refused(sipkd, dlq_topic("dinkes.sikda"))
    assert isinstance(refused, TopicAuthorizationFailedError)
    # A consumer group outside its prefix is refused as well.
    intruder = clients.consumer(sipkd, PKB_TOPIC, group_id=f"dinkes.sikda.{unique}")
    with pytest.raises(GroupAuthorizationFailedError):
        await intruder.start()
        await asyncio.wait_for(intruder.getone(), 20)
    await clients.stop_consumer(intruder)


async def test_satu_data_with_a_raw_client_finds_no_field_it_was_not_granted(
    secure: SecureCluster, catalog: Catalog, unique: str
) -> None:
    satu_data = as_system(secure, "diskominfotik.satudata")
    izin = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": f"503/SD/{unique}"})
    async with Publisher(
        "dpmptsp.sicantik", catalog=catalog, settings=as_system(secure, "dpmptsp.sicantik")
    ) as owner:
        await owner.publish(izin)
    stop = asyncio.Event()
    topic = grant_topic("diskominfotik.satudata", IZIN_TOPIC)
    async with Projector(as_system(secure, "opd-bus"), catalog) as projector:
        task = asyncio.create_task(projector.run(stop))
        try:

            async def projected() -> bool:
                try:
                    records = await read_all(satu_data, topic)
                except KafkaError:
                    return False
                return any(r.key == izin.nomor_izin.encode() for r in records)

            await wait_until(projected, timeout=60, message="licence on Satu Data's grant topic")
        finally:
            stop.set()
            await task

    # The source topic is closed to Satu Data; its grant topic holds five fields per record.
    refused = await fetch_refused(satu_data, IZIN_TOPIC)
    assert isinstance(refused, TopicAuthorizationFailedError)
    fields = set().union(*(orjson.loads(r.value).keys() for r in await read_all(satu_data, topic)))
    granted = catalog.granted_fields("diskominfotik.satudata", IzinTerbit.event_type().type)
    assert fields == granted == {
        "jenis_izin", "kbli", "kode_wilayah", "tanggal_terbit", "nilai_investasi"
    }  # fmt: skip
    # Another system's grant topic is closed to it too.
    refused = await fetch_refused(satu_data, grant_topic("bapenda.sipd", IZIN_TOPIC))
    assert isinstance(refused, TopicAuthorizationFailedError)


async def test_plan_is_empty_after_apply_and_access_stops_when_an_agreement_is_removed(
    secure: SecureCluster, catalog: Catalog
) -> None:
    admin = secure.settings_for(ADMIN_USER)
    assert plan_acls(acl_bindings(catalog), await cluster_acls(admin)).empty
    dlhk = as_system(secure, "dlhk.simlhk")
    assert await read_all(dlhk, HOTSPOT_TOPIC) is not None  # allowed today

    # dlhk.simlhk's hotspot agreement is revoked in the catalog.
    revoked = catalog.__class__(
        systems=catalog.systems,
        event_types=[et.data for et in catalog.event_types],
        subscriptions=[
            s
            for s in catalog.subscriptions
            if not (s.system == "dlhk.simlhk" and s.event_type.endswith("hotspot.terdeteksi"))
        ],
    )
    plan = plan_acls(acl_bindings(revoked), await cluster_acls(admin))
    assert [str(b) for b in plan.remove] == [
        f"User:dlhk.simlhk ALLOW READ TOPIC LITERAL {HOTSPOT_TOPIC}",
        f"User:dlhk.simlhk ALLOW DESCRIBE TOPIC LITERAL {HOTSPOT_TOPIC}",
    ]
    kept = await apply_acl_plan(plan, admin, allow_delete=False)
    assert kept.left == plan.remove  # without --allow-delete nothing is removed
    assert await read_all(dlhk, HOTSPOT_TOPIC) is not None
    try:
        removed = await apply_acl_plan(plan, admin, allow_delete=True)
        assert removed.removed == 2

        async def refused() -> bool:
            error = await fetch_refused(dlhk, HOTSPOT_TOPIC)
            return isinstance(error, TopicAuthorizationFailedError)

        await wait_until(refused, timeout=30, message="dlhk.simlhk refused after the revocation")
        assert plan_acls(acl_bindings(revoked), await cluster_acls(admin)).empty
    finally:
        await secure.apply_catalog_acls()  # the agreement back, for the other tests


def test_bus_acl_plan_cli_reads_the_cluster_as_admin(secure: SecureCluster) -> None:
    admin = secure.settings_for(ADMIN_USER)
    assert admin.sasl_password is not None
    env = admin_environment(secure)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("bus")), "acl", "plan"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "0 to add" in done.stdout and "0 to remove" in done.stdout
    assert "No changes: the cluster's ACLs match the catalog." in done.stdout
    assert admin.sasl_password.get_secret_value() not in done.stdout + done.stderr


async def test_bus_credentials_issue_gives_a_system_its_own_kafka_identity(
    secure: SecureCluster, catalog: Catalog, tmp_path: Path
) -> None:
    password_file = tmp_path / "bkd.simpeg.password"
    env = admin_environment(secure)
    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("bus")), "credentials", "issue", "bkd.simpeg",
         "--password-file", str(password_file)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "SCRAM user 'bkd.simpeg' set" in done.stderr

    settings = as_system(secure, "bkd.simpeg").model_copy(
        update={"sasl_password": None, "sasl_password_file": password_file}
    )
    settings = BusSettings.model_validate(settings.model_dump())  # reads the password file
    async with Publisher("bkd.simpeg", catalog=catalog, settings=settings) as bkd:
        delivered = await bkd.publish(AsnMutasi.model_validate(AsnMutasi.example))
    assert delivered.topic == "bkd.asn.mutasi.v1"
    # The password it had before no longer works.
    with pytest.raises(BrokerUnavailableError):
        async with clients.admin_session(as_system(secure, "bkd.simpeg")):
            pass
