"""`python -m bench` (`make bench`): run every benchmark and write `bench/results.json`.

    python -m bench                    # full run on Apache Kafka, a few minutes on 2 cores
    python -m bench --broker tansu     # the same on the embedded Tansu broker
    python -m bench --tiny --output /tmp/r.json   # every code path at a tiny size

Each run starts its own broker (`bus.broker.local.LocalBroker`: Apache Kafka by default) and
PostgreSQL for the outbox and the ingress, so nothing needs to be running first. Ratios compare
the SDK with raw aiokafka and librdkafka clients on the same broker in the same run, rounds
interleaved, medians reported.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import statistics
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from bus.broker.local import Preference
from bus.logging import configure_logging

DEFAULT_OUTPUT = Path(__file__).parent / "results.json"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: proves the paths run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results file")
    parser.add_argument(
        "--broker",
        choices=get_args(Preference),  # the brokers bus.broker.local knows
        default="kafka",
        help="Apache Kafka (default; `make kafka` installs it), Tansu, or Kafka where installed",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated subset of: "
        "breakdown,publish,consume,latency,ingress,outbox,webhook,lag,pdp",
    )
    return parser.parse_args()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    # Imported after logging is configured: bus modules bind their loggers at import.
    from bench import breakdown, consume, ingress, lag, latency, outbox, pdp, publish, webhook
    from bench.catalog import PublishEvent, payloads
    from bench.environment import Sizes, bench_settings, create_topics, local_broker, machine
    from bus.broker.local import choose_broker

    sizes = Sizes.tiny() if args.tiny else Sizes.full()
    only = {name.strip() for name in args.only.split(",") if name.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    # Mean JSON size of the events the benchmarks send (they differ by a few bytes).
    sample = [len(PublishEvent.model_validate(item).model_dump_json()) for item in payloads(1000)]
    results: dict[str, Any] = {
        "publish_ratio": None,
        "consume_ratio": None,
        "e2e_p50_ms": None,
        "e2e_p99_ms": None,
        "lag_scan_s": None,
        "lag_scan_curve": [],
        "ingress_eps": None,
        "outbox_eps": None,
        "webhook_eps": None,
        "webhook_pipelined_eps": None,
        "webhook_p99_ms": None,
        "pull_eps": None,
        "pdp_report_s": None,
        "raw_publish_eps": None,
        "raw_consume_eps": None,
        "librdkafka_publish_eps": None,
        "librdkafka_consume_eps": None,
        "sdk_publish_eps": None,
        "sdk_consume_eps": None,
        "machine": machine(),
        "broker": {},
        "event_bytes": round(sum(sample) / len(sample)),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "tiny" if args.tiny else "full",
        "sizes": {k: v for k, v in vars(sizes).items()},
        "details": {},
        "notes": {},
    }
    notes: dict[str, str] = results["notes"]
    details: dict[str, Any] = results["details"]

    async def step(name: str, run: Callable[[], Awaitable[None]]) -> None:
        if not wanted(name):
            notes[name] = "not run (--only)"
            return
        # Each benchmark starts from a collected heap, not the previous one's garbage.
        gc.collect()
        started = time.perf_counter()
        print(f"→ {name} …", flush=True)
        try:
            await run()
        except ImportError as exc:
            # Another part of the bus this benchmark measures has not landed yet.
            notes[name] = f"pending: {exc}"
        except Exception as exc:  # a failed benchmark is reported, the others still run
            traceback.print_exc()
            notes[name] = f"failed: {exc!r}"
        details.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 1)

    choice = choose_broker(args.broker)
    print(f"broker: {choice.kind} ({choice.reason})", flush=True)
    async with local_broker(choice) as broker:
        results["broker"] = {
            "kind": broker.kind,
            "version": broker.version,
            "nodes": broker.nodes,
            "description": broker.describe(),
            "host": "loopback",
            "client_settings": {
                k: v for k, v in broker.client_settings().items() if k != "bootstrap_servers"
            },
        }
        settings = bench_settings(broker)
        await create_topics(settings)

        async def run_publish() -> None:
            result = await publish.run(settings, sizes)
            results["publish_ratio"] = round(result.ratio, 3)
            results["raw_publish_eps"] = round(result.raw)
            results["librdkafka_publish_eps"] = round(result.median("librdkafka"))
            results["sdk_publish_eps"] = round(result.sdk)
            details["publish"] = _rounds(result, sizes.publish_events)

        async def run_consume() -> None:
            result = await consume.run(settings, sizes)
            results["consume_ratio"] = round(result.ratio, 3)
            results["raw_consume_eps"] = round(result.raw)
            results["librdkafka_consume_eps"] = round(result.median("librdkafka"))
            results["sdk_consume_eps"] = round(result.sdk)
            details["consume"] = _rounds(result, sizes.consume_events)
            details["consume_io_bound"] = await consume.io_bound(settings, sizes)

        async def run_latency() -> None:
            sdk: list[latency.Latency] = []
            raw: list[latency.Latency] = []
            # One short untimed run first: a broker that has just started (a JVM compiling its
            # hot paths) answered a --only latency run's first round seconds late.
            warm_up = dataclasses.replace(sizes, latency_seconds=min(1.0, sizes.latency_seconds))
            await latency.run(settings, warm_up)
            for index in range(sizes.rounds):
                # Each run's consumers start at the log end, so earlier runs' events are never
                # read. The order alternates: Tansu (memory storage) was seen answering more
                # slowly as its log grows, which would favour whichever client always ran first.
                pairs = [(sdk, latency.run), (raw, latency.run_raw)]
                for runs, measure in pairs if index % 2 == 0 else pairs[::-1]:
                    runs.append(await measure(settings, sizes))
            results["e2e_p50_ms"] = round(statistics.median(r.p50_ms for r in sdk), 2)
            results["e2e_p99_ms"] = round(statistics.median(r.p99_ms for r in sdk), 2)
            details["latency"] = {
                "statistic": "median over rounds of each round's percentile",
                "p50_ms_rounds": [round(r.p50_ms, 2) for r in sdk],
                "p99_ms_rounds": [round(r.p99_ms, 2) for r in sdk],
                "max_ms_rounds": [round(r.max_ms, 2) for r in sdk],
                "raw_p50_ms": round(statistics.median(r.p50_ms for r in raw), 2),
                "raw_p99_ms": round(statistics.median(r.p99_ms for r in raw), 2),
                "raw_p50_ms_rounds": [round(r.p50_ms, 2) for r in raw],
                "raw_p99_ms_rounds": [round(r.p99_ms, 2) for r in raw],
                "events_per_round": sdk[0].events,
                "rate_per_s": sdk[0].rate,
                "producer_linger_ms": settings.producer_linger_ms,
                "consumer_fetch_max_wait_ms": settings.consumer_fetch_max_wait_ms,
            }

        async def run_outbox() -> None:
            results["outbox_eps"] = round(await outbox.run(settings, sizes.outbox_events))
            details["outbox"] = {"events": sizes.outbox_events}

        async def run_ingress() -> None:
            result = await ingress.run(settings, sizes.ingress_events)
            results["ingress_eps"] = round(result.eps)
            details["ingress"] = result.details

        async def run_webhook() -> None:
            # Latency at a rate one endpoint keeps up with (the latency benchmark's 1,000/s
            # would measure the queue, not the delivery).
            result = await webhook.run(
                settings, sizes.webhook_events, sizes.latency_seconds, webhook.LATENCY_RATE
            )
            results["webhook_eps"] = round(result.push_eps)
            results["webhook_pipelined_eps"] = round(result.pipelined_eps)
            results["webhook_p99_ms"] = round(result.p99_ms, 2)
            results["pull_eps"] = round(result.pull_eps)
            details["webhook"] = {**result.details, "p50_ms": round(result.p50_ms, 2)}

        async def run_breakdown() -> None:
            details["per_event_us"] = await breakdown.run(
                min(sizes.publish_events, 10_000), repeat=sizes.rounds
            )

        await step("breakdown", run_breakdown)
        await step("publish", run_publish)
        await step("consume", run_consume)
        await step("latency", run_latency)
        await step("ingress", run_ingress)
        await step("outbox", run_outbox)
        await step("webhook", run_webhook)

    async def run_lag() -> None:
        # Each scenario on a broker of its own: the scan reads the whole cluster's metadata.
        main = await lag.scenario(
            settings,
            choice,
            groups=sizes.lag_groups,
            topics=sizes.lag_topics,
            partitions=sizes.lag_topic_partitions,
            rounds=sizes.rounds,
        )
        results["lag_scan_s"] = round(main.scan_s, 4)
        details["lag"] = lag.describe(main)
        for partitions in sizes.lag_partitions:
            point = await lag.scenario(
                settings,
                choice,
                groups=lag.CURVE_GROUPS,
                topics=max(1, partitions // lag.CURVE_TOPIC_PARTITIONS),
                partitions=min(partitions, lag.CURVE_TOPIC_PARTITIONS),
                rounds=sizes.rounds,
            )
            results["lag_scan_curve"].append(lag.describe(point))

    await step("lag", run_lag)

    async def run_pdp() -> None:
        found = await pdp.run(10_000 if args.tiny else 1_000_000, rounds=sizes.rounds)
        results["pdp_report_s"] = found.pop("pdp_report_s")
        details["pdp_report"] = found

    await step("pdp", run_pdp)
    return results


def _rounds(result: Any, events: int) -> dict[str, Any]:
    return {
        "events_per_round": events,
        "rounds": len(result.eps["sdk"]),
        "statistic": "median of rounds; aiokafka, librdkafka and SDK rounds interleaved",
        "raw_eps_rounds": [round(v) for v in result.eps["aiokafka"]],
        "librdkafka_eps_rounds": [round(v) for v in result.eps["librdkafka"]],
        "sdk_eps_rounds": [round(v) for v in result.eps["sdk"]],
        "sdk_to_librdkafka": round(result.sdk / result.median("librdkafka"), 3),
    }


def main() -> None:
    """Run the benchmarks, write the results file and print the table."""
    args = _arguments()
    configure_logging(level="WARNING")
    # With --broker tansu: Tansu replies to DescribeGroups for groups without members in a way
    # aiokafka cannot decode; the lag scan reports it as a warning and carries on. The stack
    # traces aiokafka prints for it would bury the table.
    logging.getLogger("aiokafka.conn").setLevel(logging.CRITICAL)
    # aiokafka warns about every retry of a produce to a partition whose leader Kafka is still
    # electing: about 20,000 lines while the (untimed) lag scenarios fill 240 new partitions.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    from bench.results import missing_keys, print_table, write

    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    results = asyncio.run(_run(args))
    results["machine"]["load_average_at_start"] = load_at_start
    results["details"]["total_seconds"] = round(time.perf_counter() - started, 1)
    # The machine may be shared: how busy it was says how far to trust absolute figures.
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    missing = missing_keys(results)
    if missing:
        raise SystemExit(f"results lack {missing}")
    write(results, args.output)
    print_table(results)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
