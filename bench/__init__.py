"""Benchmarks of the bus against raw aiokafka on the same broker, in the same run.

`python -m bench` (what `make bench` runs) starts its own embedded broker and PostgreSQL, runs
every benchmark, prints a table and writes `bench/results.json`. Throughput is reported as a
ratio to a raw client doing the same Kafka work, so the figures hold on a noisy machine.
"""
