"""The exact Kafka ACL bindings the shipped catalog implies: reviewable line by line."""

from __future__ import annotations

import re

import pytest

from bus.acl import (
    AclBinding,
    ClusterAcls,
    Operation,
    PatternType,
    ResourceType,
    acl_bindings,
    plan_acls,
)
from bus.catalog import Catalog, System
from bus.errors import CatalogError

# Read it as a policy: owners WRITE their topics; each agreement lets its consumer READ one
# topic: the event type's if it grants every field, else its grant topic `bus.grant.<system>.
# <topic>` holding only the granted fields (written by the bus principal's projector, which
# READs those source topics); each consumer system READs its groups (PREFIXED `<system id>`) and
# owns its retry and dead-letter topics; the bus's service principal publishes for the ingress
# and relay and reads the bus's own topics. With an authorizer, anything not listed is denied.
SHIPPED = [
    "User:bapenda.samsat ALLOW WRITE TOPIC LITERAL bapenda.pkb.dibayar.v1",
    "User:bapenda.samsat ALLOW DESCRIBE TOPIC LITERAL bapenda.pkb.dibayar.v1",
    "User:bapenda.samsat ALLOW READ TOPIC LITERAL "
    "bus.grant.bapenda.samsat.disdukcapil.penduduk.pindah.v1",
    "User:bapenda.samsat ALLOW DESCRIBE TOPIC LITERAL "
    "bus.grant.bapenda.samsat.disdukcapil.penduduk.pindah.v1",
    "User:bapenda.samsat ALLOW READ TOPIC PREFIXED bus.dlq.bapenda.samsat",
    "User:bapenda.samsat ALLOW WRITE TOPIC PREFIXED bus.dlq.bapenda.samsat",
    "User:bapenda.samsat ALLOW CREATE TOPIC PREFIXED bus.dlq.bapenda.samsat",
    "User:bapenda.samsat ALLOW DESCRIBE TOPIC PREFIXED bus.dlq.bapenda.samsat",
    "User:bapenda.samsat ALLOW READ TOPIC PREFIXED bus.retry.bapenda.samsat",
    "User:bapenda.samsat ALLOW WRITE TOPIC PREFIXED bus.retry.bapenda.samsat",
    "User:bapenda.samsat ALLOW CREATE TOPIC PREFIXED bus.retry.bapenda.samsat",
    "User:bapenda.samsat ALLOW DESCRIBE TOPIC PREFIXED bus.retry.bapenda.samsat",
    "User:bapenda.samsat ALLOW READ GROUP PREFIXED bapenda.samsat",
    "User:bapenda.samsat ALLOW READ GROUP PREFIXED bus.dlq-replay.bapenda.samsat",
    "User:bapenda.samsat ALLOW READ GROUP PREFIXED bus.retry.bapenda.samsat",
    "User:bapenda.samsat ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster",
    "User:bapenda.sipd ALLOW READ TOPIC LITERAL bus.grant.bapenda.sipd.dpmptsp.izin.terbit.v1",
    "User:bapenda.sipd ALLOW DESCRIBE TOPIC LITERAL bus.grant.bapenda.sipd.dpmptsp.izin.terbit.v1",
    "User:bapenda.sipd ALLOW READ TOPIC LITERAL bus.grant.bapenda.sipd.dpmptsp.nib.terbit.v1",
    "User:bapenda.sipd ALLOW DESCRIBE TOPIC LITERAL bus.grant.bapenda.sipd.dpmptsp.nib.terbit.v1",
    "User:bapenda.sipd ALLOW READ TOPIC PREFIXED bus.dlq.bapenda.sipd",
    "User:bapenda.sipd ALLOW WRITE TOPIC PREFIXED bus.dlq.bapenda.sipd",
    "User:bapenda.sipd ALLOW CREATE TOPIC PREFIXED bus.dlq.bapenda.sipd",
    "User:bapenda.sipd ALLOW DESCRIBE TOPIC PREFIXED bus.dlq.bapenda.sipd",
    "User:bapenda.sipd ALLOW READ TOPIC PREFIXED bus.retry.bapenda.sipd",
    "User:bapenda.sipd ALLOW WRITE TOPIC PREFIXED bus.retry.bapenda.sipd",
    "User:bapenda.sipd ALLOW CREATE TOPIC PREFIXED bus.retry.bapenda.sipd",
    "User:bapenda.sipd ALLOW DESCRIBE TOPIC PREFIXED bus.retry.bapenda.sipd",
    "User:bapenda.sipd ALLOW READ GROUP PREFIXED bapenda.sipd",
    "User:bapenda.sipd ALLOW READ GROUP PREFIXED bus.dlq-replay.bapenda.sipd",
    "User:bapenda.sipd ALLOW READ GROUP PREFIXED bus.retry.bapenda.sipd",
    "User:bkd.simpeg ALLOW WRITE TOPIC LITERAL bkd.asn.mutasi.v1",
    "User:bkd.simpeg ALLOW DESCRIBE TOPIC LITERAL bkd.asn.mutasi.v1",
    "User:bkd.simpeg ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster",
    "User:bpbd.sipongi ALLOW WRITE TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:bpbd.sipongi ALLOW DESCRIBE TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:bpbd.sipongi ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster",
    "User:bpkad.sipkd ALLOW READ TOPIC LITERAL bapenda.pkb.dibayar.v1",
    "User:bpkad.sipkd ALLOW DESCRIBE TOPIC LITERAL bapenda.pkb.dibayar.v1",
    "User:bpkad.sipkd ALLOW WRITE TOPIC LITERAL bpkad.sp2d.terbit.v1",
    "User:bpkad.sipkd ALLOW DESCRIBE TOPIC LITERAL bpkad.sp2d.terbit.v1",
    "User:bpkad.sipkd ALLOW READ TOPIC LITERAL bus.grant.bpkad.sipkd.bkd.asn.mutasi.v1",
    "User:bpkad.sipkd ALLOW DESCRIBE TOPIC LITERAL bus.grant.bpkad.sipkd.bkd.asn.mutasi.v1",
    "User:bpkad.sipkd ALLOW READ TOPIC PREFIXED bus.dlq.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW WRITE TOPIC PREFIXED bus.dlq.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW CREATE TOPIC PREFIXED bus.dlq.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW DESCRIBE TOPIC PREFIXED bus.dlq.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW READ TOPIC PREFIXED bus.retry.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW WRITE TOPIC PREFIXED bus.retry.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW CREATE TOPIC PREFIXED bus.retry.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW DESCRIBE TOPIC PREFIXED bus.retry.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW READ GROUP PREFIXED bpkad.sipkd",
    "User:bpkad.sipkd ALLOW READ GROUP PREFIXED bus.dlq-replay.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW READ GROUP PREFIXED bus.retry.bpkad.sipkd",
    "User:bpkad.sipkd ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster",
    "User:dinkes.sikda ALLOW READ TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:dinkes.sikda ALLOW DESCRIBE TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:dinkes.sikda ALLOW READ TOPIC LITERAL "
    "bus.grant.dinkes.sikda.disdukcapil.penduduk.pindah.v1",
    "User:dinkes.sikda ALLOW DESCRIBE TOPIC LITERAL "
    "bus.grant.dinkes.sikda.disdukcapil.penduduk.pindah.v1",
    "User:dinkes.sikda ALLOW READ TOPIC PREFIXED bus.dlq.dinkes.sikda",
    "User:dinkes.sikda ALLOW WRITE TOPIC PREFIXED bus.dlq.dinkes.sikda",
    "User:dinkes.sikda ALLOW CREATE TOPIC PREFIXED bus.dlq.dinkes.sikda",
    "User:dinkes.sikda ALLOW DESCRIBE TOPIC PREFIXED bus.dlq.dinkes.sikda",
    "User:dinkes.sikda ALLOW READ TOPIC PREFIXED bus.retry.dinkes.sikda",
    "User:dinkes.sikda ALLOW WRITE TOPIC PREFIXED bus.retry.dinkes.sikda",
    "User:dinkes.sikda ALLOW CREATE TOPIC PREFIXED bus.retry.dinkes.sikda",
    "User:dinkes.sikda ALLOW DESCRIBE TOPIC PREFIXED bus.retry.dinkes.sikda",
    "User:dinkes.sikda ALLOW READ GROUP PREFIXED bus.dlq-replay.dinkes.sikda",
    "User:dinkes.sikda ALLOW READ GROUP PREFIXED bus.retry.dinkes.sikda",
    "User:dinkes.sikda ALLOW READ GROUP PREFIXED dinkes.sikda",
    "User:disdukcapil.siak ALLOW WRITE TOPIC LITERAL disdukcapil.penduduk.pindah.v1",
    "User:disdukcapil.siak ALLOW DESCRIBE TOPIC LITERAL disdukcapil.penduduk.pindah.v1",
    "User:disdukcapil.siak ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster",
    "User:diskominfotik.satudata ALLOW READ TOPIC LITERAL bpkad.sp2d.terbit.v1",
    "User:diskominfotik.satudata ALLOW DESCRIBE TOPIC LITERAL bpkad.sp2d.terbit.v1",
    "User:diskominfotik.satudata ALLOW READ TOPIC LITERAL "
    "bus.grant.diskominfotik.satudata.bapenda.pkb.dibayar.v1",
    "User:diskominfotik.satudata ALLOW DESCRIBE TOPIC LITERAL "
    "bus.grant.diskominfotik.satudata.bapenda.pkb.dibayar.v1",
    "User:diskominfotik.satudata ALLOW READ TOPIC LITERAL "
    "bus.grant.diskominfotik.satudata.disdukcapil.penduduk.pindah.v1",
    "User:diskominfotik.satudata ALLOW DESCRIBE TOPIC LITERAL "
    "bus.grant.diskominfotik.satudata.disdukcapil.penduduk.pindah.v1",
    "User:diskominfotik.satudata ALLOW READ TOPIC LITERAL "
    "bus.grant.diskominfotik.satudata.dpmptsp.izin.terbit.v1",
    "User:diskominfotik.satudata ALLOW DESCRIBE TOPIC LITERAL "
    "bus.grant.diskominfotik.satudata.dpmptsp.izin.terbit.v1",
    "User:diskominfotik.satudata ALLOW READ TOPIC PREFIXED bus.dlq.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW WRITE TOPIC PREFIXED bus.dlq.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW CREATE TOPIC PREFIXED bus.dlq.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW DESCRIBE TOPIC PREFIXED bus.dlq.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW READ TOPIC PREFIXED bus.retry.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW WRITE TOPIC PREFIXED bus.retry.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW CREATE TOPIC PREFIXED bus.retry.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW DESCRIBE TOPIC PREFIXED bus.retry.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW READ GROUP PREFIXED bus.dlq-replay.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW READ GROUP PREFIXED bus.retry.diskominfotik.satudata",
    "User:diskominfotik.satudata ALLOW READ GROUP PREFIXED diskominfotik.satudata",
    "User:dlhk.simlhk ALLOW READ TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:dlhk.simlhk ALLOW DESCRIBE TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:dlhk.simlhk ALLOW READ TOPIC LITERAL bus.grant.dlhk.simlhk.dpmptsp.izin.terbit.v1",
    "User:dlhk.simlhk ALLOW DESCRIBE TOPIC LITERAL bus.grant.dlhk.simlhk.dpmptsp.izin.terbit.v1",
    "User:dlhk.simlhk ALLOW READ TOPIC PREFIXED bus.dlq.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW WRITE TOPIC PREFIXED bus.dlq.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW CREATE TOPIC PREFIXED bus.dlq.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW DESCRIBE TOPIC PREFIXED bus.dlq.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW READ TOPIC PREFIXED bus.retry.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW WRITE TOPIC PREFIXED bus.retry.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW CREATE TOPIC PREFIXED bus.retry.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW DESCRIBE TOPIC PREFIXED bus.retry.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW READ GROUP PREFIXED bus.dlq-replay.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW READ GROUP PREFIXED bus.retry.dlhk.simlhk",
    "User:dlhk.simlhk ALLOW READ GROUP PREFIXED dlhk.simlhk",
    "User:dpmptsp.sicantik ALLOW WRITE TOPIC LITERAL dpmptsp.izin.terbit.v1",
    "User:dpmptsp.sicantik ALLOW DESCRIBE TOPIC LITERAL dpmptsp.izin.terbit.v1",
    "User:dpmptsp.sicantik ALLOW WRITE TOPIC LITERAL dpmptsp.nib.terbit.v1",
    "User:dpmptsp.sicantik ALLOW DESCRIBE TOPIC LITERAL dpmptsp.nib.terbit.v1",
    "User:dpmptsp.sicantik ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster",
    "User:opd-bus ALLOW READ TOPIC LITERAL bapenda.pkb.dibayar.v1",
    "User:opd-bus ALLOW WRITE TOPIC LITERAL bapenda.pkb.dibayar.v1",
    "User:opd-bus ALLOW DESCRIBE TOPIC LITERAL bapenda.pkb.dibayar.v1",
    "User:opd-bus ALLOW READ TOPIC LITERAL bkd.asn.mutasi.v1",
    "User:opd-bus ALLOW WRITE TOPIC LITERAL bkd.asn.mutasi.v1",
    "User:opd-bus ALLOW DESCRIBE TOPIC LITERAL bkd.asn.mutasi.v1",
    "User:opd-bus ALLOW WRITE TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:opd-bus ALLOW DESCRIBE TOPIC LITERAL bpbd.hotspot.terdeteksi.v1",
    "User:opd-bus ALLOW WRITE TOPIC LITERAL bpkad.sp2d.terbit.v1",
    "User:opd-bus ALLOW DESCRIBE TOPIC LITERAL bpkad.sp2d.terbit.v1",
    "User:opd-bus ALLOW READ TOPIC LITERAL disdukcapil.penduduk.pindah.v1",
    "User:opd-bus ALLOW WRITE TOPIC LITERAL disdukcapil.penduduk.pindah.v1",
    "User:opd-bus ALLOW DESCRIBE TOPIC LITERAL disdukcapil.penduduk.pindah.v1",
    "User:opd-bus ALLOW READ TOPIC LITERAL dpmptsp.izin.terbit.v1",
    "User:opd-bus ALLOW WRITE TOPIC LITERAL dpmptsp.izin.terbit.v1",
    "User:opd-bus ALLOW DESCRIBE TOPIC LITERAL dpmptsp.izin.terbit.v1",
    "User:opd-bus ALLOW READ TOPIC LITERAL dpmptsp.nib.terbit.v1",
    "User:opd-bus ALLOW WRITE TOPIC LITERAL dpmptsp.nib.terbit.v1",
    "User:opd-bus ALLOW DESCRIBE TOPIC LITERAL dpmptsp.nib.terbit.v1",
    "User:opd-bus ALLOW READ TOPIC PREFIXED bus.",
    "User:opd-bus ALLOW WRITE TOPIC PREFIXED bus.",
    "User:opd-bus ALLOW CREATE TOPIC PREFIXED bus.",
    "User:opd-bus ALLOW DESCRIBE TOPIC PREFIXED bus.",
    "User:opd-bus ALLOW DESCRIBE GROUP LITERAL *",
    "User:opd-bus ALLOW READ GROUP PREFIXED bus.",
    "User:opd-bus ALLOW IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster",
]


def test_shipped_catalog_implies_exactly_these_bindings(catalog: Catalog) -> None:
    assert [str(binding) for binding in acl_bindings(catalog)] == SHIPPED


def test_bindings_are_sorted_and_unique(catalog: Catalog) -> None:
    bindings = acl_bindings(catalog)

    assert bindings == sorted(set(bindings))


def test_without_the_bus_principal_only_systems_remain(catalog: Catalog) -> None:
    bindings = acl_bindings(catalog, bus_principal=None)

    assert [str(b) for b in bindings] == [s for s in SHIPPED if not s.startswith("User:opd-bus ")]


def test_consumer_without_agreement_gets_nothing_on_the_topic(catalog: Catalog) -> None:
    # dinkes.sikda has no agreement for licences: no binding names it on that topic.
    assert not [
        b
        for b in acl_bindings(catalog)
        if b.principal == "User:dinkes.sikda" and b.resource_name == "dpmptsp.izin.terbit.v1"
    ]


def test_json_form_uses_kafka_acls_vocabulary() -> None:
    binding = AclBinding(
        "User:bapenda.sipd",
        ResourceType.GROUP,
        PatternType.PREFIXED,
        "bapenda.sipd",
        Operation.READ,
    )

    assert binding.to_dict() == {
        "principal": "User:bapenda.sipd",
        "permission": "ALLOW",
        "operation": "READ",
        "resource_type": "GROUP",
        "pattern_type": "PREFIXED",
        "resource_name": "bapenda.sipd",
        "host": "*",
    }


def test_a_system_id_that_prefixes_another_is_refused(catalog: Catalog) -> None:
    systems = [*catalog.systems, System(id="bapenda.sip", opd="Bapenda", name="clash")]
    clashing = Catalog(
        systems=systems,
        event_types=[et.data for et in catalog.event_types],
        subscriptions=catalog.subscriptions,
    )

    with pytest.raises(
        CatalogError, match=re.escape("'bapenda.sip' is a prefix of 'bapenda.sipd'")
    ):
        acl_bindings(clashing)


def test_plan_against_the_cluster_adds_keeps_and_removes(catalog: Catalog) -> None:
    desired = acl_bindings(catalog)
    revoked = AclBinding(
        "User:dinkes.sikda",
        ResourceType.TOPIC,
        PatternType.LITERAL,
        "dpmptsp.izin.terbit.v1",
        Operation.READ,
    )
    on_cluster = ClusterAcls([*desired[1:], revoked], unmanaged=["User:x DENY ..."])

    plan = plan_acls(desired, on_cluster)

    assert plan.add == [desired[0]]
    assert plan.keep == desired[1:]
    assert plan.remove == [revoked]
    assert plan.unmanaged == ["User:x DENY ..."]
    assert not plan.empty
    assert plan_acls(desired, ClusterAcls(list(desired))).empty
